#!/bin/sh
# Builds {{wasm}} from app.py with componentize-py, at the version requirements.txt pins
# (installed with its hashes into .venv on the first build).
#   -d wit -w {{world}}   the contract kith speaks and the world of this plugin's kind
#   --stub-wasi           no WASI imports (kith gives plugins no clock, files or network)
# COMPONENTIZE_PY=/path/to/componentize-py uses one already installed instead of .venv here.
set -eu
cd "$(dirname "$0")"
componentize_py=${COMPONENTIZE_PY:-.venv/bin/componentize-py}
if [ -z "${COMPONENTIZE_PY:-}" ] && [ ! -x "$componentize_py" ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
fi
"$componentize_py" -d wit -w {{world}} componentize --stub-wasi -p . app -o {{wasm}}
