#!/usr/bin/env bash
# fp.sh RT OUT : fanout 10k x 10 rounds against a fresh gateway, perf record on it
RT=$1; OUT=$2; P=18972
D=$(mktemp -d /tmp/fp.XXXX)
echo "{ \"gateway\": { \"mode\": \"local\" }, \"logging\": { \"file\": \"$D/openclaw.log\" } }" >"$D/openclaw.json"
EXTRA=""; [ $RT = io_uring ] && EXTRA=--io-uring
OPENCLAW_STATE_DIR="$D/state" OPENCLAW_CONFIG_PATH="$D/openclaw.json" OPENCLAW_GATEWAY_TOKEN=tok \
  ${BIN:-/work/main/target/release/openclaw} gateway run --port $P $EXTRA >"$D/stdout.log" 2>&1 &
G=$!
for _ in $(seq 1 400); do curl -fs "http://127.0.0.1:$P/readyz" >/dev/null 2>&1 && break; sleep 0.01; done
ulimit -n 20000
( /work/main/target/release/openclaw-loadtest fanout --port $P --token tok --clients 10000 --rounds 10 --concurrency 16 --timeout-ms 60000 --max-secs 240 --pid $G > $D/fan.txt 2>&1 ) &
L=$!
# wait for the connect phase to finish: the first round line
for _ in $(seq 1 600); do grep -q "subscribers connected" $D/fan.txt 2>/dev/null && break; sleep 0.1; done
if [ -n "$PERF" ]; then perf record ${PERF} -p $G -o $OUT -- sleep ${SECS:-2} >/dev/null 2>&1; fi
wait $L
grep -i "cpu\|last-sub" $D/fan.txt
kill $G; wait $G 2>/dev/null
