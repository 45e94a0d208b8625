#!/usr/bin/env bash
# A throwaway single-node Ceph cluster with an S3 gateway (radosgw) for integration tests (see
# shared TESTING.md). radosgw is a production S3 implementation that verifies SigV4 signatures.
#
#   scripts/services/radosgw.sh start DIR   mon + osd (memstore: nothing on disk but logs) + radosgw, all under DIR
#   scripts/services/radosgw.sh stop DIR    kill the three daemons (the caller removes DIR)
#
# `start` prints three lines (and writes them to DIR/env):
#   INFLOW_TEST_S3_URL=http://127.0.0.1:PORT
#   INFLOW_TEST_S3_ACCESS_KEY=…
#   INFLOW_TEST_S3_SECRET_KEY=…
# The mon and rgw ports are the first free ones from a random base in 33000–34999 and
# 37480–39479, so runs on one machine do not collide; INFLOW_TEST_S3_MON_PORT / INFLOW_TEST_S3_PORT pin them.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}
[[ $# -eq 2 ]] || usage
cmd=$1
dir=$2

BINARIES=(ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool curl)

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The first port from $1 that nothing listens on and that is not $2.
free_port() {
  local port=$1
  local attempt
  for ((attempt = 0; attempt < 200; attempt++)); do
    if [[ "$port" != "${2:-}" ]] && ! port_in_use "$port"; then
      echo "$port"
      return 0
    fi
    port=$((port + 1))
  done
  echo "no free port from $1" >&2
  return 1
}

fail() {
  echo "$1" >&2
  for log in mon osd rgw; do
    if [[ -s "$dir/log/$log.log" ]]; then
      echo "--- last lines of $dir/log/$log.log" >&2
      tail -n 15 "$dir/log/$log.log" >&2 || true
    fi
  done
  stop
  exit 1
}

# Waits up to $2 seconds for `$1` (a command) to succeed.
wait_for() {
  local deadline=$((SECONDS + $2))
  until eval "$1" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.3
  done
}

start() {
  local missing=()
  for bin in "${BINARIES[@]}"; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
  done
  if ((${#missing[@]} > 0)); then
    echo "Binaries the test S3 server needs are missing: ${missing[*]}." >&2
    echo "Install them with:  apt-get update && apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd curl" >&2
    echo "or set INFLOW_TEST_S3_URL, INFLOW_TEST_S3_ACCESS_KEY and INFLOW_TEST_S3_SECRET_KEY to use an S3 server you run." >&2
    exit 1
  fi
  if [[ -e "$dir/ceph.conf" ]]; then
    echo "$dir already holds a cluster: stop it and use a new directory" >&2
    exit 1
  fi
  mkdir -p "$dir"/{run,log,mon,osd}
  dir=$(cd "$dir" && pwd)

  local mon_port rgw_port
  # From a random base: two runs starting at the same moment (vitest's int and conformance
  # projects) would otherwise both find the same port free.
  mon_port=${INFLOW_TEST_S3_MON_PORT:-$(free_port $((33000 + RANDOM % 2000)))}
  rgw_port=${INFLOW_TEST_S3_PORT:-$(free_port $((37480 + RANDOM % 2000)) "$mon_port")}
  local fsid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  local conf="$dir/ceph.conf"
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
osd objectstore = memstore
memstore device bytes = 4294967296
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$type.log
pid file = $dir/run/\$name.pid
keyring = $dir/keyring
mon data = $dir/mon/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
osd max object size = 1073741824

[client.rgw.a]
ms mon client mode = crc
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw dns name = 127.0.0.1
log file = $dir/log/rgw.log
EOF
  local c=(--conf "$conf")

  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$dir/monmap" >/dev/null

  ceph-mon "${c[@]}" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" >/dev/null 2>&1 ||
    fail "ceph-mon --mkfs failed"
  ceph-mon "${c[@]}" -i a 2>>"$dir/log/mon.err" || fail "ceph-mon did not start"
  wait_for "timeout 5 ceph ${c[*]} mon stat" 30 || fail "the monitor did not answer on port $mon_port"
  # The monitor on that port must be ours, not another run's that won a race for it.
  [[ "$(timeout 10 ceph "${c[@]}" fsid 2>/dev/null)" == "$fsid" ]] ||
    fail "port $mon_port is held by another cluster's monitor: start again"

  local osd_uuid osd_id
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  osd_id=$(timeout 20 ceph "${c[@]}" osd new "$osd_uuid") || fail "ceph osd new failed"
  mkdir -p "$dir/osd/ceph-$osd_id"
  ceph-osd "${c[@]}" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>&1 || fail "ceph-osd --mkfs failed"
  ceph-osd "${c[@]}" -i "$osd_id" 2>>"$dir/log/osd.err" || fail "ceph-osd did not start"
  echo "$osd_id" >"$dir/osd-id"

  radosgw "${c[@]}" -n client.rgw.a 2>>"$dir/log/rgw.err" || fail "radosgw did not start"
  local url="http://127.0.0.1:$rgw_port"
  wait_for "curl -sf -o /dev/null $url/" 60 || fail "radosgw did not answer on $url"

  local access secret
  access=$(od -An -N10 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
  secret=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
  timeout 60 radosgw-admin "${c[@]}" user create --uid=test --display-name=test \
    --access-key="$access" --secret="$secret" >/dev/null 2>"$dir/log/user-create.err" ||
    fail "radosgw-admin user create failed: $(cat "$dir/log/user-create.err")"

  # The first requests are slow (pools are created lazily): one bucket and one put, signed.
  warm_up "$url" "$access" "$secret" || fail "the warm-up bucket and put failed"

  {
    echo "INFLOW_TEST_S3_URL=$url"
    echo "INFLOW_TEST_S3_ACCESS_KEY=$access"
    echo "INFLOW_TEST_S3_SECRET_KEY=$secret"
  } | (umask 077 && tee "$dir/env")
}

# curl signs SigV4 itself (--aws-sigv4), so the warm-up needs nothing but curl.
warm_up() {
  local url=$1 access=$2 secret=$3
  local sig=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
  local attempt
  for ((attempt = 0; attempt < 30; attempt++)); do
    if curl -sf -o /dev/null "${sig[@]}" -X PUT "$url/inflow-warm-up" &&
      curl -sf -o /dev/null "${sig[@]}" -X PUT --data-binary 'warm' "$url/inflow-warm-up/warm.txt" &&
      curl -sf -o /dev/null "${sig[@]}" -X DELETE "$url/inflow-warm-up/warm.txt" &&
      curl -sf -o /dev/null "${sig[@]}" -X DELETE "$url/inflow-warm-up"; then
      return 0
    fi
    sleep 1
  done
  return 1
}

stop() {
  local pids=()
  local file pid
  for file in "$dir"/run/*.pid; do
    [[ -e "$file" ]] || continue
    pid=$(cat "$file" 2>/dev/null || true)
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  # Wait for them to go, then make sure.
  local deadline=$((SECONDS + 10))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
  done
}

case "$cmd" in
start) start ;;
stop) stop ;;
*) usage ;;
esac
