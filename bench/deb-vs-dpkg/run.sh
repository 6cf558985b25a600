#!/usr/bin/env bash
# Benchmark: `lxl pack deb` vs `dpkg-deb --root-owner-group -b` on a real
# kernel tree (Debian bookworm's newest linux-image-6.1.*-cloud-amd64), with
# xz and then gzip. Prints wall time, peak RSS, output size and the ratios.
# Not part of `npm test`. Usage: bench/deb-vs-dpkg/run.sh [extra lxl args, e.g. --level 4]
set -euo pipefail
cd "$(dirname "$0")/../.."
LXL="$PWD/bin/lxl"
CACHE="${LXL_TEST_CACHE:-/var/cache/lxl-test}/bench"
mkdir -p "$CACHE"

pkg=$(apt-cache search --names-only '^linux-image-6\.1\.[0-9.-]*-cloud-amd64$' | awk '{print $1}' | sort -V | tail -1)
[ -n "$pkg" ] || { echo "no linux-image-6.1.*-cloud-amd64 in apt's lists (run apt-get update)" >&2; exit 1; }
deb=$(ls "$CACHE/${pkg}"_*.deb 2>/dev/null | tail -1 || true)
if [ -z "$deb" ]; then
  (cd "$CACHE" && apt-get download -q "$pkg")
  deb=$(ls "$CACHE/${pkg}"_*.deb | tail -1)
fi
echo "package: $(basename "$deb") ($(stat -c %s "$deb") bytes)"

work=$(mktemp -d /tmp/lxl-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
# dpkg-deb needs DEBIAN/ inside its tree; lxl reads the payload and the scripts from a spec.
dpkg-deb -R "$deb" "$work/dpkgroot"
dpkg-deb -x "$deb" "$work/lxlroot"
mkdir "$work/scripts"
for s in preinst postinst prerm postrm; do
  [ -f "$work/dpkgroot/DEBIAN/$s" ] && cp "$work/dpkgroot/DEBIAN/$s" "$work/scripts/$s"
done
node - "$deb" "$work" <<'EOF'
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const [deb, work] = process.argv.slice(2);
const f = (name) => execFileSync('dpkg-deb', ['--field', deb, name]).toString().trim();
const list = (name) => (f(name) ? f(name).split(/,\s*/) : []);
const [summary, ...rest] = f('Description').split('\n');
const scripts = {};
for (const s of ['preinst', 'postinst', 'prerm', 'postrm']) if (fs.existsSync(`${work}/scripts/${s}`)) scripts[s] = `scripts/${s}`;
const spec = {
  name: f('Package'), version: f('Version'), arch: 'x86_64', maintainer: f('Maintainer'), summary,
  description: rest.map((l) => (l.trim() === '.' ? '' : l.slice(1))).join('\n'), homepage: f('Homepage') || undefined,
  depends: list('Depends'), recommends: list('Recommends'), conflicts: list('Conflicts'), breaks: list('Breaks'), replaces: list('Replaces'),
  scripts, root: 'lxlroot', sourceDateEpoch: 1700000000,
};
fs.writeFileSync(`${work}/spec.json`, JSON.stringify(spec, null, 2));
EOF
echo "tree: $(du -sh --apparent-size "$work/lxlroot" | cut -f1), $(find "$work/lxlroot" -type f | wc -l) files; $(nproc) CPUs; load: $(cut -d' ' -f1-3 /proc/loadavg)"

warm() { find "$work/lxlroot" "$work/dpkgroot" -type f -exec cat {} + > /dev/null; }
# Runs a command under /usr/bin/time; sets T (seconds) and M (peak RSS, MiB).
timed() {
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" > /dev/null
  read -r T M < "$work/time"
  M=$((M / 1024))
}

printf '\n%-6s %-28s %9s %9s %12s\n' comp tool seconds rss_MiB bytes
for comp in xz gzip; do
  warm
  timed dpkg-deb --root-owner-group "-Z$comp" -b "$work/dpkgroot" "$work/dpkg.deb"
  dt=$T; dm=$M; ds=$(stat -c %s "$work/dpkg.deb")
  printf '%-6s %-28s %9s %9s %12s\n' "$comp" "dpkg-deb -Z$comp" "$dt" "$dm" "$ds"
  warm
  rm -rf "$work/out"
  timed "$LXL" pack deb --compression "$comp" --spec "$work/spec.json" --out "$work/out" "$@"
  lt=$T; lm=$M; ls=$(stat -c %s "$work"/out/*.deb)
  printf '%-6s %-28s %9s %9s %12s\n' "$comp" "lxl pack deb $*" "$lt" "$lm" "$ls"
  awk -v lt="$lt" -v dt="$dt" -v ls="$ls" -v ds="$ds" -v c="$comp" 'BEGIN {
    printf "%-6s time ratio lxl/dpkg-deb = %.2f (target <= 0.50)   size ratio = %.3f (target <= 1.050)\n", c, lt / dt, ls / ds }'
  dpkg-deb --info "$work"/out/*.deb > /dev/null
done
