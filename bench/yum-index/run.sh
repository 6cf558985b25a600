#!/usr/bin/env bash
# Repodata for 2,000 small rpms: lxl (CLI, and in-process as the server runs
# it) vs `createrepo_c --workers 2`, full and after adding one rpm (`--update`).
# The rpms are generated once with lxl's writer into $LXL_TEST_CACHE/bench.
# RUNS=n (default 3) rounds, each running every tool once; prints medians.
# LXL_BENCH_NODE=<node binary> runs the CLI rows on another Node.
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

runs="${RUNS:-3}"
# The Node that runs the CLI rows (LXL_BENCH_NODE=/path/to/node, e.g. a Node 22 from `npx -y node@22 -p process.execPath`).
cli_node="${LXL_BENCH_NODE:-node}"
# bin/lxl, as users run it: it starts the first `node` on PATH, so another cli_node's folder goes first.
lxl=("$top/bin/lxl")
[ -n "${LXL_BENCH_NODE:-}" ] && lxl=(env PATH="$(dirname "$(command -v "$cli_node")"):$PATH" "$top/bin/lxl")
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
secs() { /usr/bin/time -f '%e' -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; cat "$work/t"; }
# Each row's times of every round, in row order; the rounds interleave the tools, so a slow minute hits them all.
declare -A times
rows=(cr_full cr_add lxl_full lxl_link lxl_inplace lxl_add cli_start in_full in_link in_inplace in_add)
add() { times[$1]="${times[$1]:-} $2"; }

