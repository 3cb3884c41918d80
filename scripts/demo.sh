#!/usr/bin/env bash
# make demo: the whole system on this machine, end to end.
#   1. a local MinIO (scripts/minio.sh) on a free loopback port
#   2. vidup serve on SQLite with a freshly generated dev token, announcing every
#      registration by a signed webhook to
#   3. the reference encoder (cmd/encoder), the pipeline: HLS with ffmpeg, then the status
#   4. a sample video (ffmpeg's test pattern), uploaded with vidup upload --wait and its bar:
#      registered, processing, ready
#   5. the video, read back from the API, and its rendition
# Each step's "==>" line shows the command it runs. Everything lives in .demo/
# and is stopped and removed at the end, unless DEMO_KEEP=1: then MinIO,
# vidup serve and the encoder keep running, and the demo ends with the
# commands to keep using them (or `source .demo/env`) and to stop them:
#
#   DEMO_KEEP=1 make demo         keep the stack running after the demo
#   scripts/demo.sh stop          stop a kept stack and remove .demo/
#
# The first run installs what it needs: ffmpeg and curl with apt-get (1-3
# minutes) and MinIO, compiled from source (15-25 minutes on 2 cores, 3-5 on
# 8), each printing a line every 20 s. Later runs take about a minute.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
vidup="$root/bin/vidup"
demo="$root/.demo"

if [ -t 2 ]; then say() { printf "\n\033[1m==> %s\033[0m\n" "$*" >&2; }; else say() { printf "\n==> %s\n" "$*" >&2; }; fi

stop_stack() {
  local p
  for p in serve encoder; do
    if [ -f "$demo/$p.pid" ]; then
      kill "$(cat "$demo/$p.pid")" 2>/dev/null || true
      rm -f "$demo/$p.pid"
    fi
  done
  scripts/minio.sh stop "$demo/minio" || true
}

if [ "${1:-}" = stop ]; then
  stop_stack
  rm -rf "$demo"
  echo "demo.sh: the demo's MinIO, vidup serve and encoder are stopped, .demo/ is removed" >&2
  exit 0
fi

[ -x "$vidup" ] || go build -o "$vidup" ./cmd/vidup
scripts/deps.sh ffmpeg curl

stop_stack
rm -rf "$demo"
mkdir -p "$demo"
kept=""
cleanup() {
  if [ -n "$kept" ]; then return; fi
  stop_stack
  rm -rf "$demo"
}
trap cleanup EXIT

say "scripts/minio.sh start .demo/minio 0    # MinIO, the S3 server, on a free loopback port"
mkdir -p "$demo/minio"
eval "$(scripts/minio.sh start "$demo/minio" 0)"

random() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
free_port() { for p in $(seq "$1" "$2" | shuf); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }; done; }
token="dev-$(random)"
pipeline_token="pipe-$(random)"
export VIDUP_WEBHOOK_SECRET="whsec_$(head -c 24 /dev/urandom | base64)"
printf '%s encoder pipeline\n' "$pipeline_token" > "$demo/tokens"
api_port=$(free_port 18080 18999)
encoder_port=$(free_port 19000 19999)
api="http://127.0.0.1:$api_port"
say "AWS_ACCESS_KEY_ID=$VIDUP_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$VIDUP_TEST_S3_SECRET_KEY AWS_REGION=us-east-1 \\
    VIDUP_SERVER_TOKENS=$token VIDUP_WEBHOOK_SECRET=… \\
    bin/vidup serve --listen 127.0.0.1:$api_port --s3-endpoint $VIDUP_TEST_S3_ENDPOINT --path-style \\
    --bucket $VIDUP_TEST_S3_BUCKET --db .demo/vidup.db --tokens-file .demo/tokens \\
    --webhook-url http://127.0.0.1:$encoder_port/ 2> .demo/serve.log &    # the company API, on SQLite"
AWS_ACCESS_KEY_ID=$VIDUP_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$VIDUP_TEST_S3_SECRET_KEY \
  AWS_REGION=us-east-1 VIDUP_SERVER_TOKENS=$token \
  nohup "$vidup" serve --listen "127.0.0.1:$api_port" --s3-endpoint "$VIDUP_TEST_S3_ENDPOINT" \
    --bucket "$VIDUP_TEST_S3_BUCKET" --path-style --db "$demo/vidup.db" --tokens-file "$demo/tokens" \
    --webhook-url "http://127.0.0.1:$encoder_port/" > /dev/null 2> "$demo/serve.log" &
echo $! > "$demo/serve.pid"
for _ in $(seq 1 100); do
  curl -sf "$api/healthz" >/dev/null 2>&1 && break
  kill -0 "$(cat "$demo/serve.pid")" 2>/dev/null || { cat "$demo/serve.log" >&2; exit 1; }
  sleep 0.1
