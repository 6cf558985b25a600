#!/usr/bin/env bash
# Repodata for 2,000 small rpms: lxl (CLI, and in-process as the server runs
# it) vs `createrepo_c --workers 2`, full and after adding one rpm (`--update`).
# The rpms are generated once with lxl's writer into $LXL_TEST_CACHE/bench.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
cache="${LXL_TEST_CACHE:-/var/cache/lxl-test}/bench"
count="${COUNT:-2000}"
tsx="$top/node_modules/.bin/tsx"
set_dir="$cache/yum-index-$count"
if [ ! -f "$set_dir/.done" ]; then
  rm -rf "$set_dir"
  "$tsx" "$here/gen.ts" "$set_dir/rpms" "$count" 0
  "$tsx" "$here/gen.ts" "$set_dir/extra" 1 "$count"
  touch "$set_dir/.done"
fi
extra="$(ls "$set_dir"/extra/*.rpm)"
key="$set_dir/key/bench.secret.asc"
if [ ! -f "$key" ]; then
  node "$top/bin/lxl.mjs" keys generate --name bench --email bench@lxl.test --out "$set_dir/key" >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
secs() { /usr/bin/time -f '%e' -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; cat "$work/t"; }

# createrepo_c, as in the issue's reference (sqlite databases included, its default).
mkdir -p "$work/cr/Packages"
cp -l "$set_dir"/rpms/*.rpm "$work/cr/Packages/"
cr_full=$(secs createrepo_c --workers 2 "$work/cr")
cp -l "$extra" "$work/cr/Packages/"
cr_add=$(secs createrepo_c --workers 2 --update "$work/cr")

# lxl CLI: add every rpm and publish (one process), then add one more and publish.
lxl_full=$(secs node "$top/bin/lxl.mjs" yum add "$work/lxl" "$set_dir"/rpms/*.rpm --key "$key" --grace-hours 0)
lxl_add=$(secs node "$top/bin/lxl.mjs" yum add "$work/lxl" "$extra" --key "$key")
# Index in place (what createrepo_c does): rpms already in the pool, so nothing is copied or fsynced.
mkdir -p "$work/inplace/public/yum/stable/Packages/b"
cp -l "$set_dir"/rpms/*.rpm "$work/inplace/public/yum/stable/Packages/b/"
lxl_inplace=$(secs node "$top/bin/lxl.mjs" yum add "$work/inplace" "$work"/inplace/public/yum/stable/Packages/b/*.rpm --key "$key" --grace-hours 0)
cli_start=$(secs node "$top/bin/lxl.mjs" yum --help)

# lxl in-process (the server's path): no CLI start-up.
inproc=$("$tsx" "$here/inproc.ts" "$set_dir/rpms" "$extra" "$key" "$work/inproc")
in_full=$(node -e "console.log(JSON.parse(process.argv[1]).full.toFixed(2))" "$inproc")
in_add=$(node -e "console.log(JSON.parse(process.argv[1]).addOne.toFixed(2))" "$inproc")

mode=$(cd "$top" && node --input-type=module -e "import { distIsCurrent } from './bin/dist-current.mjs'; console.log(distIsCurrent() ? 'compiled dist/' : 'tsx (dist/ missing or stale: npm run build)')")
echo "$count rpms, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg), lxl CLI ran: $mode"
printf '%-40s %8s s\n' "createrepo_c --workers 2 (full)" "$cr_full" "createrepo_c --workers 2 --update (+1)" "$cr_add" \
  "lxl yum add+publish CLI (full)" "$lxl_full" "lxl yum add+publish CLI (full, in place)" "$lxl_inplace" "lxl yum add --key CLI (+1)" "$lxl_add" "lxl CLI start-up alone (yum --help)" "$cli_start" \
  "lxl in-process (full)" "$in_full" "lxl in-process (+1)" "$in_add"
awk -v a="$lxl_full" -v b="$cr_full" -v c="$lxl_add" -v d="$cr_add" -v e="$in_full" -v f="$in_add" -v g="$lxl_inplace" 'BEGIN {
  printf "ratio full: CLI %.2fx (copying into the pool), %.2fx (in place), in-process %.2fx (target <= 1.5x)\n", a / b, g / b, e / b
  printf "ratio +1:   CLI %.2fx, in-process %.2fx (target <= 1.0x)\n", c / d, f / d }'
