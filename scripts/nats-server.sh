#!/bin/sh
# nats-server.sh starts the NATS server the event log tests (eventlog/nats)
# run against: nats-server v2.15.2 with JetStream fsyncing every message
# (sync_interval: always), client port 14222, monitoring port 18222 — not
# 4222, where Debian's nats-server 2.9.10 (which predates sync_interval) may
# already listen. It installs the server with `go install` when the binary
# is missing or another version, and starts it only when nothing answers on
# the monitoring port, so CI may call it on every run. It prints the two
# URLs the tests read, and nothing else on stdout:
#
#   eval "$(scripts/nats-server.sh)"
#   export KITH_TEST_NATS KITH_TEST_NATS_MONITOR
#   go test ./eventlog/nats
#
# Environment: KITH_NATS_PORT, KITH_NATS_HTTP_PORT, KITH_NATS_DIR (config,
# store and log; default .cache/nats under the repository root).
set -eu

VERSION=v2.15.2
port=${KITH_NATS_PORT:-14222}
http_port=${KITH_NATS_HTTP_PORT:-18222}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${KITH_NATS_DIR:-"$root/.cache/nats"}
mkdir -p "$dir/store"
dir=$(cd "$dir" && pwd)
bin="$(go env GOPATH)/bin/nats-server"
monitor="http://127.0.0.1:$http_port"

log() { echo "nats-server.sh: $*" >&2; }

if [ ! -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -q "$VERSION\$"; then
  log "installing nats-server $VERSION into $bin"
  go install "github.com/nats-io/nats-server/v2@$VERSION" >&2
fi

ready() { curl -sf "$monitor/healthz?js-enabled-only=true" >/dev/null 2>&1; }

if ready; then
  log "a server already answers on $monitor"
else
  cat >"$dir/nats-server.conf" <<CONF
# written by scripts/nats-server.sh
listen: 127.0.0.1:$port
http: 127.0.0.1:$http_port
server_name: kith-test
jetstream {
  store_dir: "$dir/store"
  sync_interval: always
}
CONF
  log "starting $bin -c $dir/nats-server.conf (log: $dir/nats-server.log)"
  nohup "$bin" -c "$dir/nats-server.conf" >>"$dir/nats-server.log" 2>&1 &
  echo $! >"$dir/nats-server.pid"
  i=0
  until ready; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then
      log "the server did not become ready within 10 s; see $dir/nats-server.log"
      tail -20 "$dir/nats-server.log" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
fi

# Whatever answers must be the server the tests need.
varz=$(curl -sf "$monitor/varz")
case "$varz" in
*"\"version\": \"${VERSION#v}\""* | *"\"version\":\"${VERSION#v}\""*) ;;
*) log "the server on $monitor is not nats-server $VERSION; stop it or set KITH_NATS_HTTP_PORT/KITH_NATS_PORT"; exit 1 ;;
esac
case "$varz" in
*'"sync_always": true'* | *'"sync_always":true'*) ;;
*) log "the server on $monitor does not run with sync_interval: always"; exit 1 ;;
esac

echo "KITH_TEST_NATS=nats://127.0.0.1:$port"
echo "KITH_TEST_NATS_MONITOR=$monitor"
