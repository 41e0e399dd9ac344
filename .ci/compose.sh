#!/usr/bin/env bash
# CI step: really run the docker compose multi-node demo, offline.
#
# No registry is reachable from CI, so nothing is pulled: a Debian 12 minbase with
# python3, redis-server, zookeeper and a JRE is debootstrapped on the host and
# `docker import`ed as the base image; the rhworker image is built on it from a
# wheelhouse made on the host. Every service runs with `network_mode: host` on
# 127.0.0.1 and non-default ports (docker-compose.ci.yml). One worker container is
# killed mid-run; the demo's verdict must still hold.
#
# If dockerd cannot start on this machine: one SKIPPED line, exit 0. Once it runs,
# any failure exits non-zero. Caches: the base image (kept in docker) and the
# debootstrap tarball in /var/cache/rhworker-ci/.
#
#   bash .ci/compose.sh            (as root; from .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

CACHE_DIR=${RHWORKER_CI_CACHE:-/var/cache/rhworker-ci}
# Bump when the package list or the rootfs recipe changes: names the cache entries.
BASE_PACKAGES="python3 python3-venv python3-pip redis-server zookeeper default-jre-headless netcat-openbsd"
BASE_VERSION=1
BASE_TAG="rhworker-base:bookworm-$(echo "$BASE_VERSION $BASE_PACKAGES" | sha1sum | cut -c1-10)"
BASE_TARBALL="$CACHE_DIR/${BASE_TAG#rhworker-base:}.tar"
PROJECT=rhworker-ci
COMPOSE=(docker-compose -p "$PROJECT" -f docker-compose.yml -f docker-compose.ci.yml)
DOCKERD_LOG=${RHWORKER_CI_DOCKERD_LOG:-/var/log/rhworker-ci-dockerd.log}
DEMO_LOG=$(mktemp /tmp/rhworker-ci-demo.XXXXXX)

t0=$(date +%s)
phase_start=$t0
timings=()
phase() {  # phase NAME: close the previous phase, open NAME
    local now
    now=$(date +%s)
    if [ -n "${phase_name:-}" ]; then
        timings+=("$phase_name=$((now - phase_start))s")
    fi
    phase_name=$1
    phase_start=$now
    echo "--- compose demo: $1 ($((now - t0))s)"
}
skip() {
    echo "SKIPPED: docker compose demo: $*"
    exit 0
}

