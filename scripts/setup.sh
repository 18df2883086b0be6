#!/usr/bin/env bash
# Set up Unlearning Studio in ./.venv (idempotent: a second run only checks).
#   bash scripts/setup.sh          runtime dependencies
#   bash scripts/setup.sh --test   + pytest, playwright and Debian's chromium for the browser tests
#   bash scripts/setup.sh --train  + what the training scripts' renders need (scripts/train_emoji_*.py)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"

# One stamp per layer, keyed by the requirement files: a changed file reinstalls, an unchanged one only checks.
stamp_runtime=.venv/.installed-runtime
stamp_test=.venv/.installed-test
want_runtime="$(sha256sum requirements.txt)"
want_test="$(cat requirements.txt requirements-dev.txt | sha256sum)"
if [ "$(cat "$stamp_runtime" 2>/dev/null)" != "$want_runtime" ]; then
  # Everything but the DCGAN package, then that package without its unused heavy dependencies.
  $PIP install --disable-pip-version-check -q -r <(grep -v '^gan-face-generate' requirements.txt)
  $PIP install --disable-pip-version-check -q --no-deps "$(grep '^gan-face-generate' requirements.txt)"
  printf '%s' "$want_runtime" > "$stamp_runtime"
fi
# The project itself, editable: `methods` and `ui` import from anywhere (tests, benchmarks, scripts).
stamp_project=.venv/.installed-project
want_project="$(sha256sum pyproject.toml)"
if [ "$(cat "$stamp_project" 2>/dev/null)" != "$want_project" ]; then
  $PIP install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
  printf '%s' "$want_project" > "$stamp_project"
fi
if [ "${1:-}" = "--test" ] && [ "$(cat "$stamp_test" 2>/dev/null)" != "$want_test" ]; then
  $PIP install --disable-pip-version-check -q -r requirements-dev.txt
  printf '%s' "$want_test" > "$stamp_test"
fi
if [ "${1:-}" = "--train" ]; then
  $PIP install --disable-pip-version-check -q -r requirements-train.txt
fi
echo "setup: .venv ready"

apt_install() {
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}
if [ "${1:-}" = "--train" ] && [ ! -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then
  apt_install fonts-noto-color-emoji
fi

if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null; then
  apt_install chromium
fi
