#!/usr/bin/env bash
# Regenerates test/vectors/onnx from the repository root. Only needed after changing generate.py:
# the .onnx files and cases.json are committed, so CI and `npm test` need no Python. Installs
# Debian's python3-onnx and python3-sklearn when they are missing (as root), then runs the
# generator with Debian's Python, which is the one those packages install into.
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY=/usr/bin/python3
if ! "$PY" -c 'import onnx, sklearn, numpy' 2>/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "regenerate.sh: install python3-onnx and python3-sklearn (Debian) first, or run as root" >&2
    exit 1
  fi
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3-onnx python3-sklearn
fi
"$PY" test/vectors/onnx/generate.py
git status --short test/vectors/onnx