dockerd_pid=""
stack_up=""
rootfs=""  # the debootstrap directory while it exists
cleanup() {
    local rc=$?
    set +e
    if [ -n "$stack_up" ]; then
        if [ "$rc" -ne 0 ]; then
            echo "--- compose demo failed (rc=$rc): service logs (tail)"
            "${COMPOSE[@]}" logs --no-color --tail=60 2>&1 | tail -n 300
        fi
        "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1
    fi
    rm -rf wheelhouse
    rm -f "$DEMO_LOG"
    if [ -n "$rootfs" ]; then
        mountpoint -q "$rootfs/proc" && umount "$rootfs/proc"
        mountpoint -q "$rootfs/proc" || rm -rf "$rootfs"
    fi
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid" 2>/dev/null
        for _ in $(seq 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
    fi
    echo "compose demo: wall time $(($(date +%s) - t0))s (${timings[*]:-})"
    exit "$rc"
}
trap cleanup EXIT

# --- 1. tools ------------------------------------------------------------------------
phase "install docker.io docker-compose debootstrap"
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v docker-init >/dev/null || need+=(tini)  # compose `init: true`
if [ ${#need[@]} -gt 0 ]; then
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${need[@]}"; } \
        >/tmp/rhworker-ci-apt.log 2>&1; then
        tail -n 5 /tmp/rhworker-ci-apt.log
        skip "could not install ${need[*]} (see /tmp/rhworker-ci-apt.log)"
    fi
fi

# --- 2. dockerd ----------------------------------------------------------------------
phase "start dockerd"
if ! docker info >/dev/null 2>&1; then
    # No bridge, no iptables, no forwarding: every container uses the host network.
    dockerd --bridge=none --iptables=false --ip-masq=false --ip-forward=false \
        >"$DOCKERD_LOG" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        reason=$(grep -iE 'level=(fatal|error)' "$DOCKERD_LOG" | tail -n 1 | cut -c1-200)
        kill "$dockerd_pid" 2>/dev/null || true
        wait "$dockerd_pid" 2>/dev/null || true
        dockerd_pid=""
        skip "dockerd did not start: ${reason:-no reason logged} (log: $DOCKERD_LOG)"
    fi
fi
echo "dockerd: $(docker version --format '{{.Server.Version}}')"

# --- 3. base image -------------------------------------------------------------------
debian_mirror() {  # the Debian mirror this host's apt uses for bookworm
    python3 - <<'EOF'
import glob, re
found = None
files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*"))
for path in files:
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for para in re.split(r"\n\s*\n", text):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", para, re.M))
            if "bookworm" in fields.get("Suites", "").split() and "deb" in fields.get("Types", ""):
                found = found or fields.get("URIs", "").split()[0]
    else:
        for line in text.splitlines():
            m = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", line + " ")
            if m:
                found = found or m.group(1)
print(found or "http://deb.debian.org/debian")
EOF
}

build_base_image() {  # debootstrap, install, then import and cache the tarball at once
    local mirror
    mirror=$(debian_mirror)
    rootfs=$(mktemp -d /tmp/rhworker-ci-rootfs.XXXXXX)
    local t=$SECONDS
    echo "debootstrap bookworm minbase from $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/tmp/rhworker-ci-debootstrap.log 2>&1 ||
        { tail -n 20 /tmp/rhworker-ci-debootstrap.log; return 1; }
    echo "  debootstrap: $((SECONDS - t))s"
    t=$SECONDS
    # Install the servers with their services kept down (no daemon may start here).
    printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
    chmod 755 "$rootfs/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    mount -t proc proc "$rootfs/proc"
    local ok=0
    chroot "$rootfs" sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $BASE_PACKAGES && apt-get clean" \
        >>/tmp/rhworker-ci-debootstrap.log 2>&1 || ok=$?
    umount "$rootfs/proc"
    if [ "$ok" -ne 0 ]; then
        tail -n 20 /tmp/rhworker-ci-debootstrap.log
        return 1
    fi
    echo "  apt-get install $BASE_PACKAGES: $((SECONDS - t))s"
    t=$SECONDS
    rm -f "$rootfs/usr/sbin/policy-rc.d"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/tmp/*
    echo "nameserver 127.0.0.1" >"$rootfs/etc/resolv.conf"
    mkdir -p "$CACHE_DIR"
    tar -C "$rootfs" --numeric-owner -c . | tee "$BASE_TARBALL.part" | import_base -
    mv "$BASE_TARBALL.part" "$BASE_TARBALL"
    rm -rf "$rootfs"
    rootfs=""
    echo "  tarball and import: $((SECONDS - t))s"
}

import_base() {  # import_base TARBALL|-
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        "$1" "$BASE_TAG" >/dev/null
}

phase "base image"
if docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
    echo "reusing $BASE_TAG"
else
    if [ -s "$BASE_TARBALL" ]; then
        t=$SECONDS
        import_base "$BASE_TARBALL"
        echo "imported $BASE_TAG from $BASE_TARBALL ($((SECONDS - t))s)"
    else
        build_base_image
        echo "built $BASE_TAG"
    fi
fi
export RHWORKER_BASE_IMAGE=$BASE_TAG

# --- 4. wheelhouse and app image -------------------------------------------------------
phase "wheelhouse"
mkdir -p "$CACHE_DIR/wheelhouse"
rm -f "$CACHE_DIR"/wheelhouse/rhworker-*.whl
python3 -m pip wheel -q --disable-pip-version-check --find-links "$CACHE_DIR/wheelhouse" \
    -w "$CACHE_DIR/wheelhouse" .
# Markers were resolved for this host's Python; add what the image's Python needs too.
image_python=$(docker run --rm --network none --entrypoint python3 "$BASE_TAG" \
    -c 'import platform; print(platform.python_version())')
echo "host Python $(python3 -c 'import platform; print(platform.python_version())'), image Python $image_python"
for _ in 1 2 3 4 5; do
    mapfile -t missing < <(python3 .ci/wheelhouse_missing.py "$CACHE_DIR/wheelhouse" "$image_python")
    [ ${#missing[@]} -gt 0 ] || break
    echo "adding for Python $image_python: ${missing[*]}"
    python3 -m pip wheel -q --disable-pip-version-check --find-links "$CACHE_DIR/wheelhouse" \
        -w "$CACHE_DIR/wheelhouse" "${missing[@]}"
done
rm -rf wheelhouse
cp -r "$CACHE_DIR/wheelhouse" wheelhouse

phase "image build"
stack_up=1  # from here on, tear the project down on exit
"${COMPOSE[@]}" build

# --- 5. run --------------------------------------------------------------------------
phase "stack up"
"${COMPOSE[@]}" up -d redis zookeeper nova-sim worker api
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local deadline=$(($(date +%s) + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "timed out waiting for $what"
            return 1
        fi
        sleep 1
    done
}
workers_started() {
    local n
    n=$("${COMPOSE[@]}" logs --no-color worker 2>/dev/null | grep -c 'worker .* started' || true)
    [ "$n" -ge 3 ]
}
wait_for 120 "3 workers" workers_started
# The demo reports its host failures through the REST API (rhworker api).
wait_for 60 "the REST API" python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:18686/', timeout=2)"
"${COMPOSE[@]}" ps

phase "demo"
"${COMPOSE[@]}" run --rm -T --no-deps demo >"$DEMO_LOG" 2>&1 &
demo_pid=$!
# Kill one worker while notifications are being recovered: the owner of a running
# notification (worker ids are matched through each container's "worker ID started").
worker_containers() {
    docker ps -q -f "label=com.docker.compose.project=$PROJECT" \
        -f label=com.docker.compose.service=worker
}
running_owners() {
    docker exec "$(worker_containers | head -n 1)" \
        rhworker notification list --status running --json 2>/dev/null |
        python3 -c 'import json, sys; print("\n".join(n.get("lease_owner") or "?" for n in json.load(sys.stdin)))'
}
pick_victim() {
    local owners c id
    owners=$(running_owners) || return 1
    [ -n "$owners" ] || return 1
    for c in $(worker_containers); do
        id=$(docker logs "$c" 2>&1 | sed -n 's/.*worker \([^ ]*\) started.*/\1/p' | head -n 1)
        if [ -n "$id" ] && grep -qxF -- "$id" <<<"$owners"; then
            echo "$c"
            return 0
        fi
    done
    worker_containers | head -n 1
}
victim=""
deadline=$(($(date +%s) + 90))
while [ -z "$victim" ] && [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$demo_pid" 2>/dev/null; do
    victim=$(pick_victim) || victim=""
    [ -n "$victim" ] || sleep 0.5
done
victim_id=""
if [ -n "$victim" ]; then
    victim_id=$(docker logs "$victim" 2>&1 | sed -n 's/.*worker \([^ ]*\) started.*/\1/p' | head -n 1)
    docker kill "$victim" >/dev/null
    echo "killed worker container $(docker inspect -f '{{.Name}}' "$victim") ($victim_id) mid-run"
fi
demo_rc=0
wait "$demo_pid" || demo_rc=$?
cat "$DEMO_LOG"
if [ -z "$victim" ]; then
    echo "FAILED: no notification was seen running; no worker was killed"
    exit 1
fi
if [ "$demo_rc" -ne 0 ]; then
    echo "FAILED: the demo exited with $demo_rc"
    exit 1
fi
if ! grep -q '^VERDICT: PASS' "$DEMO_LOG"; then
    echo "FAILED: the demo printed no 'VERDICT: PASS' line"
    exit 1
fi
echo "compose demo: $(grep '^VERDICT: ' "$DEMO_LOG" | tail -n 1)"
takeover=$("${COMPOSE[@]}" logs --no-color worker 2>/dev/null | grep -F "taken over from $victim_id" || true)
if [ -n "$victim_id" ] && [ -n "$takeover" ]; then
    echo "compose demo: work of the killed worker taken over:"
    echo "$takeover"
else
    echo "compose demo: note: no take-over logged (the killed worker's notification had ended)"
fi

phase "teardown"
"${COMPOSE[@]}" down -v --remove-orphans >/dev/null
stack_up=""
# Earlier builds of the app image, untagged by this one.
docker image prune -f --filter label=org.opencontainers.image.title=rhworker >/dev/null
phase "done"
