// Maintainer scripts of the kernel image packages. The deb ones follow Debian's
// linux-image-6.1.0-*-cloud-amd64 (read with `dpkg-deb -e`): preinst marks a
// fresh install, postinst runs depmod, linux-update-symlinks and the
// /etc/kernel/postinst.d run-parts hooks (initramfs-tools, update-grub and
// grub-legacy-ec2 plug in there), and so on for prerm/postrm. Differences:
// linux-base's helpers (linux-update-symlinks, linux-check-removal) and depmod
// run only when present, since old guests may lack linux-base.
// The rpm ones use kernel-install where present, else new-kernel-pkg (EL5-7).

import { SpecError } from '../repo-layout/errors.js';
import type { ScriptName } from '../repo-layout/model.js';

/** The kernel a script acts on: its release and its image path. */
export interface KernelScriptFacts {
  krel: string;
  /** Absolute image path, `/boot/vmlinuz-<krel>`. */
  imagePath: string;
}

// krel comes from the kernel's Makefile; anything a shell could read as syntax is refused.
function checkFacts(f: KernelScriptFacts): void {
  for (const v of [f.krel, f.imagePath]) {
    if (!/^[A-Za-z0-9._+~/-]+$/.test(v)) throw new SpecError([{ field: 'krel', rule: `cannot write maintainer scripts for ${JSON.stringify(v)}: unsafe characters for a shell script` }]);
  }
}

const head = (f: KernelScriptFacts) => `#!/bin/sh -e

version=${f.krel}
image_path=${f.imagePath}
`;

const hooks = (dir: string) => `
if [ -d /etc/kernel/${dir} ]; then
    DEB_MAINT_PARAMS="$*" run-parts --report --exit-on-error --arg=$version \\
        --arg=$image_path /etc/kernel/${dir}
fi
`;

/** The four Debian maintainer scripts of `linux-image-<krel>`. */
export function debKernelScripts(f: KernelScriptFacts): Record<ScriptName, string> {
  checkFacts(f);
  const preinst = `${head(f)}
if [ "$1" = abort-upgrade ]; then
    exit 0
fi

if [ "$1" = install ]; then
    # Create a flag file for postinst
    mkdir -p /lib/modules/$version
    touch /lib/modules/$version/.fresh-install
fi
${hooks('preinst.d')}
exit 0
`;
  const postinst = `${head(f)}
if [ "$1" != configure ]; then
    exit 0
fi

if command -v depmod >/dev/null 2>&1; then
    depmod $version
elif [ -x /sbin/depmod ]; then
    /sbin/depmod $version
fi

if [ -f /lib/modules/$version/.fresh-install ]; then
    change=install
else
    change=upgrade
fi
if command -v linux-update-symlinks >/dev/null 2>&1; then
    linux-update-symlinks $change $version $image_path
fi
rm -f /lib/modules/$version/.fresh-install
${hooks('postinst.d')}
exit 0
`;
  const prerm = `${head(f)}
if [ "$1" != remove ]; then
    exit 0
fi

if command -v linux-check-removal >/dev/null 2>&1; then
    linux-check-removal $version
fi
${hooks('prerm.d')}
exit 0
`;
  const postrm = `${head(f)}
rm -f /lib/modules/$version/.fresh-install

if [ "$1" != upgrade ] && command -v linux-update-symlinks >/dev/null 2>&1; then
    linux-update-symlinks remove $version $image_path
fi
${hooks('postrm.d')}
if [ "$1" = purge ]; then
    for extra_file in modules.dep modules.alias modules.symbols modules.\\*.bin \\
                      modules.softdep modules.devname; do
        eval rm -f /lib/modules/$version/$extra_file
    done
    rmdir /lib/modules/$version || true
fi

exit 0
`;
  return { preinst, postinst, prerm, postrm };
}

/**
 * The rpm scriptlets of `kernel-xen-legacy`. The rpm writer has no %posttrans
 * slot, so the install work runs in %post (like EL5's kernel %post did).
 * $1 is rpm's count of installed instances: 0 in %preun means erase.
 */
export function rpmKernelScripts(f: KernelScriptFacts): Partial<Record<ScriptName, string>> {
  checkFacts(f);
  const vars = `version=${f.krel}\nimage_path=${f.imagePath}\n`;
  const postinst = `${vars}
if [ -x /usr/bin/kernel-install ]; then
    /usr/bin/kernel-install add $version $image_path || exit $?
elif [ -x /sbin/new-kernel-pkg ]; then
    /sbin/new-kernel-pkg --package kernel-xen-legacy --mkinitrd --dracut --depmod --install $version || exit $?
elif [ -x /sbin/depmod ]; then
    /sbin/depmod -a $version
elif command -v depmod >/dev/null 2>&1; then
    depmod -a $version
fi
exit 0
`;
  const prerm = `${vars}
[ "$1" = 0 ] || exit 0
if [ -x /usr/bin/kernel-install ]; then
    /usr/bin/kernel-install remove $version $image_path || :
elif [ -x /sbin/new-kernel-pkg ]; then
    /sbin/new-kernel-pkg --rminitrd --rmmoddep --remove $version || :
fi
exit 0
`;
  return { postinst, prerm };
}
