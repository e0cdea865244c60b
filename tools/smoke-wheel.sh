#!/usr/bin/env bash
# `make smoke-wheel` (CI runs it before the suite): build the sdist and the wheel, check their
# metadata (twine check), install the wheel with the `local` extra into a fresh virtualenv in a
# temporary directory outside the clone, and drive a sign-up through the installed
# `regflow serve` from there: no REGFLOW_WEB_DIR (the pages come from the package) and no
# REGFLOW_DATA_DIR (the per-user data directory, XDG_DATA_HOME pointed into the scratch
# directory). The artifacts are left in dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-.venv/bin/python}

rm -rf dist
BUILD_LOG=$(mktemp)
"$PYTHON" -m build --outdir dist . >"$BUILD_LOG" 2>&1 || { cat "$BUILD_LOG" >&2; exit 1; }
rm -f "$BUILD_LOG"
"$PYTHON" -m twine check --strict dist/*
WHEEL=$(ls dist/regflow-*-py3-none-any.whl)
VERSION=$("$PYTHON" -c 'import regflow; print(regflow.__version__)')
[ "$(basename "$WHEEL")" = "regflow-$VERSION-py3-none-any.whl" ] || {
  echo "smoke-wheel: $WHEEL is not version $VERSION" >&2; exit 1; }

SCRATCH=$(mktemp -d /tmp/regflow-smoke.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
python3 -m venv "$SCRATCH/venv"
"$SCRATCH/venv/bin/pip" install --quiet "$ROOT/$WHEEL[local]"
cd "$SCRATCH"  # outside the clone: nothing may come from it

got=$(venv/bin/regflow --version)
[ "$got" = "regflow $VERSION" ] || { echo "smoke-wheel: --version said '$got'" >&2; exit 1; }
venv/bin/regflow init box >/dev/null
[ "$(stat -c %a box/regflow.env)" = 600 ] || { echo "smoke-wheel: init: env not 0600" >&2; exit 1; }

PORT=$(venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -u REGFLOW_DATA_DIR -u REGFLOW_WEB_DIR -u DATABASE_URL -u SMTP_URL \
  XDG_DATA_HOME="$SCRATCH/xdg" PORT="$PORT" venv/bin/regflow serve >"$SCRATCH/serve.log" 2>&1 &
pid=$!
if ! venv/bin/python "$ROOT/tools/smoke_flow.py" --base "http://127.0.0.1:$PORT" \
    --mailbox "$SCRATCH/xdg/regflow/mailbox"; then
  cat "$SCRATCH/serve.log" >&2
  exit 1
fi
grep -q "regflow $VERSION is serving" "$SCRATCH/serve.log" || {
  echo "smoke-wheel: the banner does not name $VERSION" >&2; cat "$SCRATCH/serve.log" >&2; exit 1; }
listing=$(XDG_DATA_HOME="$SCRATCH/xdg" venv/bin/regflow list)
grep -q "CONFIRMED" <<<"$listing" || {
  echo "smoke-wheel: regflow list shows no confirmed registration" >&2; exit 1; }
echo "smoke-wheel: $WHEEL installed outside the clone serves the whole flow"
