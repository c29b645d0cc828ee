/**
 * Report-level text against the store: the store repeats a report's header on every record row, so
 * a forged report with a large header over many records once exhausted the commit's DuckDB memory
 * (256 MB) and failed the whole run, every run, while the mail stayed in the mailbox. Now the header's
 * free text is clipped (and a header still over 48 KiB refused) before it reaches the store.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import type { IngestSummary } from '../../scripts/reports/pipeline.ts';
import { committedRecordsSql } from '../../scripts/reports/store/index.ts';
import { openDuck } from '../../scripts/reports/store/duck.ts';
import { reportXml } from '../fixtures/unpack/make.ts';
import { captureOutput } from '../helpers/output.ts';

const RECORDS = 100_000;
/** 18 errors of 55,000 characters: a 1 MB header, just under the parser's element cap. */
const ERRORS = Array.from({ length: 18 }, (_, i) => `<error>${i} ${'x'.repeat(55_000)}</error>`).join('');

let dir: string;
let inbox: string;
let data: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-ingest-header-'));
  inbox = join(dir, 'inbox');
  data = join(dir, 'reports');
  await mkdir(inbox);
  await writeFile(join(inbox, '01-errors.xml'), reportXml('flood-1', RECORDS).replace('</report_metadata>', `${ERRORS}</report_metadata>`));
  await writeFile(
    join(inbox, '02-long-name.xml'),
    reportXml('flood-2', 10).replace('<org_name>receiver.example</org_name>', `<org_name>${'y'.repeat(60_000)}</org_name>`),
  );
  await writeFile(join(inbox, '03-good.xml'), reportXml('good-1', 3));
});

afterAll(async () => {
  if (dir?.startsWith(join(tmpdir(), 'dmarcops-ingest-header-'))) await rm(dir, { recursive: true, force: true });
});

test('a 1 MB header over 100,000 records is stored with its errors clipped; a 60,000-character name is refused; the run completes', async () => {
  const output = captureOutput();
  const code = await main(['ingest', inbox, '--data', data, '--domains', 'domains', '--offline', '--json'], output, {});
  expect(code, output.stderr.join('\n')).toBe(0);
  const summary = JSON.parse(output.text()) as IngestSummary;
  expect(summary.reports).toMatchObject({ stored: 2, invalid: 1 });
  expect(JSON.stringify(summary)).toMatch(/02-long-name\.xml.*the report header holds 58\.\d KiB of text \(at most 48 KiB\)/);

  const duck = await openDuck();
  try {
    const rows = await duck.rows<{ id: string; n: number; errors: number; longest: number; clipped: boolean }>(
      `SELECT report_id AS id, count(*)::INTEGER AS n, max(len(report_errors))::INTEGER AS errors,
        max(list_max(list_transform(report_errors, lambda e: length(e))))::INTEGER AS longest,
        bool_or(list_contains(list_transform(report_warnings, lambda w: w.code), 'text-clipped')) AS clipped
      FROM (${committedRecordsSql(data)}) GROUP BY report_id ORDER BY report_id`,
    );
    expect(rows).toEqual([
      { id: 'flood-1', n: RECORDS, errors: 10, longest: 1000, clipped: true },
      { id: 'good-1', n: 3, errors: 0, longest: null, clipped: false },
    ]);
  } finally {
    duck.close();
  }
});