node "$here/../fs-probe.mjs" "$work"
for round in $(seq "$runs"); do
  r="$work/r$round"
  # createrepo_c, as in the issue's reference (sqlite databases included, its default).
  mkdir -p "$r/cr/Packages"
  cp -l "$set_dir"/rpms/*.rpm "$r/cr/Packages/"
  add cr_full "$(secs createrepo_c --workers 2 "$r/cr")"
  cp -l "$extra" "$r/cr/Packages/"
  add cr_add "$(secs createrepo_c --workers 2 --update "$r/cr")"

  # lxl CLI: add every rpm and publish (one process), then add one more and publish.
  add lxl_full "$(secs "${lxl[@]}" yum add "$r/lxl" "$set_dir"/rpms/*.rpm --key "$key" --grace-hours 0)"
  add lxl_add "$(secs "${lxl[@]}" yum add "$r/lxl" "$extra" --key "$key")"
  # Hard-linked into the pool instead of copied (--link; what the server does with its artifacts).
  add lxl_link "$(secs "${lxl[@]}" yum add "$r/lxl-link" "$set_dir"/rpms/*.rpm --key "$key" --grace-hours 0 --link)"
  # Index in place (what createrepo_c does): rpms already in the pool, so nothing is copied or fsynced.
  mkdir -p "$r/inplace/public/yum/stable/Packages/b"
  cp -l "$set_dir"/rpms/*.rpm "$r/inplace/public/yum/stable/Packages/b/"
  add lxl_inplace "$(secs "${lxl[@]}" yum add "$r/inplace" "$r"/inplace/public/yum/stable/Packages/b/*.rpm --key "$key" --grace-hours 0)"
  add cli_start "$(secs "${lxl[@]}" yum --help)"

  # lxl in-process (the server's path): no CLI start-up.
  inproc=$("$tsx" "$here/inproc.ts" "$set_dir/rpms" "$extra" "$key" "$r/inproc")
  add in_full "$(node -e "console.log(JSON.parse(process.argv[1]).full.toFixed(2))" "$inproc")"
  add in_add "$(node -e "console.log(JSON.parse(process.argv[1]).addOne.toFixed(2))" "$inproc")"
  inmode="$(node -e "console.log(JSON.parse(process.argv[1]).modules)" "$inproc")"
  inproc=$("$tsx" "$here/inproc.ts" "$set_dir/rpms" "$extra" "$key" "$r/inproc-link" link)
  add in_link "$(node -e "console.log(JSON.parse(process.argv[1]).full.toFixed(2))" "$inproc")"
  # In place, as createrepo_c works: the rpms already are the repo's Packages/ files (hard links of the set).
  mkdir -p "$r/inproc-inplace/public/yum/stable/Packages/b"
  cp -l "$set_dir"/rpms/*.rpm "$r/inproc-inplace/public/yum/stable/Packages/b/"
  inproc=$("$tsx" "$here/inproc.ts" "$r/inproc-inplace/public/yum/stable/Packages/b" "$extra" "$key" "$r/inproc-inplace")
  add in_inplace "$(node -e "console.log(JSON.parse(process.argv[1]).full.toFixed(2))" "$inproc")"
  # Rounds stay until the end (the trap removes them): on ext4 without a journal, deleting thousands of files makes
  # every file created in the next minutes slower (the kernel skips recently deleted inodes one by one), which would
  # tax the rows that create more files.
done

# Median of a row (and its range).
node "$here/../fs-probe.mjs" "$work"
median() { tr ' ' '\n' <<<"${times[$1]}" | grep . | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m }'; }
range() { tr ' ' '\n' <<<"${times[$1]}" | grep . | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }'; }
declare -A med
for k in "${rows[@]}"; do med[$k]=$(median "$k"); done

# What bin/lxl does for `lxl yum` (the start-up snapshot, or bin/lxl.mjs and why), and what bin/lxl.mjs runs.
launch=$(LXL_LAUNCH_DEBUG=1 "${lxl[@]}" yum --help 2>&1 >/dev/null | sed 's/^lxl: //')
case $launch in
  starting*) mode=$launch ;;
  *) mode="$launch, which runs $(cd "$top" && node --input-type=module -e "import { distIsCurrent } from './bin/dist-current.mjs'; console.log(distIsCurrent() ? 'the compiled dist/' : 'tsx (dist/ missing or stale: npm run build)')")" ;;
esac
echo "$count rpms, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg), $runs interleaved rounds (RUNS=n), lxl CLI ran: $mode on Node $("$cli_node" --version) (LXL_BENCH_NODE), in-process rows ran: $inmode on Node $(node --version)"
echo "seconds: median (range)"
label() {
  case $1 in
    cr_full) echo "createrepo_c --workers 2 (full)" ;;
    cr_add) echo "createrepo_c --workers 2 --update (+1)" ;;
    lxl_full) echo "lxl yum add+publish CLI (full)" ;;
    lxl_link) echo "lxl yum add --link CLI (full)" ;;
    lxl_inplace) echo "lxl yum add+publish CLI (full, in place)" ;;
    lxl_add) echo "lxl yum add --key CLI (+1)" ;;
    cli_start) echo "lxl CLI start-up alone (yum --help)" ;;
    in_full) echo "lxl in-process (full)" ;;
    in_link) echo "lxl in-process (full, linking)" ;;
    in_inplace) echo "lxl in-process (full, in place)" ;;
    in_add) echo "lxl in-process (+1)" ;;
  esac
}
for k in "${rows[@]}"; do printf '%-42s %6s s  (%s)\n' "$(label "$k")" "${med[$k]}" "$(range "$k")"; done
awk -v a="${med[lxl_full]}" -v b="${med[cr_full]}" -v c="${med[lxl_add]}" -v d="${med[cr_add]}" -v e="${med[in_full]}" -v f="${med[in_add]}" -v g="${med[lxl_inplace]}" -v h="${med[lxl_link]}" -v i="${med[in_link]}" -v j="${med[in_inplace]}" 'BEGIN {
  printf "ratio full (medians): CLI %.2fx (copying into the pool), %.2fx (--link), %.2fx (in place); in-process %.2fx (copying), %.2fx (linking), %.2fx (in place) (target <= 1.5x)\n", a / b, h / b, g / b, e / b, i / b, j / b
  printf "ratio +1 (medians):   CLI %.2fx, in-process %.2fx (target <= 1.0x)\n", c / d, f / d }'
