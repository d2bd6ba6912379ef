#!/usr/bin/env bash
# Install Debian packages that are missing; does nothing (and needs no network) when all are there.
#   bash scripts/setup/apt_install.sh LABEL PKG...
set -euo pipefail
label="$1"; shift
missing=""
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "$label: all packages present ($*)"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "$label: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
