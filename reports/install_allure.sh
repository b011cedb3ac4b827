#!/bin/sh
# Install the Allure 3 report generator (npm package "allure", Node.js, no Java)
# into a project-local folder so that `tpmhil report --allure` can render
# allure-results into HTML. Idempotent: a second call with the tool present is quick.
#
# Usage: reports/install_allure.sh [PREFIX]   (default: <repo>/.tools/allure)
set -eu
ALLURE_VERSION="${ALLURE_VERSION:-3.18.0}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${1:-${TPMHIL_ALLURE_PREFIX:-$HERE/.tools/allure}}"
BIN="$PREFIX/node_modules/.bin/allure"

if ! command -v npm >/dev/null 2>&1; then
    echo "install_allure.sh: npm not found; install Debian's nodejs and npm packages" >&2
    exit 1
fi
if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "$ALLURE_VERSION"; then
    echo "allure $ALLURE_VERSION already installed in $PREFIX"
    exit 0
fi
mkdir -p "$PREFIX"
[ -f "$PREFIX/.gitignore" ] || echo "*" > "$PREFIX/.gitignore"
npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "allure@$ALLURE_VERSION"
"$BIN" --version
echo "allure installed: $BIN"
