#!/usr/bin/env bash
# `make test-container` (CI runs it after the suite): the container image of the Containerfile,
# built from the wheel on a Debian base made here (no registry is reachable: mmdebstrap makes a
# minimal bookworm with Python, podman imports it), its dependencies from a wheelhouse built
# outside the image (installed with --no-index), then run as users run it (non-root, the data
# directory a volume, configured by environment variables) and a sign-up driven through it:
# the health check, the pages, register, the mail in the volume's mailbox, confirm. Needs root
# and Debian's podman, buildah, mmdebstrap and runc (.ci/run installs them). Bounded: every
# step has a time limit, the whole run takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-.venv/bin/python}
IMAGE=localhost/regflow-test:latest
BASE=localhost/regflow-base:bookworm
WORK=build/container
mkdir -p "$WORK"

for tool in podman mmdebstrap runc; do
  command -v "$tool" >/dev/null || {
    echo "test-container: $tool is missing: apt-get install -y podman buildah mmdebstrap runc" >&2
    exit 2; }
done
# On this kind of VM crun fails on the cgroup layout and the default rlimits are refused:
# runc, explicit ulimits, cgroupfs, a file event log.
export CONTAINERS_CONF=$ROOT/$WORK/containers.conf
cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF

step() { echo "--- test-container: $*"; }

if ! podman image exists "$BASE"; then
  step "the base image: mmdebstrap bookworm (python3, python3-venv)"
  timeout 300 mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$WORK/rootfs.tar"
  timeout 120 podman import --quiet "$WORK/rootfs.tar" "$BASE" >/dev/null
  rm -f "$WORK/rootfs.tar"
fi

step "the wheel and its wheelhouse (outside the image)"
rm -rf dist
timeout 300 "$PYTHON" -m build --wheel --outdir dist . >/dev/null 2>&1
WHEEL=$(ls dist/regflow-*-py3-none-any.whl)
VERSION=$("$PYTHON" -c 'import regflow; print(regflow.__version__)')
# the base's interpreter decides which wheels fit: bookworm's Python is this machine's
timeout 300 "$PYTHON" -m pip wheel --quiet --disable-pip-version-check \
  --wheel-dir dist/wheelhouse "$WHEEL[local,postgres]" 2>&1 | grep -v "^WARNING: Location" || true
ls dist/wheelhouse/regflow-*.whl >/dev/null

step "the image, from the Containerfile"
timeout 300 podman build --quiet --format docker --build-arg "BASE=$BASE" \
  --build-arg "PIP_ARGS=--no-index --find-links /tmp/dist/wheelhouse" \
  -t "$IMAGE" -f Containerfile . >/dev/null
rm -rf dist/wheelhouse

SCRATCH=$(mktemp -d /tmp/regflow-container.XXXXXX)
NAME=regflow-test-$$
cleanup() {
  podman rm --force --time 5 "$NAME" >/dev/null 2>&1 || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
mkdir "$SCRATCH/data"
chown 10001:10001 "$SCRATCH/data"  # the image's regflow user owns its volume
PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

step "run it: non-root, the data directory a volume, port $PORT"
# podman without systemd cannot schedule the health check's timer (it says so on stderr, kept
# in podman.log): `podman healthcheck run` below runs the image's check itself
podman run -d --name "$NAME" -p "127.0.0.1:$PORT:8000" \
  -e API_BASE_URL="http://127.0.0.1:$PORT" -e SITE_NAME="Container Club" \
  -v "$SCRATCH/data:/var/lib/regflow" "$IMAGE" >/dev/null 2>>"$SCRATCH/podman.log"
fail() {
  echo "test-container: FAILED: $*" >&2
  podman logs "$NAME" >&2 || true
  cat "$SCRATCH/podman.log" >&2 || true
  exit 1
}
[ "$(podman exec "$NAME" id -u)" = 10001 ] || fail "the server does not run as the regflow user"
[ "$(podman run --rm "$IMAGE" --version 2>>"$SCRATCH/podman.log")" = "regflow $VERSION" ] \
  || fail "--version"

timeout 120 "$PYTHON" tools/smoke_flow.py --base "http://127.0.0.1:$PORT" \
  --mailbox "$SCRATCH/data/mailbox" --email container@example.com --wait 60 \
  || fail "the sign-up flow"
timeout 60 podman healthcheck run "$NAME" >/dev/null 2>>"$SCRATCH/podman.log" \
  || fail "the health check"
logs=$(podman logs "$NAME" 2>&1)
grep -q "regflow $VERSION is serving" <<<"$logs" || fail "the banner"
[ -f "$SCRATCH/data/regflow.db" ] || fail "no database in the volume"
[ "$(stat -c %a "$SCRATCH/data/secret.key")" = 600 ] || fail "the key in the volume is not 0600"

step "stop (SIGTERM), and the state outlives the container"
timeout 30 podman stop --time 15 "$NAME" >/dev/null 2>>"$SCRATCH/podman.log"
logs=$(podman logs "$NAME" 2>&1)
grep -q "regflow: stopped" <<<"$logs" || fail "no clean stop on SIGTERM"
podman rm "$NAME" >/dev/null 2>>"$SCRATCH/podman.log"
listing=$(timeout 60 podman run --rm -v "$SCRATCH/data:/var/lib/regflow" "$IMAGE" list \
  2>>"$SCRATCH/podman.log")
grep -q CONFIRMED <<<"$listing" || fail "the confirmed registration is not in the volume"
echo "test-container: ok ($IMAGE, regflow $VERSION, base $BASE)"
