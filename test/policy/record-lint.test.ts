import { expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import { lintPublishedRecord } from '../../scripts/policy/record-lint.ts';
import { captureOutput } from '../helpers/output.ts';

const ids = (input: string | string[]) =>
  lintPublishedRecord(input)
    .map((finding) => finding.id)
    .sort();

test.for([
  ['v=DMARC1; p=reject; rua=mailto:d@example.com', []],
  ['v=spf1 include:_spf.example.com -all', ['record-spf-at-dmarc', 'record-version-invalid']],
  ['v=dmarc1; p=reject', ['record-version-invalid']],
  [' v=DMARC1; p=reject; rua=mailto:d@example.com', ['record-leading-whitespace']],
  ['v=DMARC1; rua=mailto:d@example.com', ['record-p-missing']],
  ['v=DMARC1; rua=mailto:d@example.com; p=quarantine', ['record-p-not-second']],
  ['v=DMARC1; p=none; rua=mailto:d@example.com', ['record-p-none']],
  ['v=DMARC1; p=rejectt; rua=mailto:d@example.com', ['record-invalid-value']],
  ['v=DMARC1; p=reject; p=none; rua=mailto:d@example.com', ['record-duplicate-tag']],
  ['v=DMARC1; p=reject; adkim=x; rua=mailto:d@example.com', ['record-invalid-value']],
  ['v=DMARC1; p=reject; sp=none; rua=mailto:d@example.com', ['record-sp-weaker']],
  ['v=DMARC1; p=reject; np=quarantine; rua=mailto:d@example.com', ['record-np-weaker']],
  ['v=DMARC1; p=quarantine; pct=0; rua=mailto:d@example.com', ['record-pct-removed']],
  ['v=DMARC1; p=reject; rf=afrf; ri=3600; rua=mailto:d@example.com', ['record-rf-removed', 'record-ri-removed']],
  ['v=DMARC1; p=reject; t=y; rua=mailto:d@example.com', ['record-testing-with-reject']],
  ['v=DMARC1; p=reject; fo=0:1; rua=mailto:d@example.com', ['record-fo-0-and-1', 'record-fo-without-ruf']],
  ['v=DMARC1; p=reject; rua=mailto:d@example.com; ruf=mailto:f@example.com', ['record-ruf']],
  ['v=DMARC1; p=reject', ['record-no-rua']],
  ['v=DMARC1; p=reject; rua=mailto:a@x.com,mailto:b@x.com,mailto:c@x.com', ['record-too-many-uris']],
  ['v=DMARC1; p=reject; rua=mailto:a@x.com,mailto:a@x.com', ['record-duplicate-uri']],
  ['v=DMARC1; p=reject; rua=https://x.example/dmarc', ['record-uri-not-mailto']],
  ['v=DMARC1; p=reject; rua=mailto:a@x.com!10m', ['record-size-obsolete']],
  ['v=DMARC1; p=reject; rua=mailto:a@x.com!10q', ['record-invalid-size', 'record-size-obsolete']],
] as [string, string[]][])('%s', ([record, expected]) => {
  expect(ids(record)).toEqual([...expected].sort());
});

test('character-string layout: too long, split mid-tag', () => {
  const long = `v=DMARC1; p=reject; rua=${Array.from({ length: 12 }, (_, index) => `mailto:aggregate-${index}@example.com`).join(',')}`;
  expect(ids(long)).toEqual(['record-needs-split', 'record-string-too-long', 'record-too-many-uris']);
  expect(ids(['v=DMARC1; p=rej', 'ect; rua=mailto:d@example.com'])).toEqual(['record-split-mid-tag']);
});

test('dmarcops check-record exits 1 on errors and 0 on warnings only', async () => {
  expect(await main(['check-record', 'v=spf1 -all'], captureOutput(), {})).toBe(1);
  const output = captureOutput();
  expect(await main(['check-record', 'v=DMARC1; p=reject; pct=50; rua=mailto:d@example.com'], output, {})).toBe(0);
  expect(output.text()).toMatch(/\[record-pct-removed\]/);
  expect(output.text()).toMatch(/^canonical: v=DMARC1; p=reject; pct=50; rua=mailto:d@example.com$/m);
});