done
echo "API on $api (log in .demo/serve.log)" >&2

say "AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… VIDUP_API_URL=$api VIDUP_PIPELINE_TOKEN=$pipeline_token VIDUP_WEBHOOK_SECRET=… \\
    .demo/encoder --listen 127.0.0.1:$encoder_port --s3-endpoint $VIDUP_TEST_S3_ENDPOINT --path-style \\
    --max-height 360 2> .demo/encoder.log &    # the reference encoder (cmd/encoder), with a token of the pipeline role"
go build -o "$demo/encoder" ./cmd/encoder
AWS_ACCESS_KEY_ID=$VIDUP_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$VIDUP_TEST_S3_SECRET_KEY \
  VIDUP_API_URL=$api VIDUP_PIPELINE_TOKEN=$pipeline_token \
  nohup "$demo/encoder" --listen "127.0.0.1:$encoder_port" --s3-endpoint "$VIDUP_TEST_S3_ENDPOINT" --path-style \
    --max-height 360 > /dev/null 2> "$demo/encoder.log" &
echo $! > "$demo/encoder.pid"
for _ in $(seq 1 100); do
  grep -q "encoder listening" "$demo/encoder.log" 2>/dev/null && break
  kill -0 "$(cat "$demo/encoder.pid")" 2>/dev/null || { cat "$demo/encoder.log" >&2; exit 1; }
  sleep 0.1
done
echo "encoder on 127.0.0.1:$encoder_port (log in .demo/encoder.log)" >&2

say "ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=25 -f lavfi -i sine=frequency=440 -t 30 \\
    -c:v mpeg2video -b:v 40M -c:a mp2 .demo/sample.ts    # 30 s of test pattern, MPEG-TS"
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=25 \
  -f lavfi -i sine=frequency=440 -t 30 -c:v mpeg2video -b:v 40M -c:a mp2 "$demo/sample.ts"
ls -lh "$demo/sample.ts" | awk '{print $5, $9}' >&2

# Loopback is faster than any real link: --bwlimit slows the upload down to
# a rate a person can watch.
say "VIDUP_API_URL=$api VIDUP_API_TOKEN=$token VIDUP_STATE_DIR=.demo/state \\
    bin/vidup upload --metadata camera=demo-cam --part-size 8MiB --concurrency 4 --bwlimit 20MiB/s --wait .demo/sample.ts
    # registered, then the encoder's processing and ready"
VIDUP_API_URL=$api VIDUP_API_TOKEN=$token VIDUP_STATE_DIR="$demo/state" \
  "$vidup" upload --metadata camera=demo-cam --part-size 8MiB --concurrency 4 --bwlimit 20MiB/s --wait "$demo/sample.ts"

say "grep -E 'video (queued|ready)|video failed' .demo/encoder.log    # what the encoder did"
grep -E 'video (queued|ready)|video failed' "$demo/encoder.log" >&2 || true

say "curl -H 'Authorization: Bearer $token' $api/api/v1/videos/<id>    # the video as the API returns it: status ready, its webhooks delivered"
body=$(curl -sf -H "Authorization: Bearer $token" "$api/api/v1/videos")
if command -v python3 >/dev/null 2>&1; then
  id=$(printf '%s' "$body" | python3 -c 'import json, sys; print(json.load(sys.stdin)["videos"][0]["id"])')
  curl -sf -H "Authorization: Bearer $token" "$api/api/v1/videos/$id" | python3 -m json.tool
else
  printf '%s\n' "$body"
fi
say "done: the file went from this machine straight to S3, the API registered it, and the encoder made it ready"

if [ "${DEMO_KEEP:-}" = 1 ]; then
  kept=1
  cat > "$demo/env" <<ENV
export VIDUP_API_URL=$api
export VIDUP_API_TOKEN=$token
export VIDUP_STATE_DIR=$demo/state
export PATH="$root/bin:\$PATH"
ENV
  cat >&2 <<KEEP

DEMO_KEEP=1: MinIO ($VIDUP_TEST_S3_ENDPOINT), vidup serve ($api) and the encoder keep running.
To keep using them, in this shell or another:

  export VIDUP_API_URL=$api VIDUP_API_TOKEN=$token VIDUP_STATE_DIR=$demo/state
  bin/vidup upload --wait your-video.mp4
  bin/vidup upload -r some/folder --dry-run
  curl -H "Authorization: Bearer $token" $api/api/v1/videos

(or: source .demo/env). The logs are .demo/serve.log and .demo/encoder.log. To stop them and remove .demo/:

  scripts/demo.sh stop
KEEP
else
  echo "(the demo's MinIO, vidup serve and encoder are stopped now; DEMO_KEEP=1 make demo keeps them running)" >&2
fi
