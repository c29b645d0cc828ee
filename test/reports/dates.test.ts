/**
 * Reports with implausible dates (anyone can mail a report, dates included): ending more than a
 * day after the ingest, or beginning before 2012 (epoch 0 is the usual mistake). They are stored
 * and flagged, in `month=unknown` instead of a real month, and every reader copes with that
 * partition: the ledger command, compaction (--closed leaves it alone) and the site's rollups.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import type { IngestSummary } from '../../scripts/reports/pipeline.ts';
import { committedRecordsSql } from '../../scripts/reports/store/index.ts';
import type { LedgerRow } from '../../scripts/reports/store/index.ts';
import { openDuck } from '../../scripts/reports/store/duck.ts';
import { openSiteData } from '../../scripts/site/rollups.ts';
import { reportXml } from '../fixtures/unpack/make.ts';
import { captureOutput } from '../helpers/output.ts';

const PREFIX = join(tmpdir(), 'dmarcops-dates-');
const DAY = 86_400;

let dir: string;
let data: string;

/** A report of ours for example.com over [begin, begin + span). */
function reportAt(id: string, begin: number, span = DAY): string {
  return reportXml(id, 2, 'example.com')
    .replace('<begin>1700000000</begin>', `<begin>${begin}</begin>`)
    .replace('<end>1700086399</end>', `<end>${begin + span - 1}</end>`);
}

async function cli(...args: string[]): Promise<{ code: number; text: string }> {
  const output = captureOutput();
  const code = await main(args, output, {});
  return { code, text: output.text() };
}

async function ingest(file: string, xml: string): Promise<IngestSummary> {
  await writeFile(join(dir, file), xml);
  const { code, text } = await cli('ingest', join(dir, file), '--data', data, '--domains', 'domains', '--offline', '--json');
  expect(code, text).toBe(0);
  return JSON.parse(text) as IngestSummary;
}

const now = Math.floor(Date.now() / 1000);
const today = now - (now % DAY);

beforeAll(async () => {
  dir = await mkdtemp(PREFIX);
  data = join(dir, 'reports');
  await ingest('epoch0.xml', reportAt('epoch0', 0));
  await ingest('y2011.xml', reportAt('y2011', Date.UTC(2011, 5, 1) / 1000));
  await ingest('future.xml', reportAt('future', today + 3 * DAY));
  await ingest('yesterday.xml', reportAt('yesterday', today - DAY));
  // Ends within a day after the ingest (a reporter's clock a little ahead): a real month.
  await ingest('skewed.xml', reportAt('skewed', now - DAY / 2));
});

afterAll(async () => {
  if (dir?.startsWith(PREFIX)) await rm(dir, { recursive: true, force: true });
});

describe('reports with implausible dates', () => {
  test('are stored in month=unknown with a date-implausible warning; the others in their month', async () => {
    const duck = await openDuck();
    try {
      const rows = await duck.rows<{ report_id: string; month: string; flagged: boolean; n: number }>(
        `SELECT report_id, any_value(month) AS month,
           bool_or(list_contains(list_transform(report_warnings, w -> w.code), 'date-implausible')) AS flagged, count(*)::INTEGER AS n
         FROM (${committedRecordsSql(data)}) GROUP BY report_id ORDER BY report_id`,
      );
      const monthOf = (epoch: number): string => new Date(epoch * 1000).toISOString().slice(0, 7);
      expect(rows).toEqual([
        { report_id: 'epoch0', month: 'unknown', flagged: true, n: 2 },
        { report_id: 'future', month: 'unknown', flagged: true, n: 2 },
        { report_id: 'skewed', month: monthOf(now - DAY / 2), flagged: false, n: 2 },
        { report_id: 'y2011', month: 'unknown', flagged: true, n: 2 },
        { report_id: 'yesterday', month: monthOf(today - DAY), flagged: false, n: 2 },
      ]);
    } finally {
      duck.close();
    }
  });

  test('dmarcops ledger lists them with month unknown', async () => {
    const { code, text } = await cli('ledger', '--outcome', 'stored', '--data', data, '--json');
    expect(code).toBe(0);
    const rows = JSON.parse(text) as LedgerRow[];
    expect(Object.fromEntries(rows.map((row) => [row.reportId, row.month]))).toMatchObject({
      epoch0: 'unknown',
      y2011: 'unknown',
      future: 'unknown',
    });
    // The same report otherwise: one warning more.
    const warnings = (id: string): number | null | undefined => rows.find((row) => row.reportId === id)?.warningCount;
    expect(warnings('epoch0')).toBe(warnings('yesterday')! + 1);
  });

  test('compact --closed leaves month=unknown alone; `compact unknown` merges it', async () => {
    const parts = async (): Promise<string[]> => (await readdir(join(data, 'records', 'month=unknown'))).sort();
    expect(await parts()).toHaveLength(3);
    const closed = JSON.parse((await cli('compact', '--closed', '--data', data, '--json')).text) as { month: string }[];
    expect(closed.map((result) => result.month)).not.toContain('unknown');
    expect(await parts()).toHaveLength(3);
    const merged = await cli('compact', 'unknown', '--data', data);
    expect(merged.text).toMatch(/^month=unknown: 3 files → 1 \(6 rows/);
    expect(await parts()).toEqual([expect.stringMatching(/^compact-.*\.parquet$/)]);
  });

  test('the site rollups read the dataset with the unknown partition; epoch 0 and the future stay off the days axis', async () => {
    const source = await openSiteData({ dataDir: data, domainsDir: 'domains', now: () => new Date(now * 1000) });
    try {
      const { days, reports } = source.data;
      expect(reports.map((report) => report.reportId).sort()).toEqual(['epoch0', 'future', 'skewed', 'y2011', 'yesterday']);
      expect(days[0]! >= '2000-01-01').toBe(true);
      expect(days.at(-1)! <= new Date((now + DAY) * 1000).toISOString().slice(0, 10)).toBe(true);
    } finally {
      source.close();
    }
  });
});
