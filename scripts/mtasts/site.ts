/**
 * The MTA-STS policy files as a static site, one folder per domain, ready to publish at
 * https://mta-sts.<domain>/ (docs/mta-sts.md): `mtaStsSiteFiles` says what to write (pure), and
 * `writeMtaStsSite` writes it. Every file but the policy is there for a static host:
 *
 * - `.well-known/mta-sts.txt`: the policy, byte for byte (RFC 8461 §3.2, CRLF line ends);
 * - `CNAME`: the custom domain of a GitHub Pages site (`mta-sts.<domain>`);
 * - `.nojekyll`: GitHub Pages runs Jekyll by default, and Jekyll leaves out folders whose name starts
 *   with a dot, such as `.well-known`;
 * - `.gitattributes`: no line-ending conversion for the policy, so a git checkout on any platform
 *   publishes the same bytes (and the same id);
 * - `_headers`: `Content-Type: text/plain` on Netlify and Cloudflare Pages (RFC 8461 §3.2).
 *
 * `manifest.json` at the top lists each domain with its URL, mode, id and sha256, for scripts that
 * deploy the folders.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DomainPolicy } from '../policy/model.ts';
import { formatMtaStsPolicy, mtaStsHost, mtaStsId, mtaStsPolicyUrl } from '../policy/mtasts.ts';

export interface SiteFile {
  /** Relative to the output folder, `/`-separated. */
  path: string;
  content: string;
}

export interface SiteDomain {
  domain: string;
  host: string;
  url: string;
  mode: string;
  id: string;
  /** sha256 of the policy file, hex. */
  sha256: string;
}

export interface MtaStsSite {
  domains: SiteDomain[];
  files: SiteFile[];
}

export const POLICY_PATH = '.well-known/mta-sts.txt';

/** What `dmarcops mta-sts build` writes for these domains (only those with `mta_sts`), sorted by domain. */
export function mtaStsSiteFiles(policies: readonly DomainPolicy[]): MtaStsSite {
  const domains: SiteDomain[] = [];
  const files: SiteFile[] = [];
  for (const policy of [...policies].sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0))) {
    if (policy.mtaSts === undefined) continue;
    // The domain names a folder: never let a name from a file climb out of `out`.
    if (!/^[a-z0-9_-]+(?:\.[a-z0-9_-]+)+$/.test(policy.domain))
      throw new Error(`${policy.file}: ${JSON.stringify(policy.domain)} is not a domain name to name a folder after`);
    const text = formatMtaStsPolicy(policy.mtaSts);
    const host = mtaStsHost(policy.domain);
    const entry = {
      domain: policy.domain,
      host,
      url: mtaStsPolicyUrl(policy.domain),
      mode: policy.mtaSts.mode,
      id: mtaStsId(policy.mtaSts),
      sha256: createHash('sha256').update(text).digest('hex'),
    };
    domains.push(entry);
    files.push(
      { path: `${policy.domain}/${POLICY_PATH}`, content: text },
      { path: `${policy.domain}/CNAME`, content: `${host}\n` },
      { path: `${policy.domain}/.nojekyll`, content: '' },
      { path: `${policy.domain}/.gitattributes`, content: `${POLICY_PATH} -text\n` },
      { path: `${policy.domain}/_headers`, content: `/${POLICY_PATH}\n  Content-Type: text/plain; charset=utf-8\n` },
    );
  }
  files.push({ path: 'manifest.json', content: `${JSON.stringify({ version: 1, domains }, null, 2)}\n` });
  return { domains, files };
}

/**
 * Writes the files under `out` (each through a temporary name, so a host that serves the folder never
 * sees half a policy). Returns the folders under `out` that hold a policy file for a domain that is
 * not in the site any more: they are left alone (the caller says so), since `out` may be shared.
 */
export async function writeMtaStsSite(out: string, site: MtaStsSite): Promise<{ stale: string[] }> {
  for (const file of site.files) {
    const path = join(out, ...file.path.split('/'));
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, file.content, 'utf8');
    await rename(temporary, path);
  }
  const current = new Set(site.domains.map((domain) => domain.domain));
  const stale: string[] = [];
  for (const entry of await readdir(out, { withFileTypes: true })) {
    if (!entry.isDirectory() || current.has(entry.name)) continue;
    if (
      await stat(join(out, entry.name, ...POLICY_PATH.split('/'))).then(
        () => true,
        () => false,
      )
    )
      stale.push(entry.name);
  }
  return { stale: stale.sort() };
}
