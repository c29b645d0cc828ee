/**
 * `dmarcops ingest --retry`: what was set aside (foreign, invalid) is read again once the cause is
 * fixed — a domain file added, dmarcops upgraded — from the original files or, for foreign reports,
 * from the quarantine itself, without doubling anything and without deleting or copying the
 * quarantined files. Invalid inputs are not kept in the dataset: they are retried from the originals.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import type { IngestSummary } from '../../scripts/reports/pipeline.ts';
import { committedRecordsSql, findReports } from '../../scripts/reports/store/index.ts';
import { openDuck } from '../../scripts/reports/store/duck.ts';
import { mail, reportXml } from '../fixtures/unpack/make.ts';
import { captureOutput } from '../helpers/output.ts';

const PREFIX = join(tmpdir(), 'dmarcops-retry-');
const NEW_DOMAIN = 'newdomain.example';

let dir: string;
let inbox: string;

/** The inputs: one report of ours, three for a domain we do not have yet (in three containers), one for a stranger, one broken. */
async function writeInbox(path: string): Promise<void> {
  await mkdir(path);
  await writeFile(join(path, '01-ours.xml'), reportXml('ours-1', 4, 'example.com'));
  // Each foreign report is kept as its XML, gzipped: a plain XML file, a gzip, and a mail (whose
  // headers and body are not kept, only the report it carries).
  await writeFile(join(path, '02-new.xml'), reportXml('new-1', 5, NEW_DOMAIN));
  await writeFile(join(path, '03-new.xml.gz'), gzipSync(reportXml('new-2', 3, NEW_DOMAIN)));
  await writeFile(
    join(path, '04-new.eml'),
    mail({ Subject: `Report Domain: ${NEW_DOMAIN}`, 'Message-ID': '<new-3@receiver.example>' }, [
      { type: 'application/gzip', filename: 'r.xml.gz', body: gzipSync(reportXml('new-3', 2, NEW_DOMAIN)), encoding: 'base64' },
    ]),
  );
  await writeFile(join(path, '05-stranger.xml'), reportXml('stranger-1', 1, 'stranger.example'));
  await writeFile(join(path, '06-truncated.xml'), reportXml('cut-1', 5, 'example.com').slice(0, 700));
}

/** A dataset and a domains folder of its own (a copy of domains/, to which a test adds a domain). */
async function workspace(name: string): Promise<{ data: string; domains: string }> {
  const domains = join(dir, `${name}-domains`);
  await cp('domains', domains, { recursive: true });
  return { data: join(dir, `${name}-reports`), domains };
}

async function ingest(data: string, domains: string, ...args: string[]): Promise<IngestSummary> {
  const output = captureOutput();
  const code = await main(['ingest', ...args, '--data', data, '--domains', domains, '--offline', '--json'], output, {});
  expect(code, output.stderr.join('\n')).toBe(0);
  return JSON.parse(output.text()) as IngestSummary;
}

async function addDomain(domains: string): Promise<void> {
  const output = captureOutput();
  expect(await main(['new', NEW_DOMAIN, '--domains', domains], output, {}), output.stderr.join('\n')).toBe(0);
}

/** Rows per report id in the committed dataset. */
async function rowsByReport(data: string): Promise<Record<string, number>> {
  const duck = await openDuck();
  try {
    const rows = await duck.rows<{ report_id: string; n: number }>(
      `SELECT report_id, count(*)::INTEGER AS n FROM (${committedRecordsSql(data)}) GROUP BY 1 ORDER BY 1`,
    );
    return Object.fromEntries(rows.map((row) => [row.report_id, row.n]));
  } finally {
    duck.close();
  }
}

/** Every file under quarantine/, by outcome folder (only `foreign` is ever written). */
async function quarantined(data: string): Promise<Record<string, string[]>> {
  const root = join(data, 'quarantine');
  const listing: Record<string, string[]> = {};
  for (const outcome of (await readdir(root)).sort()) listing[outcome] = (await readdir(join(root, outcome))).sort();
  return listing;
}

const STORED_AT_FIRST = { 'ours-1': 4 };
const STORED_AFTER_RETRY = { 'new-1': 5, 'new-2': 3, 'new-3': 2, 'ours-1': 4 };

