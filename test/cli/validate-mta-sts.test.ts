/**
 * `dmarcops validate --base <ref>` (rules that compare a domain file with its previous version) and
 * `--live-dns` (MTA-STS mx patterns against the domain's MX records, through an injected resolver).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Command } from '../../scripts/cli/command.ts';
import { makeValidateCommand } from '../../scripts/cli/validate.ts';
import type { MxLookup } from '../../scripts/policy/mx.ts';
import { captureOutput } from '../helpers/output.ts';
import { parseCommandLine } from '../../scripts/cli.ts';

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
const HEAD =
  '# yaml-language-server: $schema=../scripts/policy/domain.schema.json\n' +
  'policy: reject\nreports: [r@a.example]\ntls_reports: [t@a.example]\nowners: ["@o/t"]\n';

async function run(command: Command, args: string[]) {
  const { values, positionals } = parseCommandLine(command, args);
  const output = captureOutput();
  const code = await command.run(values, positionals, { args, output, env: {}, cwd: process.cwd() });
  return { code, text: output.text() };
}

let repo: string;
beforeEach(async () => {
  repo = await mkdtemp(join(tmpdir(), 'dmarcops-validate-base-'));
  git(repo, 'init', '-q', '-b', 'main');
  await mkdir(join(repo, 'domains'));
});
afterEach(async () => {
  await rm(repo, { recursive: true, force: true });
});

async function commit(files: Record<string, string>, message: string) {
  for (const [name, text] of Object.entries(files)) await writeFile(join(repo, 'domains', name), text);
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', message);
}

describe('validate --base', () => {
  test('testing → enforce passes; none → enforce warns (mode transitions pass through testing); without --base nothing is said', async () => {
    await commit({ 'a.example.yaml': `${HEAD}mta_sts: {mode: testing, mx: [mx.a.example]}\n`, 'b.example.yaml': HEAD }, 'base');
    await writeFile(join(repo, 'domains/a.example.yaml'), `${HEAD}mta_sts: {mode: enforce, mx: [mx.a.example]}\n`);
    await writeFile(join(repo, 'domains/b.example.yaml'), `${HEAD}mta_sts: {mode: enforce, mx: [mx.b.example]}\n`);
    const domains = join(repo, 'domains');

    const withBase = await run(makeValidateCommand(), ['--domains', domains, '--base', 'main', '--strict']);
    expect(withBase.code).toBe(1);
    expect(withBase.text).toMatch(
      /b\.example\.yaml:6:\d+: warning: MTA-STS goes from no MTA-STS straight to enforce.*\[mta-sts-skips-testing\]/,
    );
    expect(withBase.text).not.toMatch(/a\.example\.yaml.*mta-sts-skips-testing/);

    const without = await run(makeValidateCommand(), ['--domains', domains, '--strict']);
    expect(without.code).toBe(0);
    expect(without.text).not.toMatch(/mta-sts-skips-testing/);
  });

  test('an explicit id kept while the policy changed is an error against the base', async () => {
    await commit({ 'a.example.yaml': `${HEAD}mta_sts: {mode: testing, mx: [mx.a.example], id: v1}\n` }, 'base');
    await writeFile(join(repo, 'domains/a.example.yaml'), `${HEAD}mta_sts: {mode: testing, mx: [mx.a.example, mx2.a.example], id: v1}\n`);
    const result = await run(makeValidateCommand(), ['--domains', join(repo, 'domains'), '--base', 'HEAD']);
    expect(result.code).toBe(1);
    expect(result.text).toMatch(/error: the policy changed but its id is still v1.*\[mta-sts-id-unchanged\]/);
  });

  test('a ref that does not exist is an error naming it', async () => {
    await commit({ 'a.example.yaml': HEAD }, 'base');
    await expect(run(makeValidateCommand(), ['--domains', join(repo, 'domains'), '--base', 'no-such-branch'])).rejects.toThrow(
      /no-such-branch/,
    );
  });
});

describe('validate --live-dns', () => {
  const files = {
    'enforce.example.yaml': `${HEAD}mta_sts:\n  mode: enforce\n  mx: [mx1.enforce.example]\n  max_age: 604800\n`,
    'testing.example.yaml': `${HEAD}mta_sts:\n  mode: testing\n  mx: ["*.mail.testing.example"]\n`,
    'plain.example.yaml': HEAD,
  };
  const answers: Record<string, MxLookup> = {
    'enforce.example': { status: 'found', exchanges: ['mx1.enforce.example', 'mx2.enforce.example'] },
    'testing.example': { status: 'found', exchanges: ['a.b.mail.testing.example'] },
  };

  test('MX hosts no pattern covers: an error in enforce, a warning in testing; only domains with mta_sts are looked up', async () => {
    for (const [name, text] of Object.entries(files)) await writeFile(join(repo, 'domains', name), text);
    const asked: string[] = [];
    const mxResolver = async (domain: string): Promise<MxLookup> => {
      asked.push(domain);
      return answers[domain] ?? { status: 'nxdomain' };
    };
    const result = await run(makeValidateCommand({ mxResolver }), ['--domains', join(repo, 'domains'), '--live-dns']);
    expect(asked.sort()).toEqual(['enforce.example', 'testing.example']);
    expect(result.code).toBe(1);
    expect(result.text).toContain(
      'enforce.example.yaml:8:3: error: MX host mx2.enforce.example matches no mta_sts.mx pattern: ' +
        'senders refuse to deliver to it [mta-sts-mx-not-covered]',
    );
    expect(result.text).toMatch(
      /testing\.example\.yaml:8:3: warning: MX host a\.b\.mail\.testing\.example matches no mta_sts\.mx pattern: in enforce mode/,
    );
    expect(result.text).toMatch(/testing\.example\.yaml:8:8: info: mx \*\.mail\.testing\.example matches none of the MX hosts/);
  });

  test('without --live-dns no lookup is made', async () => {
    for (const [name, text] of Object.entries(files)) await writeFile(join(repo, 'domains', name), text);
    const mxResolver = async (): Promise<MxLookup> => {
      throw new Error('looked up without --live-dns');
    };
    const result = await run(makeValidateCommand({ mxResolver }), ['--domains', join(repo, 'domains')]);
    expect(result.code).toBe(0);
    expect(result.text).not.toMatch(/mta-sts-mx-not-covered/);
  });

  test('a lookup that fails, and a domain without MX, are warnings that say so', async () => {
    await writeFile(join(repo, 'domains/enforce.example.yaml'), files['enforce.example.yaml']);
    await writeFile(join(repo, 'domains/testing.example.yaml'), files['testing.example.yaml']);
    const mxResolver = async (domain: string): Promise<MxLookup> =>
      domain === 'enforce.example' ? { status: 'error', code: 'ETIMEOUT', message: 'timeout' } : { status: 'nodata' };
    const result = await run(makeValidateCommand({ mxResolver }), ['--domains', join(repo, 'domains'), '--live-dns']);
    expect(result.code).toBe(0);
    expect(result.text).toMatch(/warning: cannot look up the MX records of enforce\.example: ETIMEOUT/);
    expect(result.text).toMatch(/warning: testing\.example has no MX records \(nodata\)/);
  });
});
