#!/bin/sh
# Uploads 200 MB of package-sized files (40 x 5 MB random) to a local s3rver
# (test/support/s3rver-atomic.cjs, the server the S3 tests use) through lxl's
# S3Storage, then the same files with `rclone copy`, and prints the throughput
# of each and lxl/rclone. Target: ratio >= 0.9. Both use 4 parallel uploads.
#   sh bench/publish-s3/run.sh            (FILES=40 SIZE_MB=5 TRANSFERS=4 to change)
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
FILES=${FILES:-40}
SIZE_MB=${SIZE_MB:-5}
TRANSFERS=${TRANSFERS:-4}
command -v rclone >/dev/null || { echo "bench/publish-s3: rclone is missing (apt-get install rclone)" >&2; exit 1; }

work=$(mktemp -d /tmp/lxl-bench-s3.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p "$work/files" "$work/s3"
i=1
while [ "$i" -le "$FILES" ]; do
  head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom > "$work/files/linux-image-6.1.192-xen-legacy_6.1.192+$i~legacy1_amd64.deb"
  i=$((i + 1))
done
total=$(du -cb "$work/files"/* | tail -1 | cut -f1)

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
node "$here/test/support/s3rver-atomic.cjs" -d "$work/s3" -a 127.0.0.1 -p "$port" -s \
  --configure-bucket lxl-bench --configure-bucket rclone-bench &
server_pid=$!
endpoint="http://127.0.0.1:$port"
n=0
until curl -s -o /dev/null "$endpoint"; do
  n=$((n + 1)); [ "$n" -lt 100 ] || { echo "s3rver did not start" >&2; exit 1; }; sleep 0.1
done

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
# A CA bundle from the environment breaks rclone's SDK on a plain-http endpoint.
unset AWS_CA_BUNDLE

now() { date +%s.%N; }

t0=$(now)
lxl_json=$(cd "$here" && node --no-warnings --import tsx bench/publish-s3/upload.ts "$work/files" "$endpoint" lxl-bench "$TRANSFERS")
t1=$(now)

export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other RCLONE_CONFIG_BENCH_ENDPOINT="$endpoint" \
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=S3RVER RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=S3RVER RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true
t2=$(now)
rclone copy --transfers "$TRANSFERS" --s3-upload-concurrency 1 "$work/files" bench:rclone-bench/pool/main/l/linux -q
t3=$(now)

# Both buckets must hold the same object count and bytes, or the numbers mean nothing.
count() { rclone size --json "bench:$1" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(j.count+" "+j.bytes)})'; }
lxl_size=$(count lxl-bench)
rclone_size=$(count rclone-bench)
[ "$lxl_size" = "$rclone_size" ] || { echo "bucket contents differ: lxl $lxl_size, rclone $rclone_size" >&2; exit 1; }

node -e '
const [total, lxlJson, t0, t1, t2, t3] = process.argv.slice(1);
const lxl = JSON.parse(lxlJson);
const mb = Number(total) / 1e6;
const lxlUpload = mb / lxl.seconds;
const lxlWall = mb / (Number(t1) - Number(t0));
const rclone = mb / (Number(t3) - Number(t2));
console.log(`files: ${lxl.files}, ${mb.toFixed(1)} MB`);
console.log(`lxl S3Storage upload: ${lxlUpload.toFixed(1)} MB/s (${lxl.seconds.toFixed(2)} s; with node+tsx start-up ${lxlWall.toFixed(1)} MB/s)`);
console.log(`rclone copy:          ${rclone.toFixed(1)} MB/s (${(Number(t3) - Number(t2)).toFixed(2)} s, process start-up included)`);
console.log(`ratio lxl/rclone:     ${(lxlUpload / rclone).toFixed(2)}x upload phase, ${(lxlWall / rclone).toFixed(2)}x wall (target >= 0.9x)`);
' "$total" "$lxl_json" "$t0" "$t1" "$t2" "$t3"