beforeAll(async () => {
  dir = await mkdtemp(PREFIX);
  inbox = join(dir, 'inbox');
  await writeInbox(inbox);
});

afterAll(async () => {
  if (dir?.startsWith(PREFIX)) await rm(dir, { recursive: true, force: true });
});

describe('ingest --retry of the original files, once the domain is added', () => {
  let data: string;
  let domains: string;
  let kept: Record<string, string[]>;

  beforeAll(async () => {
    ({ data, domains } = await workspace('originals'));
  });

  test('first run: the reports for the missing domain are foreign and quarantined', async () => {
    const first = await ingest(data, domains, inbox);
    expect(first.reports).toEqual({ stored: 1, duplicate: 0, foreign: 4, invalid: 1 });
    expect(first.foreign.map((entry) => entry.policyDomain).sort()).toEqual([NEW_DOMAIN, NEW_DOMAIN, NEW_DOMAIN, 'stranger.example']);
    expect(await rowsByReport(data)).toEqual(STORED_AT_FIRST);
    kept = await quarantined(data);
    expect(Object.keys(kept)).toEqual(['foreign']);
    expect(kept.foreign).toHaveLength(4);
    // The report alone, by the hash of its XML: the mail around new-3 is not kept.
    const xmls = [
      reportXml('new-1', 5, NEW_DOMAIN),
      reportXml('new-2', 3, NEW_DOMAIN),
      reportXml('new-3', 2, NEW_DOMAIN),
      reportXml('stranger-1', 1, 'stranger.example'),
    ];
    expect(kept.foreign).toEqual(xmls.map((xml) => `${createHash('sha256').update(xml).digest('hex')}.xml.gz`).sort());
    for (const file of kept.foreign!)
      expect(gunzipSync(await readFile(join(data, 'quarantine', 'foreign', file))).toString()).toMatch(/^<\?xml|^<feedback/);
  });

  test('without --retry, the same files are already ingested: nothing is stored', async () => {
    await addDomain(domains);
    const again = await ingest(data, domains, inbox);
    expect(again.alreadyIngested).toBe(6);
    expect(again.reports).toEqual({ stored: 0, duplicate: 0, foreign: 0, invalid: 0 });
    expect(await rowsByReport(data)).toEqual(STORED_AT_FIRST);
  });

  test('with --retry, they are stored with their records; the stored one is a duplicate; the rest stays aside with its reason', async () => {
    const retry = await ingest(data, domains, '--retry', inbox);
    expect(retry.alreadyIngested).toBe(0);
    expect(retry.reports).toEqual({ stored: 3, duplicate: 1, foreign: 1, invalid: 1 });
    expect(retry.records).toBe(10);
    expect(retry.foreign).toEqual([{ source: join(inbox, '05-stranger.xml'), policyDomain: 'stranger.example', kind: 'aggregate' }]);
    expect(retry.invalid).toHaveLength(1);
    expect(retry.invalid[0]?.source).toContain('06-truncated.xml');
    expect(retry.invalid[0]?.reason).toMatch(/truncated/);
    expect(await rowsByReport(data)).toEqual(STORED_AFTER_RETRY);
    // Nothing deleted, nothing copied.
    expect(await quarantined(data)).toEqual(kept);
  });

  test('the ledger tells the story: foreign first, stored by the retry', async () => {
    const rows = await findReports(data, { domain: NEW_DOMAIN });
    const byReport = (id: string) => rows.filter((row) => row.reportId === id).map((row) => [row.outcome, row.records]);
    expect(byReport('new-1')).toEqual([
      ['foreign', 5],
      ['stored', 5],
    ]);
    expect(byReport('new-2')).toEqual([
      ['foreign', 3],
      ['stored', 3],
    ]);
    expect(byReport('new-3')).toEqual([
      ['foreign', 2],
      ['stored', 2],
    ]);
  });

  test('a second retry is idempotent: duplicates, the dataset unchanged, the invalid input still invalid', async () => {
    const twice = await ingest(data, domains, '--retry', inbox);
    expect(twice.reports).toEqual({ stored: 0, duplicate: 4, foreign: 1, invalid: 1 });
    expect(twice.records).toBe(0);
    expect(twice.invalid[0]?.reason).toMatch(/truncated/);
    expect(await rowsByReport(data)).toEqual(STORED_AFTER_RETRY);
    expect(await quarantined(data)).toEqual(kept);
  });

  test('the text summary says where what it set aside is, and how to retry it', async () => {
    const output = captureOutput();
    expect(
      await main(
        [
          'ingest',
          '--retry',
          join(inbox, '05-stranger.xml'),
          join(inbox, '06-truncated.xml'),
          '--data',
          data,
          '--domains',
          domains,
          '--offline',
        ],
        output,
        {},
      ),
    ).toBe(0);
    expect(output.stdout).toContain(
      `  (foreign reports kept in ${data}/quarantine/foreign/; after adding the domain: dmarcops ingest --retry ${data}/quarantine --data ${data})`,
    );
    expect(output.stdout).toContain(
      `  (invalid and unsupported inputs are not kept in ${data}/, only their ledger rows: ` +
        `the files stay where they are; after upgrading dmarcops: dmarcops ingest --retry <files> --data ${data})`,
    );
  });
});

