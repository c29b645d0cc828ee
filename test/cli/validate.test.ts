import { describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import { captureOutput } from '../helpers/output.ts';

const TYPOS = 'test/fixtures/domains/typos';

describe('dmarcops validate', () => {
  test('the shipped domains are valid', async () => {
    const output = captureOutput();
    expect(await main(['validate'], output, {})).toBe(0);
    expect(output.text()).toMatch(/0 errors/);
  });

  test('a typo, an unknown key and a ruf give three errors at their line:col, exit 1', async () => {
    const output = captureOutput();
    expect(await main(['validate', '--domains', TYPOS], output, {})).toBe(1);
    const heads = output.stdout.filter((line) => line.startsWith(TYPOS));
    expect(heads.map((line) => line.split(': ')[0])).toEqual([
      `${TYPOS}/typos.example.yaml:2:9`,
      `${TYPOS}/typos.example.yaml:3:1`,
      `${TYPOS}/typos.example.yaml:6:1`,
    ]);
    await expect(output.text()).toMatchFileSnapshot('../golden/cli/validate-typos.txt');
  });

  test('under GitHub Actions each finding is also an ::error annotation', async () => {
    const output = captureOutput();
    await main(['validate', '--domains', TYPOS], output, { GITHUB_ACTIONS: 'true' });
    const annotations = output.stdout.filter((line) => line.startsWith('::'));
    expect(annotations).toHaveLength(3);
    expect(annotations[0]).toMatch(new RegExp(`^::error file=${TYPOS}/typos.example.yaml,line=2,col=9,title=dmarcops invalid-value::`));
    expect(annotations.every((line) => !line.includes('\n'))).toBe(true);
  });

  test('--json prints the findings as data', async () => {
    const output = captureOutput();
    await main(['validate', '--domains', TYPOS, '--json'], output, {});
    const result = JSON.parse(output.text());
    expect(result.ok).toBe(false);
    expect(result.counts).toEqual({ error: 3, warning: 0, info: 0 });
    expect(result.findings.map((finding: { rule: string }) => finding.rule)).toEqual([
      'invalid-value',
      'unknown-key',
      'failure-reports-refused',
    ]);
  });

  test('naming one file reports only that file', async () => {
    const output = captureOutput();
    expect(await main(['validate', '--domains', 'domains', 'domains/example.org.yaml', '--json'], output, {})).toBe(0);
    const result = JSON.parse(output.text());
    expect(new Set(result.findings.map((finding: { file: string }) => finding.file))).toEqual(new Set(['domains/example.org.yaml']));
  });

  test('--strict fails on warnings', async () => {
    expect(await main(['validate', '--strict'], captureOutput(), {})).toBe(1);
  });

  test('a missing domains folder is an error that names it', async () => {
    const output = captureOutput();
    expect(await main(['validate', '--domains', 'no/such/dir'], output, {})).toBe(1);
    expect(output.stderr.join('\n')).toMatch(/cannot read the domains folder no\/such\/dir/);
  });
});

describe('the command line', () => {
  test('--help lists every command; no command is a usage error', async () => {
    const output = captureOutput();
    expect(await main(['--help'], output, {})).toBe(0);
    for (const name of ['validate', 'new', 'record', 'codeowners', 'rules']) expect(output.text()).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(await main([], captureOutput(), {})).toBe(2);
  });

  test('every command has --help', async () => {
    for (const name of ['validate', 'new', 'record', 'codeowners', 'rules']) {
      const output = captureOutput();
      expect(await main([name, '--help'], output, {})).toBe(0);
      expect(output.text()).toMatch(/^usage: dmarcops /m);
    }
  });

  test('unknown commands and flags exit 2', async () => {
    expect(await main(['frobnicate'], captureOutput(), {})).toBe(2);
    const output = captureOutput();
    expect(await main(['validate', '--no-such-flag'], output, {})).toBe(2);
    expect(output.stderr[0]).toMatch(/Unknown option '--no-such-flag'/);
  });
});
