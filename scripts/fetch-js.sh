#!/usr/bin/env bash
# Offline JavaScript assets for the static exports (make slides, make html): reveal.js, require.js, the
# Jupyter widgets HTML manager and MathJax 2, from the npm registry into .js/ (git-ignored). Idempotent:
# nothing is fetched when the pinned versions are already there. Called by scripts/setup.sh (test mode)
# and by the slides and html targets of the Makefile.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.js
PKGS=(reveal.js@4.0.2 requirejs@2.3.7 @jupyter-widgets/html-manager@1.0.15 mathjax@2.7.9)
stamp="$DEST/.stamp-$(printf '%s ' "${PKGS[@]}" | md5sum | cut -c1-12)"
if [ -f "$stamp" ] && [ -f "$DEST/node_modules/reveal.js/dist/reveal.js" ] \
   && [ -f "$DEST/node_modules/requirejs/require.js" ] \
   && [ -f "$DEST/node_modules/@jupyter-widgets/html-manager/dist/embed-amd.js" ] \
   && [ -f "$DEST/node_modules/mathjax/MathJax.js" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tdxlab setup: installing npm with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  else
    echo "tdxlab setup: npm is missing: run  sudo apt-get install -y npm" >&2
    exit 1
  fi
fi
echo "tdxlab setup: fetching ${PKGS[*]} into $DEST/ (npm)"
mkdir -p "$DEST"
[ -f "$DEST/package.json" ] || echo '{"name": "tdxlab-js-assets", "private": true}' > "$DEST/package.json"
npm install --prefix "$DEST" --no-audit --no-fund --loglevel=error "${PKGS[@]}" >/dev/null
rm -f "$DEST"/.stamp-*
touch "$stamp"
