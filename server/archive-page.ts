// The archive page at `/` (embedded mode): every repo's kernel versions per
// arch with their build status, date, package links and sha256 checksums, and
// how guests install them (apt, yum/dnf, zypper, tarballs). Server-rendered
// HTML with inline CSS: no JavaScript, readable on a phone (viewport meta,
// one column on narrow screens), every value HTML-escaped. Pure: data in, string out.

/** One package file of a kernel build. */
export interface ArchivePackage {
  kind: 'deb' | 'rpm' | 'tarball';
  name: string;
  filename: string;
  /** Path relative to the published root, e.g. `apt/<repo>/pool/main/l/linux-xen-legacy/…`. */
  href: string;
  sha256: string;
  size: number;
}

/** One kernel of one arch: a finished build, or a job that has not produced one (yet). */
export interface ArchiveKernel {
  /** Package version, e.g. `6.1.192-1`. */
  version: string;
  /** Kernel release (uname -r), when known. */
  krel?: string;
  /** Kernel arch: x86_64 or i386. */
  arch: string;
  flavour?: string;
  line: string;
  status: 'published' | 'built' | 'building' | 'queued' | 'failed';
  /** For builds: testing or stable. */
  channel?: 'testing' | 'stable';
  /** Free text shown with the status (the failure, the attempt). */
  detail?: string;
  /** When the build (or job) was made, ms since the epoch. */
  date: number;
  packages: ArchivePackage[];
  /** Path of the tarball folder's SHA256SUMS, relative to the published root. */
  sha256sums?: string;
}

export interface ArchiveRepo {
  name: string;
  kernels: ArchiveKernel[];
  /** The last finished publish. */
  lastPublish?: { state: string; at: number };
}

export interface ArchivePageData {
  /** URL of the published root (what serves apt/, yum/, tarballs/, keys/), without a trailing slash. */
  baseUrl: string;
  /** Key name: keys/<keyName>.asc and .gpg. */
  keyName: string;
  fingerprint?: string;
  generated: Date;
  repos: ArchiveRepo[];
  version?: string;
}

