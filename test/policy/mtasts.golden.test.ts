/**
 * Golden files for MTA-STS and TLS reporting over a table of domain files
 * (test/fixtures/domains/mta-sts-table): the records `dmarcops record` prints, as zone-file lines and
 * JSON, and every policy file byte for byte. The policy files are kept as JSON strings so their CRLF
 * line ends are visible in review and survive any git line-ending setting.
 * Update with `npx vitest run test/policy/mtasts.golden.test.ts -u` and read the diff.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import { loadDomainDir } from '../../scripts/policy/load.ts';
import { formatMtaStsPolicy, mtaStsId, mtaStsPolicyUrl, parseMtaStsPolicy, parseStsRecord } from '../../scripts/policy/mtasts.ts';
import { managedRecords } from '../../scripts/policy/record.ts';
import { captureOutput } from '../helpers/output.ts';

const DIR = 'test/fixtures/domains/mta-sts-table';

async function table() {
  const { domains, findings } = await loadDomainDir(DIR);
  expect(findings.filter((finding) => finding.severity === 'error')).toEqual([]);
  return domains.map((domain) => domain.policy);
}

describe('golden files over the MTA-STS table of domain files', () => {
  test('zone-file lines (dmarcops record)', async () => {
    const output = captureOutput();
    expect(await main(['record', '--domains', DIR], output, {})).toBe(0);
    await expect(`${output.text()}\n`).toMatchFileSnapshot('../golden/cli/mta-sts-table.zone');
  });

  test('JSON (dmarcops record --json)', async () => {
    const output = captureOutput();
    expect(await main(['record', '--domains', DIR, '--json'], output, {})).toBe(0);
    await expect(`${output.text()}\n`).toMatchFileSnapshot('../golden/cli/mta-sts-table.json');
  });

  test('policy files, byte for byte', async () => {
    const files = (await table()).flatMap((policy) => {
      if (policy.mtaSts === undefined) return [];
      const bytes = formatMtaStsPolicy(policy.mtaSts);
      return [
        {
          domain: policy.domain,
          url: mtaStsPolicyUrl(policy.domain),
          id: mtaStsId(policy.mtaSts),
          sha256: createHash('sha256').update(bytes).digest('hex'),
          bytes,
        },
      ];
    });
    await expect(`${JSON.stringify(files, null, 2)}\n`).toMatchFileSnapshot('../golden/mta-sts/policy-files.json');
  });
});

describe('what the goldens must show', () => {
  test('every policy file is RFC 8461 §3.2 key/value lines ended by CRLF, and reads back as the domain file says', async () => {
    for (const policy of await table()) {
      if (policy.mtaSts === undefined) continue;
      const text = formatMtaStsPolicy(policy.mtaSts);
      expect(text.endsWith('\r\n')).toBe(true);
      expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
      expect(text.split('\r\n')[0]).toBe('version: STSv1');
      const parsed = parseMtaStsPolicy(text);
      expect(parsed.problems).toEqual([]);
      expect(parsed.lineEnds).toBe('crlf');
      expect(parsed.mode).toBe(policy.mtaSts.mode);
      expect(parsed.maxAge).toBe(policy.mtaSts.maxAge);
      expect([...parsed.mx].sort()).toEqual([...new Set(policy.mtaSts.mx)].sort());
    }
  });

  test('each _mta-sts record carries the id of its policy file; an explicit id is published as written', async () => {
    const policies = await table();
    for (const record of managedRecords(policies).filter((entry) => entry.purpose === 'mta-sts')) {
      const policy = policies.find((entry) => entry.domain === record.domain);
      const parsed = parseStsRecord(record.values[0] ?? '');
      expect(parsed.problems).toEqual([]);
      if (policy?.mtaSts?.id !== undefined) expect(parsed.id).toBe(policy.mtaSts.id);
      else expect(parsed.id).toBe(createHash('sha256').update(formatMtaStsPolicy(policy!.mtaSts!)).digest('hex').slice(0, 32));
      expect(record.name).toBe(`_mta-sts.${record.domain}`);
      expect(record.zone).toBe(policy?.dns.zone);
    }
  });

  test('the same policy written in another order and case gives the same file and id; another policy another id', async () => {
    const byDomain = new Map((await table()).map((policy) => [policy.domain, policy]));
    const enforce = byDomain.get('enforce.example')?.mtaSts;
    const reordered = byDomain.get('reordered.example')?.mtaSts;
    const testing = byDomain.get('testing.example')?.mtaSts;
    expect(formatMtaStsPolicy(reordered!)).toBe(formatMtaStsPolicy(enforce!));
    expect(mtaStsId(reordered!)).toBe(mtaStsId(enforce!));
    expect(mtaStsId(testing!)).not.toBe(mtaStsId(enforce!));
  });

  test('a domain with tls_reports and no mta_sts gets _smtp._tls only; no tls_reports, no _smtp._tls', async () => {
    const records = managedRecords(await table());
    const names = (domain: string) => records.filter((record) => record.domain === domain).map((record) => record.name);
    expect(names('tls-only.example')).toEqual(['_dmarc.tls-only.example', '_smtp._tls.tls-only.example']);
    expect(records.find((record) => record.name === '_smtp._tls.testing.example')?.values).toEqual([
      'v=TLSRPTv1; rua=mailto:tls@testing.example,https://tlsrpt.vendor.example/v1/report',
    ]);
  });
});
