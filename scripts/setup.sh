#!/usr/bin/env bash
# Idempotent set-up for tdxlab: a virtualenv in .venv with tdxlab and its dependencies, and Graphviz's `dot`.
#   scripts/setup.sh lab    what JupyterLab needs (tdxlab[lab])
#   scripts/setup.sh test   the same, plus what the tests need (tdxlab[test], Chromium for the browser tests)
#   scripts/setup.sh present  what make slides / html / voila need (tdxlab[present], the offline JS assets)
# As root, missing Debian packages are installed with apt-get; otherwise the exact command is printed
# and the script stops. It writes nothing outside the repository but what apt-get and npm install; pip's
# own output goes to $VENV/pip.log and is shown only when pip fails.
set -euo pipefail
mode=${1:-lab}
cd "$(dirname "$0")/.."
VENV=${TDXLAB_VENV:-.venv}
PY=${PYTHON:-python3}

say() { printf 'tdxlab setup: %s\n' "$*"; }
apt_updated=0

apt_install() {  # apt_install PKG... : install as root, or print the command and stop
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing $* with apt-get"
    if [ "$apt_updated" = 0 ]; then  # once per run: no marker file anywhere
      DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    say "missing system package(s): $*"
    say "run:  sudo apt-get install -y $*   (conda users: conda env create -f environment.yml)"
    exit 1
  fi
}

# 1. Python 3.11 or newer.
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  say "tdxlab needs Python 3.11 or newer; '$PY' is $("$PY" --version 2>&1 || echo missing)"
  exit 1
fi

# 2. The virtualenv.
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c 'import ensurepip' >/dev/null 2>&1; then
    ver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install "python${ver}-venv" || apt_install python3-venv
  fi
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi

# 3. tdxlab and its Python dependencies, again only when pyproject.toml changed.
stamp="$VENV/.tdxlab-$mode-stamp"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  extra="[$mode]"
  say "installing tdxlab$extra and its dependencies into $VENV (a minute or two the first time)"
  log="$VENV/pip.log"
  if ! { "$VENV/bin/python" -m pip install -q --upgrade pip &&
         "$VENV/bin/python" -m pip install -q -e ".$extra"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    say "pip failed: the whole log is in $log"
    exit 1
  fi
  touch "$stamp"
fi

# 4. Graphviz's dot.
command -v dot >/dev/null 2>&1 || apt_install graphviz

# 5. JupyterLab settings: no news toast, nothing fetched.
over="$VENV/share/jupyter/lab/settings/overrides.json"
if [ ! -f "$over" ]; then
  mkdir -p "$(dirname "$over")"
  cat > "$over" <<'JSON'
{
  "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}
}
JSON
fi

# 6. For the tests: Debian's Chromium (driven by playwright, no browser download).
if [ "$mode" = test ]; then
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || apt_install chromium
  [ -x scripts/fetch-js.sh ] && bash scripts/fetch-js.sh
fi
# 7. For make slides / html / voila: the offline JavaScript assets (npm).
if [ "$mode" = present ]; then
  bash scripts/fetch-js.sh
fi
say "ready ($mode)"
