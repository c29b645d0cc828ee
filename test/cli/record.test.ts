import { describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import { loadDomainDir } from '../../scripts/policy/load.ts';
import { formatDmarcRecord, parseDmarcRecord, policyRecord } from '../../scripts/policy/record.ts';
import { captureOutput } from '../helpers/output.ts';

/** The quoted character-strings of a zone-file TXT line, unescaped. */
function txtStrings(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((match) => (match[1] ?? '').replace(/\\(.)/g, '$1'));
}

describe('dmarcops record', () => {
  test('prints _dmarc.example.com, and the TXT content parses back to the domain file policy', async () => {
    const output = captureOutput();
    expect(await main(['record', 'example.com'], output, {})).toBe(0);
    const line = output.stdout
      .join('\n')
      .split('\n')
      .find((entry) => entry.startsWith('_dmarc.example.com. '));
    expect(line).toBeDefined();
    const strings = txtStrings(line ?? '');
    const parsed = parseDmarcRecord(strings);
    expect(parsed.isDmarc).toBe(true);
    expect(parsed.problems).toEqual([]);
    const { domains } = await loadDomainDir('domains');
    const policy = domains.find((domain) => domain.policy.domain === 'example.com')?.policy;
    expect(policy).toBeDefined();
    expect(parsed.record).toStrictEqual(policyRecord(policy!));
    expect(formatDmarcRecord(parsed.record)).toBe(strings.join(''));
  });

  test('--json gives the records as data with their character-strings', async () => {
    const output = captureOutput();
    await main(['record', 'example.org', '--json'], output, {});
    const result = JSON.parse(output.text());
    expect(result.records.map((record: { name: string }) => record.name)).toEqual([
      '_dmarc.example.org',
      'example.org._report._dmarc.example.com',
    ]);
    expect(result.unmanagedAuthorizations).toEqual([
      { host: 'dmarc-vendor.example.net', recordName: 'example.org._report._dmarc.dmarc-vendor.example.net' },
    ]);
  });

  test('an unknown domain is an error that says how to create it', async () => {
    const output = captureOutput();
    expect(await main(['record', 'nope.example'], output, {})).toBe(1);
    expect(output.stderr.join('\n')).toMatch(/dmarcops new nope\.example/);
  });

  test('invalid domain files stop the command with their findings', async () => {
    const output = captureOutput();
    expect(await main(['record', '--domains', 'test/fixtures/domains/typos'], output, {})).toBe(1);
    expect(output.stderr.join('\n')).toMatch(/typos\.example\.yaml:2:9/);
  });
});

// Golden files: a table of domain files covering every tag the generator writes, rendered as users read it.
describe('record golden files over a table of domain files', () => {
  const DIR = 'test/fixtures/domains/record-table';

  test('zone-file lines', async () => {
    const output = captureOutput();
    expect(await main(['record', '--domains', DIR], output, {})).toBe(0);
    await expect(`${output.text()}\n`).toMatchFileSnapshot('../golden/cli/record-table.zone');
  });

  test('JSON', async () => {
    const output = captureOutput();
    await main(['record', '--domains', DIR, '--json'], output, {});
    await expect(`${output.text()}\n`).toMatchFileSnapshot('../golden/cli/record-table.json');
  });

  test('the table covers every tag dmarcops writes', async () => {
    const output = captureOutput();
    await main(['record', '--domains', DIR], output, {});
    const text = output.text().replace(/" "/g, '');
    for (const tag of ['p', 'sp', 'np', 'adkim', 'aspf', 'pct', 't', 'psd', 'rua', 'ri']) expect(text).toMatch(new RegExp(`; ${tag}=`));
    expect(text).toMatch(/!10m/);
    expect(text).toMatch(/_report\._dmarc\./);
  });
});
