#!/bin/sh
# Builds {{wasm}} from app.js: jco's QuickJS backend, at the version package-lock.json pins.
#   --backend qjs                 QuickJS: a component of about 1.6 MB that starts in a millisecond
#   --backend-qjs-stub-wasi       no WASI imports (kith gives plugins no clock, files or network)
#   --backend-qjs-disable-async   no component-model async ABI (kith's engine runs without it)
# JCO=/path/to/jco uses a jco already installed instead of `npm ci` here.
set -eu
cd "$(dirname "$0")"
jco=${JCO:-node_modules/.bin/jco}
if [ -z "${JCO:-}" ] && [ ! -x "$jco" ]; then
  npm ci --no-audit --no-fund
fi
# Absolute paths: the QuickJS backend resolves a relative entry file against its folder.
"$jco" componentize "$PWD/app.js" --wit "$PWD/wit" --world-name {{world}} \
  --backend qjs --backend-qjs-stub-wasi --backend-qjs-disable-async \
  -o "$PWD/{{wasm}}"