/** HTML-escapes text for element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const e = escapeHtml;

const CSS = `
:root{color-scheme:light dark;--fg:#1b1f23;--bg:#fff;--muted:#59636e;--line:#d0d7de;--code:#f3f5f7;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1;--line:#30363d;--code:#161b22;--ok:#3fb950;--warn:#d29922;--bad:#f85149}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:72rem;padding:1rem;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid var(--line)}h3{font-size:1.05rem}
p.lead{color:var(--muted);margin-top:0}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:var(--code);padding:.75rem;border-radius:6px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-bottom:1px solid var(--line)}
th{font-size:.85rem;color:var(--muted);font-weight:600}
td ul{margin:0;padding-left:1rem}
.sha{display:block;color:var(--muted);font-size:12px;word-break:break-all}
.status{font-weight:600}.published{color:var(--ok)}.built,.building,.queued{color:var(--warn)}.failed{color:var(--bad)}
.chan{font-size:.8rem;border:1px solid var(--line);border-radius:1rem;padding:0 .45rem;margin-left:.3rem}
details{margin:.5rem 0}summary{cursor:pointer;font-weight:600}
.fpr{word-break:break-all}
@media (max-width:40rem){
 thead{display:none}
 table,tbody,tr,td{display:block;width:100%}
 tr{border:1px solid var(--line);border-radius:6px;margin-bottom:.75rem;padding:.25rem .5rem}
 td{border:0;padding:.2rem 0}
 td[data-label]::before{content:attr(data-label) ": ";font-weight:600;color:var(--muted)}
}
`;

/** Renders the whole page. */
export function renderArchivePage(d: ArchivePageData): string {
  const title = 'linux-xen-legacy kernel archive';
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${e(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<header>',
    `<h1>${e(title)}</h1>`,
    '<p class="lead">Xen guest kernels with the legacy console on <code>tty1</code> and disks named <code>/dev/sdX</code>, signed with OpenPGP, as APT, YUM and tarball repositories.</p>',
    keyBlock(d),
    '</header>',
    '<main>',
    ...(d.repos.length ? d.repos.map((r) => repoSection(d, r)) : ['<p>No repositories yet.</p>']),
    '</main>',
    `<footer><p class="lead">Generated ${e(isoMinute(d.generated))}${d.version ? ` by lxl ${e(d.version)}` : ''}. Machine-readable: <a href="/api/v1/repos">/api/v1/repos</a>.</p></footer>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function keyBlock(d: ArchivePageData): string {
  const asc = `${d.baseUrl}/keys/${d.keyName}.asc`;
  const gpg = `${d.baseUrl}/keys/${d.keyName}.gpg`;
  return `<p>Signing key: <a href="${e(asc)}">${e(d.keyName)}.asc</a> · <a href="${e(gpg)}">${e(d.keyName)}.gpg</a>${
    d.fingerprint ? `<br>Fingerprint: <code class="fpr">${e(d.fingerprint)}</code>` : ''
  }</p>`;
}

function repoSection(d: ArchivePageData, r: ArchiveRepo): string {
  const order = (a: string) => (a === 'x86_64' ? '0' : a === 'i386' ? '1' : `2${a}`);
  const arches = [...new Set(r.kernels.map((k) => k.arch))].sort((a, b) => (order(a) < order(b) ? -1 : 1));
  const pub = r.lastPublish ? `Last publish: ${e(r.lastPublish.state)} at ${e(isoMinute(new Date(r.lastPublish.at)))}.` : 'Not published yet.';
  return [
    `<section id="repo-${e(r.name)}">`,
    `<h2>${e(r.name)}</h2>`,
    `<p>${pub}</p>`,
    ...(arches.length ? arches.map((a) => archTable(d, r, a)) : ['<p>No kernels built yet.</p>']),
    installSection(d, r),
    '</section>',
  ].join('\n');
}

function archTable(d: ArchivePageData, r: ArchiveRepo, arch: string): string {
  const rows = r.kernels.filter((k) => k.arch === arch).sort((a, b) => b.date - a.date);
  return [
    `<h3>${e(arch)}</h3>`,
    '<table>',
    '<thead><tr><th>Version</th><th>Status</th><th>Date</th><th>Packages and sha256</th></tr></thead>',
    '<tbody>',
    ...rows.map((k) => kernelRow(d, k)),
    '</tbody>',
    '</table>',
  ].join('\n');
}

function kernelRow(d: ArchivePageData, k: ArchiveKernel): string {
  const version = `<strong>${e(k.version)}</strong>${k.krel ? `<br><code>${e(k.krel)}</code>` : ''}${k.flavour ? `<br><small>${e(k.line)} ${e(k.flavour)}</small>` : ''}`;
  const status = `<span class="status ${e(k.status)}">${e(k.status)}</span>${k.channel ? `<span class="chan">${e(k.channel)}</span>` : ''}${k.detail ? `<br><small>${e(k.detail)}</small>` : ''}`;
  const pkgs = k.packages.length
    ? `<ul>${k.packages
        .map((p) => `<li><a href="${e(`${d.baseUrl}/${p.href}`)}">${e(p.filename)}</a> <small>(${e(size(p.size))})</small><code class="sha">sha256 ${e(p.sha256)}</code></li>`)
        .join('')}${k.sha256sums ? `<li><a href="${e(`${d.baseUrl}/${k.sha256sums}`)}">SHA256SUMS</a> · <a href="${e(`${d.baseUrl}/${k.sha256sums}.asc`)}">SHA256SUMS.asc</a></li>` : ''}</ul>`
    : '—';
  return `<tr><td data-label="Version">${version}</td><td data-label="Status">${status}</td><td data-label="Date">${e(isoMinute(new Date(k.date)))}</td><td data-label="Packages">${pkgs}</td></tr>`;
}

function installSection(d: ArchivePageData, r: ArchiveRepo): string {
  const b = d.baseUrl;
  const key = d.keyName;
  const tarball = r.kernels.find((k) => k.status === 'published' && k.packages.some((p) => p.kind === 'tarball' && p.filename.endsWith('.tar.xz')));
  const tarFile = tarball?.packages.find((p) => p.kind === 'tarball' && p.filename.endsWith('.tar.xz'));
  const tarDir = tarFile ? tarFile.href.replace(/\/[^/]+$/, '') : `tarballs/${r.name}/<krel>`;
  const tarName = tarFile?.filename ?? 'linux-xen-legacy-<krel>-<arch>.tar.xz';
  const blocks: Array<[string, string]> = [
    [
      'APT (Debian, Ubuntu)',
      [
        `curl -fsSL -o /etc/apt/keyrings/${key}.gpg ${b}/keys/${key}.gpg`,
        `echo "deb [signed-by=/etc/apt/keyrings/${key}.gpg] ${b}/apt/${r.name} stable main" > /etc/apt/sources.list.d/${key}.list`,
        `# or the deb822 file: curl -fsSL -o /etc/apt/sources.list.d/${key}.sources ${b}/apt/${r.name}/${key}.sources`,
        'apt-get update && apt-get install linux-xen-legacy',
      ].join('\n'),
    ],
    ['YUM / DNF (CentOS, RHEL, Fedora)', [`curl -fsSL -o /etc/yum.repos.d/${r.name}.repo ${b}/yum/${r.name}.repo`, 'dnf install kernel-xen-legacy    # or: yum install kernel-xen-legacy'].join('\n')],
    ['zypper (openSUSE, SLES)', [`rpm --import ${b}/yum/${r.name}/repodata/repomd.xml.key`, `zypper addrepo ${b}/yum/${r.name} ${r.name}`, `zypper refresh && zypper install kernel-xen-legacy`].join('\n')],
    [
      'Tarball (Gentoo, Arch, anything else)',
      [
        `curl -fsSLO ${b}/${tarDir}/${tarName}`,
        `curl -fsSLO ${b}/${tarDir}/SHA256SUMS -O ${b}/${tarDir}/SHA256SUMS.asc`,
        `curl -fsSL -o ${key}.gpg ${b}/keys/${key}.gpg`,
        `gpgv --keyring ./${key}.gpg SHA256SUMS.asc SHA256SUMS && sha256sum -c --ignore-missing SHA256SUMS`,
        `tar -xJf ${tarName} -C /    # boot/vmlinuz-<krel> and lib/modules/<krel>/; then depmod <krel> and your boot loader`,
        `# every version, arch and file as JSON: ${b}/tarballs/${r.name}/index.json`,
      ].join('\n'),
    ],
  ];
  return ['<h3>Install</h3>', ...blocks.map(([h, cmd]) => `<details open><summary>${e(h)}</summary><pre><code>${e(cmd)}</code></pre></details>`)].join('\n');
}

function isoMinute(d: Date): string {
  return Number.isFinite(d.getTime()) ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : '-';
}

function size(n: number): string {
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