describe('ingest --retry of the quarantine folder itself', () => {
  let data: string;
  let domains: string;
  let kept: Record<string, string[]>;

  beforeAll(async () => {
    ({ data, domains } = await workspace('quarantine'));
    const first = await ingest(data, domains, inbox);
    expect(first.reports).toEqual({ stored: 1, duplicate: 0, foreign: 4, invalid: 1 });
    kept = await quarantined(data);
  });

  test('before the cause is fixed, a retry changes nothing and copies no quarantined file', async () => {
    const early = await ingest(data, domains, '--retry', join(data, 'quarantine'));
    expect(early.items).toBe(4);
    expect(early.reports).toEqual({ stored: 0, duplicate: 0, foreign: 4, invalid: 0 });
    expect(await rowsByReport(data)).toEqual(STORED_AT_FIRST);
    expect(await quarantined(data)).toEqual(kept);
    // The new ledger rows point at the files that were read.
    const rows = await findReports(data, { outcome: ['foreign', 'invalid'] });
    const paths = rows.map((row) => row.quarantinePath).filter((path): path is string => path !== null);
    expect(new Set(paths)).toEqual(
      new Set(Object.entries(kept).flatMap(([outcome, files]) => files.map((file) => `quarantine/${outcome}/${file}`))),
    );
    // The invalid input has its ledger row only.
    expect(rows.filter((row) => row.outcome === 'invalid').map((row) => [row.sourceName, row.quarantinePath, row.sourceBytes])).toEqual([
      [join(inbox, '06-truncated.xml'), null, 700],
    ]);
  });

  test('once the domain is added, the foreign reports are stored once', async () => {
    await addDomain(domains);
    const retry = await ingest(data, domains, '--retry', join(data, 'quarantine'));
    expect(retry.reports).toEqual({ stored: 3, duplicate: 0, foreign: 1, invalid: 0 });
    expect(retry.records).toBe(10);
    expect(await rowsByReport(data)).toEqual(STORED_AFTER_RETRY);
    expect(await quarantined(data)).toEqual(kept);
  });

  test('retrying again, or the originals and the quarantine together, doubles nothing', async () => {
    const again = await ingest(data, domains, '--retry', join(data, 'quarantine'));
    expect(again.reports).toEqual({ stored: 0, duplicate: 3, foreign: 1, invalid: 0 });
    const both = await ingest(data, domains, '--retry', inbox, join(data, 'quarantine'));
    expect(both.items).toBe(6 + 4);
    // Inputs with the same bytes are read once per run (a quarantined gzip may equal an original one).
    const read = both.items - both.alreadyIngested;
    // The stranger's report twice (original and kept copy), the truncated original once, the rest duplicates.
    expect(both.reports).toEqual({ stored: 0, duplicate: read - 3, foreign: 2, invalid: 1 });
    expect(await rowsByReport(data)).toEqual(STORED_AFTER_RETRY);
    expect(await quarantined(data)).toEqual(kept);
  });
});

test('--retry belongs to ingest: fetch refuses it', async () => {
  const output = captureOutput();
  expect(await main(['fetch', '--retry'], output, {})).toBe(2);
  expect(output.stderr.join('\n')).toMatch(/--retry/);
});
