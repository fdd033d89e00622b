#!/usr/bin/env bash
# Prepares checkov for tests/infra: checkov pins packaging and python-dateutil below the app's
# constraints.txt, so it lives in its own virtualenv, pinned by requirements-checkov.txt and
# rebuilt only when that file changes. tests/infra/test_checkov.py runs it over infra/.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV=.venv-checkov
STAMP="$VENV/.installed-stamp"
if [ ! -f "$STAMP" ] || [ requirements-checkov.txt -nt "$STAMP" ]; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    -r requirements-checkov.txt
  touch "$STAMP"
fi
"$VENV/bin/checkov" --version
