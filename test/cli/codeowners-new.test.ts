import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import { validateDomains } from '../../scripts/policy/validate.ts';
import { captureOutput } from '../helpers/output.ts';

describe('dmarcops codeowners', () => {
  test('the committed .github/CODEOWNERS is up to date', async () => {
    const output = captureOutput();
    expect(await main(['codeowners', '--check'], output, {})).toBe(0);
  });

  test('writes the file, then --check passes; a changed owner makes --check fail with a diff', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmarcops-codeowners-'));
    await cp('domains', join(dir, 'domains'), { recursive: true });
    const file = join(dir, 'CODEOWNERS');
    expect(await main(['codeowners', '--domains', join(dir, 'domains'), '--output', file], captureOutput(), {})).toBe(0);
    expect(await readFile(file, 'utf8')).toMatch(/example\.com\.yaml @example-org\/mail-admins @alice$/m);
    expect(await main(['codeowners', '--check', '--domains', join(dir, 'domains'), '--output', file], captureOutput(), {})).toBe(0);

    const domainFile = join(dir, 'domains', 'example.org.yaml');
    await writeFile(domainFile, `${await readFile(domainFile, 'utf8')}owners: ["@example-org/brand"]\n`);
    const output = captureOutput();
    expect(await main(['codeowners', '--check', '--domains', join(dir, 'domains'), '--output', file], output, {})).toBe(1);
    expect(output.text()).toMatch(/^\+ .*example\.org\.yaml @example-org\/brand$/m);
  });

  test('the file has a catch-all and admin lines for .github/, scripts/, the lockfile and CODEOWNERS; --check fails without them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmarcops-codeowners-'));
    await cp('domains', join(dir, 'domains'), { recursive: true });
    const file = join(dir, 'CODEOWNERS');
    expect(await main(['codeowners', '--domains', join(dir, 'domains'), '--output', file], captureOutput(), {})).toBe(0);
    const text = await readFile(file, 'utf8');
    const admins = '@example-org/dmarcops-admins';
    for (const line of [
      `* ${admins}`,
      `/.github/ ${admins}`,
      `/scripts/ ${admins}`,
      `/package-lock.json ${admins}`,
      `/package.json ${admins}`,
      `/.github/CODEOWNERS ${admins}`,
      `/domains/_defaults.yaml ${admins}`,
    ]) {
      expect(text.split('\n'), line).toContain(line);
    }

    // The file as it was before admins existed: domain lines only.
    const old = text
      .split('\n')
      .filter((line) => line.startsWith('/domains/') && !line.startsWith('/domains/_defaults'))
      .join('\n');
    await writeFile(file, `${old}\n`);
    const output = captureOutput();
    expect(await main(['codeowners', '--check', '--domains', join(dir, 'domains'), '--output', file], output, {})).toBe(1);
    expect(output.text()).toMatch(/out of date/);
    expect(output.text()).toContain(`  * ${admins}   (the catch-all: new files and everything not named)`);
    expect(output.text()).toContain(`  /.github/CODEOWNERS ${admins}`);
    expect(output.text()).toContain(`  /package-lock.json ${admins}`);
  });

  test('without admins: codeowners and --check fail and say how to declare them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmarcops-codeowners-'));
    await cp('domains', join(dir, 'domains'), { recursive: true });
    const defaults = join(dir, 'domains', '_defaults.yaml');
    await writeFile(defaults, (await readFile(defaults, 'utf8')).replace(/^admins:\n( {2}- .*\n)+/m, ''));
    for (const extra of [[], ['--check']]) {
      const output = captureOutput();
      expect(await main(['codeowners', ...extra, '--domains', join(dir, 'domains'), '--output', join(dir, 'CODEOWNERS')], output, {})).toBe(
        1,
      );
      expect(output.stderr.join('\n')).toMatch(/no `admins:` in .*_defaults\.yaml/);
      expect(output.stderr.join('\n')).toMatch(/^ {2}admins:$/m);
    }
  });

  test('admins: in a domain file is an error at its key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmarcops-codeowners-'));
    await cp('domains', join(dir, 'domains'), { recursive: true });
    const domainFile = join(dir, 'domains', 'example.org.yaml');
    await writeFile(domainFile, `${await readFile(domainFile, 'utf8')}admins: ["@mallory"]\n`);
    const output = captureOutput();
    expect(await main(['codeowners', '--domains', join(dir, 'domains'), '--output', join(dir, 'CODEOWNERS')], output, {})).toBe(1);
    expect(output.stderr.join('\n')).toMatch(
      /example\.org\.yaml:\d+:1: error: only the defaults file can set `admins`.*\[admins-outside-defaults\]/,
    );
  });
});

describe('dmarcops new', () => {
  test('scaffolds a file that validates, and never overwrites it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmarcops-new-'));
    await cp('domains/_defaults.yaml', join(dir, '_defaults.yaml'));
    const output = captureOutput();
    expect(await main(['new', 'shop.example.co.uk', '--domains', dir], output, {})).toBe(0);
    const text = await readFile(join(dir, 'shop.example.co.uk.yaml'), 'utf8');
    expect(text.split('\n')[0]).toMatch(/^# yaml-language-server: \$schema=/);
    expect(text).toMatch(/^ {2}zone: example\.co\.uk$/m);
    const result = await validateDomains(dir);
    expect(result.findings.filter((finding) => finding.severity !== 'info')).toEqual([]);

    const again = captureOutput();
    expect(await main(['new', 'shop.example.co.uk', '--domains', dir], again, {})).toBe(1);
    expect(again.stderr.join('\n')).toMatch(/already exists/);
    expect(await readFile(join(dir, 'shop.example.co.uk.yaml'), 'utf8')).toBe(text);
  });

  test('creates the domains folder when a new repository has none yet', async () => {
    const root = await mkdtemp(join(tmpdir(), 'dmarcops-new-'));
    const dir = join(root, 'domains');
    const output = captureOutput();
    expect(await main(['new', 'example.net', '--domains', dir], output, {})).toBe(0);
    expect(output.text()).toContain(`created the folder ${dir}`);
    expect(output.text()).toContain(`created ${join(dir, 'example.net.yaml')}`);
    // Without defaults the scaffold still validates: the policy is written into the file itself.
    const result = await validateDomains(dir);
    expect(result.findings.filter((finding) => finding.severity === 'error')).toEqual([]);
  });

  test('needs exactly one domain', async () => {
    expect(await main(['new'], captureOutput(), {})).toBe(2);
  });
});
