#!/usr/bin/env bash
# What a Hugging Face Space does, in a clean Python 3.11 virtual environment: a plain `pip install -r requirements.txt`
# (no --no-deps step, no project install), then `python app.py` — timed, with what the DCGAN package's declared but
# unused dependencies add, compared with scripts/setup.sh's environment (.venv, where that package is --no-deps).
#   bash benchmarks/space_install.sh      # prints the figures; writes benchmarks/results/space_install.json
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d)
trap 'kill "${APP:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
python3.11 -m venv "$WORK/venv"
started=$(date +%s)
"$WORK/venv/bin/python" -m pip install --disable-pip-version-check -q -r requirements.txt > "$WORK/pip.log" 2>&1
install_s=$(( $(date +%s) - started ))
SITE="$WORK/venv/lib/python3.11/site-packages"
size_mb() { du -sm "$1" | cut -f1; }
# Distributions the plain install has and scripts/setup.sh's environment has not: what --no-deps saves.
"$WORK/venv/bin/python" -m pip list --format=freeze --disable-pip-version-check | cut -d= -f1 | sort > "$WORK/plain.txt"
.venv/bin/python -m pip list --format=freeze --disable-pip-version-check | cut -d= -f1 | sort > "$WORK/setup.txt"
extra=$(comm -23 "$WORK/plain.txt" "$WORK/setup.txt" | tr '\n' ' ')
extra_mb=$("$WORK/venv/bin/python" - "$extra" <<'EOF'
import sys
from importlib import metadata
from pathlib import Path
total = 0
for name in sys.argv[1].split():
    dist = metadata.distribution(name)
    for f in dist.files or []:
        p = Path(dist.locate_file(f))
        if p.is_file():
            total += p.stat().st_size
print(round(total / 2**20))
EOF
)
# The app as a Space starts it: from the repository folder, with the plain environment's Python.
PORT=$("$WORK/venv/bin/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
started=$(date +%s.%N)
GRADIO_SERVER_PORT=$PORT GRADIO_SERVER_NAME=127.0.0.1 HF_HUB_OFFLINE=1 "$WORK/venv/bin/python" app.py > "$WORK/app.log" 2>&1 &
APP=$!
for _ in $(seq 240); do
  curl -sf "http://127.0.0.1:$PORT/" > /dev/null && break
  sleep 0.5
done
serve_s=$(python3 -c "import time; print(round(time.time() - $started, 1))")
preview=$("$WORK/venv/bin/python" - "$PORT" <<'EOF'
import sys
from gradio_client import Client, handle_file
from skimage import data
from PIL import Image
import tempfile, os
path = os.path.join(tempfile.mkdtemp(), "astronaut.png")
Image.fromarray(data.astronaut()).save(path)
print(Client(f"http://127.0.0.1:{sys.argv[1]}/", verbose=False).predict(handle_file(path), api_name="/identity_preview")[1])
EOF
)
cat > benchmarks/results/space_install.json <<EOF
{
  "python": "$("$WORK/venv/bin/python" --version)",
  "pip_install_s": $install_s,
  "venv_mb": $(size_mb "$WORK/venv"),
  "setup_sh_venv_mb": $(size_mb .venv),
  "extra_distributions": "$extra",
  "extra_distributions_mb": $extra_mb,
  "app_start_to_http_200_s": $serve_s,
  "identity_preview": "$preview"
}
EOF
cat benchmarks/results/space_install.json
