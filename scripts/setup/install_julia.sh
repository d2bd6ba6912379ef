#!/usr/bin/env bash
# Install Julia 1.5.3 from Debian bullseye into a private prefix, without touching /etc/apt.
#
# Bookworm has no julia package. We fetch bullseye's .debs with a throw-away apt
# configuration (its own sources.list, state and cache dirs under a temp dir), unpack them with
# `dpkg -x` into $PREFIX, and make the prefix self-contained:
#   * bullseye's libunwind8 1.3.2 lives in the prefix: with bookworm's 1.6.2 every failing
#     @test segfaults (exit 139);
#   * RUNPATH of every library is set to $ORIGIN (patchelf) so the prefix's libraries win;
#   * the private lib dir's links to libraries Debian keeps in the system (gmp, mpfr, curl,
#     ssh2, pcre2) are re-pointed at bookworm's copies.
# Idempotent: a prefix that already passes the self-check is left alone.
set -euo pipefail
PREFIX="${1:-${JULIA_PREFIX:-/opt/julia-1.5.3}}"
JL="$PREFIX/usr/bin/julia"
# a failing @test must be recorded, not segfault (the libunwind pitfall)
SELFTEST='using Test; ts = Test.DefaultTestSet("t"); Test.push_testset(ts); @test 1 == 2; Test.pop_testset(); print(stderr, VERSION, " ", ts.n_passed, "/", length(ts.results))'

if [ -x "$JL" ] && [ "$("$JL" --startup-file=no -e "$SELFTEST" 2>&1 >/dev/null)" = "1.5.3 0/1" ]; then
  echo "julia: $PREFIX already installed ($("$JL" --version))"
  exit 0
fi

PKGS="julia julia-common libjulia1 libllvm9 libgit2-1.1 libmbedtls12 libmbedcrypto3 libmbedx509-0
      libdsfmt-19937-1 libopenlibm3 libutf8proc2 libunwind8 libffi7 libz3-4 libhttp-parser2.9 libpcre3"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/state/lists/partial" "$WORK/cache/archives/partial" "$WORK/debs"
touch "$WORK/state/status"
echo "deb [trusted=yes] http://deb.debian.org/debian bullseye main" > "$WORK/sources.list"
APT_OPTS=(-o "Dir::Etc::SourceList=$WORK/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State=$WORK/state" -o "Dir::State::status=$WORK/state/status"
          -o "Dir::Cache=$WORK/cache" -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
echo "julia: fetching bullseye packages (private apt configuration in $WORK)"
apt-get "${APT_OPTS[@]}" -qq update
(cd "$WORK/debs" && apt-get "${APT_OPTS[@]}" -qq download $PKGS)

STAGE="$PREFIX.partial"
rm -rf "$STAGE"
mkdir -p "$STAGE"
for deb in "$WORK"/debs/*.deb; do dpkg -x "$deb" "$STAGE"; done
L="$STAGE/usr/lib/x86_64-linux-gnu"
# bullseye ships libpcre3 under /lib: move it next to the others
if [ -d "$STAGE/lib/x86_64-linux-gnu" ]; then
  mv "$STAGE"/lib/x86_64-linux-gnu/* "$L"/ && rm -rf "$STAGE/lib"
fi
for f in "$L"/*.so*; do
  [ -L "$f" ] && continue
  patchelf --set-rpath '$ORIGIN:$ORIGIN/julia' "$f"
done
for f in "$L"/julia/*.so*; do
  [ -L "$f" ] && continue
  case "$f" in */sys.so) continue ;; esac
  patchelf --set-rpath '$ORIGIN:$ORIGIN/..' "$f"
done
# dangling links in the private dir -> bookworm's system copies
find "$L" -xtype l | while read -r link; do
  base="$(basename "$(readlink "$link")")"
  for d in /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu; do
    if [ -e "$d/$base" ]; then ln -sf "$d/$base" "$link"; break; fi
  done
done
if [ -n "$(find "$L" -xtype l)" ]; then
  echo "julia: unresolved library links:" >&2; find "$L" -xtype l >&2; exit 1
fi
out="$("$STAGE/usr/bin/julia" --startup-file=no -e "$SELFTEST" 2>&1 >/dev/null)" || { echo "julia: self-test failed" >&2; exit 1; }
[ "$out" = "1.5.3 0/1" ] || { echo "julia: self-test printed '$out'" >&2; exit 1; }
rm -rf "$PREFIX"
mv "$STAGE" "$PREFIX"
echo "julia: installed $("$PREFIX/usr/bin/julia" --version) into $PREFIX"
