#!/usr/bin/env bash
# Packs Debian's cloud kernel tree (about 106 MB) as an rpm with lxl and with
# `rpmbuild -bb`, same tree, same xz level, and prints the times and the ratio.
# rpmbuild runs with brp scripts, debuginfo and dependency generators off, so
# it does the same work: archive, compress, digest. Needs: rpm (rpmbuild), xz,
# dpkg-deb, apt-get (to fetch the kernel once into $LXL_TEST_CACHE/bench).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
cache="${LXL_TEST_CACHE:-/var/cache/lxl-test}/bench"
level="${XZ_LEVEL:-6}"
mkdir -p "$cache"

deb="$(ls "$cache"/linux-image-6.1.*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$deb" ]; then
  pkg="$(apt-cache search --names-only '^linux-image-6\.1\.[0-9.]+-[0-9]+-cloud-amd64$' | awk '{print $1}' | sort -V | tail -1)"
  [ -n "$pkg" ] || { echo "no linux-image-6.1.*-cloud-amd64 in apt's lists (apt-get update?)" >&2; exit 1; }
  (cd "$cache" && apt-get download "$pkg")
  deb="$(ls "$cache"/linux-image-6.1.*-cloud-amd64_*.deb | sort -V | tail -1)"
fi
tree="$cache/$(basename "$deb" .deb)-tree"
if [ ! -d "$tree" ]; then
  dpkg-deb -x "$deb" "$tree.part"
  mv "$tree.part" "$tree"
fi
krel="$(ls "$tree/lib/modules" | head -1)"
echo "tree: $tree ($(du -sm "$tree" | cut -f1) MB, kernel $krel), xz level $level, $(nproc) CPUs"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# lxl: a spec that takes the staged tree as it is.
cat > "$work/spec.json" <<JSON
{"name":"kernel-xen-legacy","version":"6.1.192-2","arch":"x86_64","maintainer":"bench <bench@lxl.test>",
 "summary":"Linux kernel (bench)","root":"$tree","provides":["installonlypkg(kernel)"],"sourceDateEpoch":1700000000}
JSON
/usr/bin/time -f '%e %M %U %S' -o "$work/lxl.time" "$top/bin/lxl" pack rpm --spec "$work/spec.json" --out "$work/lxl" --compression xz --level "$level" >/dev/null
read -r lxl_s lxl_kb lxl_u lxl_sy < "$work/lxl.time"

# rpmbuild: the same tree as its buildroot, packaged in place.
mkdir -p "$work/rpmbuild/SPECS"
cat > "$work/rpmbuild/SPECS/bench.spec" <<SPEC
Name: kernel-xen-legacy
Version: 6.1.192
Release: 2
Summary: Linux kernel (bench)
License: GPL-2.0-only
AutoReqProv: no
Provides: installonlypkg(kernel)
%description
bench
%files
$(cd "$tree" && ls -d * | sed 's|^|/|')
SPEC
rpmb() {
  /usr/bin/time -f '%e %M %U %S' -o "$work/rpmbuild.time" rpmbuild -bb --quiet \
    --define "_topdir $work/rpmbuild" --buildroot "$tree" \
    --define '__spec_install_pre %{nil}' --define '__spec_clean_body %{nil}' --define '__os_install_post %{nil}' \
    --define 'debug_package %{nil}' --define '_build_id_links none' --define "_binary_payload $1" \
    --define '_source_filedigest_algorithm 8' --define '_binary_filedigest_algorithm 8' \
    --nocheck --noclean "$work/rpmbuild/SPECS/bench.spec" >/dev/null 2>"$work/rpmbuild.err" || { cat "$work/rpmbuild.err" >&2; exit 1; }
  read -r s kb u sy < "$work/rpmbuild.time"
  echo "$s $kb $(awk -v a="$u" -v b="$sy" 'BEGIN { printf "%.1f", a + b }')"
}
read -r rb_s rb_kb rb_cpu < <(rpmb "w${level}.xzdio")
read -r rbt_s rbt_kb rbt_cpu < <(rpmb "w${level}T$(nproc).xzdio")

lxl_size=$(stat -c %s "$work"/lxl/*.rpm)
rb_size=$(stat -c %s "$work"/rpmbuild/RPMS/x86_64/*.rpm)
lxl_cpu=$(awk -v a="$lxl_u" -v b="$lxl_sy" 'BEGIN { printf "%.1f", a + b }')
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (wall times stretch under load; CPU = user+sys of all processes)"
printf '%-34s %8s s wall %8s s CPU %6s MB max RSS  %10s bytes\n' "lxl pack rpm (xz -$level -T$(nproc))" "$lxl_s" "$lxl_cpu" "$((lxl_kb / 1024))" "$lxl_size"
printf '%-34s %8s s wall %8s s CPU %6s MB max RSS  %10s bytes\n' "rpmbuild -bb (w${level}.xzdio)" "$rb_s" "$rb_cpu" "$((rb_kb / 1024))" "$rb_size"
printf '%-34s %8s s wall %8s s CPU %6s MB max RSS\n' "rpmbuild -bb (w${level}T$(nproc).xzdio)" "$rbt_s" "$rbt_cpu" "$((rbt_kb / 1024))"
awk -v a="$lxl_s" -v b="$rb_s" -v c="$rbt_s" 'BEGIN { printf "ratio lxl/rpmbuild: %.2fx (single-threaded xz, the issue'"'"'s reference setup); %.2fx vs threaded xz\n", a / b, a / c }'
