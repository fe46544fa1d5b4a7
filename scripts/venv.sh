# Sourced by scripts/serve and scripts/test: make (or reuse) the virtualenv and install Parley.
# The venv lives outside the repo when running as root, because the test PostgreSQL server runs
# as its own user and must be able to read the binaries inside the venv (never under /root).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PARLEY_VENV:-}" ]; then
  if [ "$(id -u)" = "0" ]; then PARLEY_VENV=/opt/parley/venv; else PARLEY_VENV="$repo/.venv"; fi
fi
python="${PARLEY_PYTHON:-python3}"
if [ ! -x "$PARLEY_VENV/bin/python" ]; then
  mkdir -p "$(dirname "$PARLEY_VENV")"
  "$python" -m venv "$PARLEY_VENV"
fi
parley_install() {  # $1: pip extras spec, e.g. "" or "[test]"
  "$PARLEY_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --editable "$repo$1" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
  "$PARLEY_VENV/bin/python" -c "import parley" # fail loudly if the install did not work
}
