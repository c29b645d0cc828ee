/**
 * Domains whose files were removed from the domains folder, from git history: the only way dmarcops
 * learns that a `_dmarc` record it published is no longer wanted (providers are asked about the names
 * dmarcops names, never for a whole zone). Renames count as a removal plus an addition.
 */
import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import { promisify } from 'node:util';
import { isDomainFileName } from '../policy/load.ts';

const run = promisify(execFile);

export interface RemovedDomains {
  domains: string[];
  /** Why the list may be incomplete (not a git checkout, shallow clone), when it may be. */
  warning?: string;
}

/** Domain files removed in the history of `commit` (default: HEAD), a full sha when given. */
export async function removedDomainsFromGit(dir: string, cwd: string = process.cwd(), commit?: string): Promise<RemovedDomains> {
  try {
    if (commit !== undefined && !/^[0-9a-f]{40,64}$/.test(commit)) throw new Error(`not a commit sha: ${JSON.stringify(commit)}`);
    const { stdout } = await run(
      'git',
      ['log', ...(commit === undefined ? [] : [commit]), '--no-renames', '--diff-filter=D', '--name-only', '--format=', '--', dir],
      { cwd, maxBuffer: 64 * 1024 * 1024 },
    );
    const domains = new Set<string>();
    for (const line of stdout.split('\n')) {
      const name = basename(line.trim());
      if (name === '' || !isDomainFileName(name)) continue;
      domains.add(name.replace(/\.ya?ml$/i, '').toLowerCase());
    }
    const result: RemovedDomains = { domains: [...domains].sort() };
    const shallow = await run('git', ['rev-parse', '--is-shallow-repository'], { cwd }).then(
      ({ stdout: out }) => out.trim() === 'true',
      () => false,
    );
    if (shallow)
      result.warning =
        'shallow git clone: domain files removed before the fetched history are not seen, so their records are not deleted (check out with fetch-depth: 0)';
    return result;
  } catch (error) {
    return {
      domains: [],
      warning: `cannot read git history (${(error as Error).message.split('\n')[0]}): records of removed domain files are not deleted`,
    };
  }
}

/** The domain file keys that make dmarcops publish a record, and the name it publishes for domain d. */
const TRANSPORT_KEYS = [
  { key: 'mta_sts', name: (domain: string) => `_mta-sts.${domain}` },
  { key: 'tls_reports', name: (domain: string) => `_smtp._tls.${domain}` },
] as const;

export interface FormerNames {
  /** `_mta-sts.<d>` / `_smtp._tls.<d>` for each domain whose file (or the defaults file) ever had the key. */
  names: string[];
  warning?: string;
}

/**
 * The MTA-STS and TLS reporting names dmarcops may have published: from git history, every domain file
 * that had `mta_sts` or `tls_reports` in some commit (`git log -G`, which also sees files deleted since);
 * when the defaults file had the key, every domain in `domains`. The planner looks these names up, so a
 * record left over after the key (or the file) is removed is deleted, while MTA-STS records published by
 * hand for domains that never had the key stay invisible.
 */
export async function formerTransportNames(dir: string, domains: readonly string[], cwd: string = process.cwd()): Promise<FormerNames> {
  const names = new Set<string>();
  try {
    for (const { key, name } of TRANSPORT_KEYS) {
      // Quoted keys ("mta_sts":) too; a mention in a comment only costs one more name looked up.
      const { stdout } = await run('git', ['log', '--no-renames', '--format=', '--name-only', `-G${key}["']?[[:space:]]*:`, '--', dir], {
        cwd,
        maxBuffer: 64 * 1024 * 1024,
      });
      const files = new Set(
        stdout
          .split('\n')
          .map((line) => basename(line.trim()))
          .filter((file) => file !== ''),
      );
      if ([...files].some((file) => /^_defaults\.ya?ml$/i.test(file))) for (const domain of domains) names.add(name(domain.toLowerCase()));
      for (const file of files) if (isDomainFileName(file)) names.add(name(file.replace(/\.ya?ml$/i, '').toLowerCase()));
    }
  } catch (error) {
    return {
      names: [],
      warning: `cannot read git history (${(error as Error).message.split('\n')[0]}): MTA-STS and TLS reporting records of removed keys are not deleted`,
    };
  }
  return { names: [...names].sort() };
}
