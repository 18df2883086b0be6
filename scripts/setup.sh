#!/usr/bin/env bash
# Set up Unlearning Studio in ./.venv (idempotent: a second run only checks).
#   bash scripts/setup.sh          runtime dependencies
#   bash scripts/setup.sh --test   + pytest, playwright and Debian's chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"

want="$(cat requirements.txt requirements-dev.txt) $*"
stamp=.venv/.unlearning-studio-installed
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(printf '%s' "$want" | sha256sum)" ]; then
  echo "setup: .venv is up to date"
else
  # Everything but the DCGAN package, then that package without its unused heavy dependencies.
  $PIP install --disable-pip-version-check -q -r <(grep -v '^gan-face-generate' requirements.txt)
  $PIP install --disable-pip-version-check -q --no-deps "$(grep '^gan-face-generate' requirements.txt)"
  if [ "${1:-}" = "--test" ]; then
    $PIP install --disable-pip-version-check -q -r requirements-dev.txt
  fi
  printf '%s' "$want" | sha256sum > "$stamp"
fi

if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
