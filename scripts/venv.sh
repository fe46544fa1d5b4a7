# Sourced by scripts/serve, scripts/test and scripts/fuzz: make (or reuse) the virtualenv and
# install Parley. The venv lives outside the repo when running as root, because the test
# PostgreSQL server runs as its own user and must be able to read the binaries inside the venv
# (never under /root).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PARLEY_VENV:-}" ]; then
  if [ "$(id -u)" = "0" ]; then PARLEY_VENV=/opt/parley/venv; else PARLEY_VENV="$repo/.venv"; fi
fi
python="${PARLEY_PYTHON:-python3}"
if [ ! -x "$PARLEY_VENV/bin/python" ]; then
  echo "First start: creating a virtualenv in $PARLEY_VENV..." >&2
  mkdir -p "$(dirname "$PARLEY_VENV")"
  "$python" -m venv "$PARLEY_VENV"
fi

# pip install "$@" with its whole output in $log; on the terminal a dot per package it takes
_parley_pip() {
  local log="$1" line
  shift
  : >"$log"
  "$PARLEY_VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off "$@" \
    2>&1 | while IFS= read -r line; do
    printf '%s\n' "$line" >>"$log"
    case "$line" in
      Collecting* | Processing*) printf '.' >&2 ;;
      "Installing collected packages:"*) printf '\n  installing them...' >&2 ;;
    esac
  done
  return "${PIPESTATUS[0]}"
}

# Install Parley (editable, from this checkout) with the extras in $1 ("" or "[test]"), unless
# this venv already has this checkout installed with this pyproject.toml.
parley_install() {
  local extras="$1" stamp want log started="$SECONDS" name
  name="${extras//[^a-z]/}"
  stamp="$PARLEY_VENV/.parley-installed-${name:-base}"
  want="$repo $("$PARLEY_VENV/bin/python" -c 'import hashlib, sys
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$repo/pyproject.toml")"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && "$PARLEY_VENV/bin/python" -c "import parley" 2>/dev/null; then
    return 0
  fi
  if "$PARLEY_VENV/bin/python" -c "import parley" 2>/dev/null; then
    echo "Updating Parley${extras:+ $extras} in $PARLEY_VENV (this checkout or its" \
      "pyproject.toml changed; usually under a minute)..." >&2
  else
    echo "First start: installing Parley${extras:+ $extras} and its dependencies into" \
      "$PARLEY_VENV (usually 1-3 minutes)..." >&2
  fi
  log="$PARLEY_VENV/parley-install.log"
  printf '  collecting packages' >&2
  if ! _parley_pip "$log" --editable "$repo$extras"; then
    echo >&2
    grep -v "is ignored: it is neither a file nor a directory" "$log" | tail -n 20 >&2
    echo "parley: installing failed; pip's whole output is in $log" >&2
    exit 1
  fi
  "$PARLEY_VENV/bin/python" -c "import parley" # fail loudly if the install did not work
  printf '%s\n' "$want" >"$stamp"
  echo " done in $((SECONDS - started))s." >&2
}
