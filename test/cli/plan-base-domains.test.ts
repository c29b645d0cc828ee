/**
 * `dmarcops plan --base-domains <dir>`: the base from a folder committed in its git checkout (the
 * default branch, in dns-plan-fork.yml), the head from a folder outside git (a fork's domain files,
 * extracted as data). It must give the plan `--base <ref>` gives when the same head is a commit of the
 * repository: the same changes, the same own and pending ones, the base commit recorded.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { parseCommandLine } from '../../scripts/cli.ts';
import { makePlanCommand } from '../../scripts/cli/plan.ts';
import { splitByBase } from '../../scripts/dns/review.ts';
import type { Plan } from '../../scripts/dns/types.ts';
import { FakeProvider, fakeResolver } from '../dns/fake-provider.ts';
import { captureOutput } from '../helpers/output.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
let root: string;
let repo: string;
let head: string;

function git(...args: string[]): string {
  const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e.st', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e.st' };
  return execFileSync('git', args, { cwd: repo, encoding: 'utf8', env }).trim();
}

const file = (policy: string) => `policy: ${policy}\nreports:\n  - dmarc@example.com\n`;
const rua = 'rua=mailto:dmarc@example.com';

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'dmarcops-base-domains-'));
  repo = join(root, 'repo');
  head = join(root, 'extracted', 'domains');
  await mkdir(join(repo, 'domains'), { recursive: true });
  await writeFile(join(repo, 'domains', '_defaults.yaml'), 'dns:\n  provider: cloudflare\n  zone: example.com\n  ttl: 3600\n');
  await writeFile(join(repo, 'domains', 'a.example.com.yaml'), file('reject'));
  await writeFile(join(repo, 'domains', 'b.example.com.yaml'), file('quarantine'));
  await writeFile(join(repo, 'domains', 'c.example.com.yaml'), file('reject'));
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-q', '-m', 'domains');
  // c was removed on main, and its record is still in DNS: a deletion pending on the base.
  git('rm', '-q', 'domains/c.example.com.yaml');
  git('commit', '-q', '-m', 'drop c');
  // The pull request's files: a weakened (its own risky change), b removed (its own deletion).
  await mkdir(head, { recursive: true });
  await cp(join(repo, 'domains', '_defaults.yaml'), join(head, '_defaults.yaml'));
  await writeFile(join(head, 'a.example.com.yaml'), file('none'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

function dns() {
  return fakeResolver(
    new FakeProvider('cloudflare', {
      'example.com': [
        { name: '_dmarc.a.example.com', ttl: 3600, value: `v=DMARC1; p=reject; ${rua}` },
        { name: '_dmarc.b.example.com', ttl: 3600, value: `v=DMARC1; p=quarantine; ${rua}` },
        { name: '_dmarc.c.example.com', ttl: 3600, value: `v=DMARC1; p=reject; ${rua}` },
      ],
    }),
  );
}

async function plan(args: string[]): Promise<Plan> {
  const command = makePlanCommand({ resolve: dns(), now: NOW });
  const all = ['--format', 'json', ...args];
  const { values, positionals } = parseCommandLine(command, all);
  const output = captureOutput();
  const code = await command.run(values, positionals, { args: all, output, env: {}, cwd: repo });
  expect(code, output.stderr.join('\n')).toBe(0);
  return JSON.parse(output.stdout.join('\n')) as Plan;
}

const summary = (planned: Plan) => {
  const { own, pending } = splitByBase(planned);
  return {
    own: own.map((change) => `${change.action} ${change.name}`),
    pending: pending.map((change) => `${change.action} ${change.name}`),
  };
};

describe('plan --base-domains', () => {
  test('a head folder outside git against the committed base folder: own and pending changes, the base commit recorded', async () => {
    const planned = await plan(['--domains', head, '--base-domains', 'domains']);
    expect(summary(planned)).toEqual({
      own: ['update _dmarc.a.example.com', 'delete _dmarc.b.example.com'],
      pending: ['delete _dmarc.c.example.com'],
    });
    expect(planned.base?.commit).toBe(git('rev-parse', 'HEAD'));
  });

  test('gives the plan --base gives when the same head is a commit of the repository', async () => {
    const viaFolder = await plan(['--domains', head, '--base-domains', 'domains']);
    const main = git('rev-parse', 'HEAD');
    git('checkout', '-q', '-b', 'change');
    await writeFile(join(repo, 'domains', 'a.example.com.yaml'), file('none'));
    await unlink(join(repo, 'domains', 'b.example.com.yaml'));
    git('commit', '-q', '-am', 'change');
    const viaRef = await plan(['--base', main]);
    expect(viaFolder.changes).toEqual(viaRef.changes);
    expect(viaFolder.checksum).toBe(viaRef.checksum);
    expect(viaFolder.base).toEqual(viaRef.base);
  });

  test('a base folder that differs from its commit, or outside git, is refused; --base and --base-domains together are a usage error', async () => {
    await writeFile(join(repo, 'domains', 'b.example.com.yaml'), file('reject'));
    await expect(plan(['--domains', head, '--base-domains', 'domains'])).rejects.toMatchObject({
      code: 'base-domains-uncommitted',
      message: expect.stringMatching(/^--base-domains domains: the folder differs from its commit [0-9a-f]{12} \(M /),
    });
    git('checkout', '-q', '--', 'domains');
    await writeFile(join(repo, 'domains', 'new.example.com.yaml'), file('none'));
    await expect(plan(['--domains', head, '--base-domains', 'domains'])).rejects.toMatchObject({ code: 'base-domains-uncommitted' });
    await expect(plan(['--domains', 'domains', '--base-domains', head])).rejects.toMatchObject({
      code: 'base-domains-uncommitted',
      message: expect.stringContaining('not in a git checkout with a commit'),
    });
    await expect(plan(['--domains', head, '--base', 'HEAD', '--base-domains', 'domains'])).rejects.toMatchObject({ exitCode: 2 });
  });
});
