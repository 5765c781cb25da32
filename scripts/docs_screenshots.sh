#!/usr/bin/env bash
# Screenshots of the built documentation site in headless Chromium, to look at the pages as a
# reader does (issue 21). Needs Debian's chromium (apt-get install chromium) and a built site/
# (make docs). Usage: scripts/docs_screenshots.sh [OUT_DIR] [PAGE ...]
set -euo pipefail
out=${1:-/tmp/docs-shots}
shift || true
pages=("$@")
[ ${#pages[@]} -gt 0 ] || pages=("" getting-started model suite verdicts attribution history-bisect ci
  measurements examples development reference/cli reference/pytest-options reference/record-fields)
[ -d site ] || { echo "no site/: run make docs first" >&2; exit 2; }
mkdir -p "$out"
port=${DOCS_PORT:-8765}
python3 -m http.server "$port" --directory site >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
sleep 1
for page in "${pages[@]}"; do
  name=${page//\//_}
  name=${name:-index}
  profile=$(mktemp -d)
  # the network flags: this machine's closed network refuses Chromium's background connections
  timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --window-size=1280,2400 \
    --screenshot="$out/$name.png" "http://localhost:$port/$page/" 2>/dev/null
  rm -rf "$profile"
  echo "$out/$name.png"
done
