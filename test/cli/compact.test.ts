/**
 * `dmarcops compact --closed`: the scheduled workflow merges a month's parts once the month is over
 * (plus a grace period for late reports), never the month still being written, since in git every
 * compaction keeps both the parts and the merged file in the history.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import { isClosed } from '../../scripts/cli/compact.ts';
import { reportXml } from '../fixtures/unpack/make.ts';
import { captureOutput } from '../helpers/output.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-compact-cli-'));
});

afterAll(async () => {
  if (dir?.startsWith(join(tmpdir(), 'dmarcops-compact-cli-'))) await rm(dir, { recursive: true, force: true });
});

describe('isClosed', () => {
  test('a month is closed once the grace days after its last day have passed (UTC)', () => {
    expect(isClosed('2026-10', new Date('2026-11-07T23:59:59Z'), 7)).toBe(false);
    expect(isClosed('2026-10', new Date('2026-11-08T00:00:00Z'), 7)).toBe(true);
    expect(isClosed('2026-11', new Date('2026-11-30T23:59:59Z'), 0)).toBe(false);
    expect(isClosed('2026-11', new Date('2026-12-01T00:00:00Z'), 0)).toBe(true);
    // Across the year, and February.
    expect(isClosed('2026-12', new Date('2027-01-07T12:00:00Z'), 7)).toBe(false);
    expect(isClosed('2026-12', new Date('2027-01-08T00:00:00Z'), 7)).toBe(true);
    expect(isClosed('2028-02', new Date('2028-03-01T00:00:00Z'), 0)).toBe(true);
    expect(isClosed('2028-02', new Date('2028-02-29T23:00:00Z'), 0)).toBe(false);
  });
});

/** A report of ours dated at `epoch` (seconds). */
function reportAt(id: string, epoch: number): string {
  return reportXml(id, 2)
    .replace('<begin>1700000000</begin>', `<begin>${epoch}</begin>`)
    .replace('<end>1700086399</end>', `<end>${epoch + 86_399}</end>`);
}

async function run(args: string[]): Promise<string> {
  const output = captureOutput();
  expect(await main(args, output, {}), output.stderr.join('\n')).toBe(0);
  return output.text();
}

const parts = async (data: string, month: string): Promise<string[]> =>
  (await readdir(join(data, 'records', `month=${month}`))).filter((name) => name.endsWith('.parquet')).sort();

test('--closed merges the months that are over and leaves the current one (and recent ones within the grace) alone', async () => {
  const data = join(dir, 'reports');
  const now = new Date();
  const thisMonth = now.toISOString().slice(0, 7);
  const nowEpoch = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) / 1000; // today 00:00 UTC: always this month
  // Two runs each: January 2026 (long closed) and the current month.
  for (const [index, epoch] of [
    [1, 1_767_225_600],
    [2, nowEpoch],
  ] as const) {
    for (const copy of ['a', 'b']) {
      const file = join(dir, `r-${index}-${copy}.xml`);
      await writeFile(file, reportAt(`r-${index}-${copy}`, epoch));
      await run(['ingest', file, '--data', data, '--domains', 'domains', '--offline', '--json']);
    }
  }
  expect(await parts(data, '2026-01')).toHaveLength(2);
  expect(await parts(data, thisMonth)).toHaveLength(2);

  const result = JSON.parse(await run(['compact', '--closed', '--data', data, '--json'])) as {
    month: string;
    compacted: boolean;
    rows: number;
  }[];
  expect(result.map(({ month, compacted, rows }) => ({ month, compacted, rows }))).toEqual([
    { month: '2026-01', compacted: true, rows: 4 },
  ]);
  expect(await parts(data, '2026-01')).toEqual([expect.stringMatching(/^compact-.*\.parquet$/)]);
  expect(await parts(data, thisMonth)).toHaveLength(2);

  // Once merged, the closed month has nothing left to merge; without --closed the current month is merged too.
  expect(await run(['compact', '--closed', '--data', data])).toBe('nothing to merge in closed months');
  expect(await run(['compact', '--data', data])).toMatch(new RegExp(`^month=${thisMonth}: 2 files → 1 \\(4 rows`));
  expect(await run(['compact', '2026-01', '--data', data])).toBe('month=2026-01: nothing to merge');
});

test('--grace-days must be a whole number', async () => {
  const output = captureOutput();
  expect(await main(['compact', '--closed', '--grace-days', 'soon', '--data', join(dir, 'none')], output, {})).toBe(2);
  expect(output.stderr.join('\n')).toMatch(/--grace-days must be a whole number of days, not soon/);
});
