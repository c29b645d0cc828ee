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
    const { stdout } = await run('git', ['log', ...(commit === undefined ? [] : [commit]), '--no-renames', '--diff-filter=D', '--name-only', '--format=', '--', dir], { cwd, maxBuffer: 64 * 1024 * 1024 });
    const domains = new Set<string>();
    for (const line of stdout.split('\n')) {
      const name = basename(line.trim());
      if (name === '' || !isDomainFileName(name)) continue;
      domains.add(name.replace(/\.ya?ml$/i, '').toLowerCase());
    }
    const result: RemovedDomains = { domains: [...domains].sort() };
    const shallow = await run('git', ['rev-parse', '--is-shallow-repository'], { cwd }).then(({ stdout: out }) => out.trim() === 'true', () => false);
    if (shallow) result.warning = 'shallow git clone: domain files removed before the fetched history are not seen, so their records are not deleted (check out with fetch-depth: 0)';
    return result;
  } catch (error) {
    return { domains: [], warning: `cannot read git history (${(error as Error).message.split('\n')[0]}): records of removed domain files are not deleted` };
  }
}
