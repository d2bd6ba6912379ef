#!/usr/bin/env bash
# LaTeX for `make paper` (Debian's texlive; a few hundred MB, so not part of `make setup`).
set -euo pipefail
exec bash "$(dirname "$0")/apt_install.sh" latex latexmk texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended
