#!/usr/bin/env bash
# System packages from Debian bookworm: R + testthat + jsonlite, bubblewrap, patchelf (for the
# Julia prefix), g++ and cmake (llama-cpp-python compiles llama.cpp). Idempotent and fast when
# everything is there.
set -euo pipefail
exec bash "$(dirname "$0")/apt_install.sh" system r-base-core r-cran-testthat r-cran-jsonlite bubblewrap patchelf ca-certificates g++ cmake
