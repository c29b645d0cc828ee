import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { domainTextsAtRef, loadDomainsAtRef } from '../../scripts/policy/git.ts';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.com',
    },
  });

describe('domain files at a git ref', () => {
  let repo: string;
  beforeEach(async () => {
    repo = await mkdtemp(join(tmpdir(), 'dmarcops-git-'));
    git(repo, 'init', '-q', '-b', 'main');
    await mkdir(join(repo, 'domains'));
    await writeFile(join(repo, 'domains/_defaults.yaml'), 'policy: none\n');
    await writeFile(join(repo, 'domains/example.com.yaml'), 'policy: quarantine\n');
    await writeFile(join(repo, 'domains/README.md'), 'not a domain file\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'base');
    await writeFile(join(repo, 'domains/example.com.yaml'), 'policy: reject\n');
    await writeFile(join(repo, 'domains/example.net.yaml'), 'alignment: {dkim: strict}\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'head');
  });
  afterEach(async () => {
    await rm(repo, { recursive: true, force: true });
  });

  it('reads the files and the defaults as they were at the ref, named by ref and path', async () => {
    const base = await domainTextsAtRef('HEAD~1', 'domains', repo);
    expect(base.exists).toBe(true);
    expect(base.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(base.defaults).toEqual({ file: 'HEAD~1:domains/_defaults.yaml', text: 'policy: none\n' });
    expect(base.files).toEqual([{ file: 'HEAD~1:domains/example.com.yaml', text: 'policy: quarantine\n' }]);
  });

  it('loads policies with the defaults merged, as the working tree does', async () => {
    const head = await loadDomainsAtRef('main', 'domains', repo);
    expect(head.findings).toEqual([]);
    expect(head.domains.map((d) => [d.policy.domain, d.policy.p, d.policy.adkim])).toEqual([
      ['example.com', 'reject', 'r'],
      ['example.net', 'none', 's'],
    ]);
  });

  it('works from a subfolder of the repository', async () => {
    const base = await domainTextsAtRef('HEAD~1', '.', join(repo, 'domains'));
    expect(base.files.map((f) => f.file)).toEqual(['HEAD~1:domains/example.com.yaml']);
  });

  it('gives no files when the folder did not exist at the ref', async () => {
    await mkdir(join(repo, 'other'));
    await writeFile(join(repo, 'other/x.example.yaml'), 'policy: none\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'other');
    const at = await domainTextsAtRef('HEAD~1', 'other', repo);
    expect(at).toMatchObject({ exists: false, files: [] });
  });

  it('names an unknown ref, and refuses option-like refs', async () => {
    await expect(domainTextsAtRef('origin/nope', 'domains', repo)).rejects.toThrow(/resolve "origin\/nope" to a commit/);
    await expect(domainTextsAtRef('--output=x', 'domains', repo)).rejects.toThrow(/not a git ref/);
  });
});
