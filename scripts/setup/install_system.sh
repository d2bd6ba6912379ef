#!/usr/bin/env bash
# System packages from Debian bookworm: R + testthat + jsonlite, bubblewrap, patchelf (for the
# Julia prefix). Skips apt entirely when everything is already there (idempotent, fast).
set -euo pipefail
PKGS="r-base-core r-cran-testthat r-cran-jsonlite bubblewrap patchelf ca-certificates"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "system: all packages present ($PKGS)"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "system: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
