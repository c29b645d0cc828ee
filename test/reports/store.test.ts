import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { gunzipSync } from 'fflate';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ParseWarning, ReportHeader, ReportRecord } from '../../scripts/reports/parse/types.ts';
import {
  RECORD_COLUMNS,
  committedRecordFiles,
  committedRecordsSql,
  findReports,
  openDataset,
  reportKey,
} from '../../scripts/reports/store/index.ts';
import type { Dataset, DatasetOptions, ReportInput } from '../../scripts/reports/store/index.ts';

// ---------------------------------------------------------------------------------------------
// Fixtures

const day = (iso: string): number => Date.parse(`${iso}T00:00:00Z`) / 1000;

function header(over: Partial<ReportHeader> = {}): ReportHeader {
  return {
    orgName: 'google.com',
    email: 'noreply-dmarc-support@google.com',
    reportId: '1234',
    dateBegin: day('2026-01-12'),
    dateEnd: day('2026-01-12') + 86_399,
    errors: [],
    schema: 'rfc7489',
    policy: { domain: 'example.com', p: 'reject', adkim: 'r', aspf: 'r' },
    ...over,
  };
}

function record(i: number, over: Partial<ReportRecord> = {}): ReportRecord {
  return {
    sourceIp: `192.0.2.${i}`,
    count: i + 1,
    disposition: 'none',
    evalDkim: 'pass',
    evalSpf: 'fail',
    reasons: [],
    headerFrom: 'example.com',
    envelopeFrom: 'bounce.esp.example.net',
    dkim: [
      { domain: 'esp.example.net', selector: 's1', result: 'pass' },
      { domain: 'example.com', selector: 'k1', result: 'pass', humanResult: 'good' },
    ],
    spf: [{ domain: 'bounce.esp.example.net', scope: 'mfrom', result: 'pass' }],
    ...over,
  };
}

async function* batches<T>(items: T[], size = 2): AsyncGenerator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

let sourceCounter = 0;
function input(h: ReportHeader, records: ReportRecord[], extra: Partial<ReportInput> = {}): ReportInput {
  return { header: h, records: batches(records), warnings: () => [], sourceRef: `sha256:${++sourceCounter}`, ...extra };
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Temp directories this file created (each holds one dataset root, `<dir>/reports`). */
const tempDirs: string[] = [];
function tempRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dmarcops-store-'));
  tempDirs.push(dir);
  return join(dir, 'reports');
}
afterAll(() => {
  for (const dir of tempDirs) {
    if (!dir.startsWith(join(tmpdir(), 'dmarcops-store-'))) throw new Error(`refusing to remove ${dir}`);
    rmSync(dir, { recursive: true, force: true });
  }
});

const open: Dataset[] = [];
async function openDs(root: string, options: Partial<DatasetOptions> = {}): Promise<Dataset> {
  const ds = await openDataset({ root, ...options });
  open.push(ds);
  return ds;
}
afterEach(async () => {
  for (const ds of open.splice(0)) await ds.close();
});

let instance: DuckDBInstance;
beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
});
async function query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  const conn = await instance.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJS() as T[];
  } finally {
    conn.closeSync();
  }
}

/** The committed rows as sorted `report_key|record_index|ingest_run` strings: a multiset fingerprint. */
async function rowKeys(root: string): Promise<string[]> {
  const rows = await query<{ k: string }>(
    `SELECT report_key || '|' || record_index || '|' || ingest_run AS k FROM (${committedRecordsSql(root)}) ORDER BY k`,
  );
  return rows.map((r) => r.k);
}

/** Every committed row, all columns, as canonical JSON lines (sorted). */
async function allRows(root: string): Promise<string[]> {
  const rows = await query(`SELECT * FROM (${committedRecordsSql(root)})`);
  const json = rows.map((r) => JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
  return json.sort();
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .filter((p) => p !== '.lock')
    .sort();
}

const JAN = header();
const FEB = header({ reportId: 'feb-1', dateBegin: day('2026-02-03'), dateEnd: day('2026-02-03') + 86_399 });

// ---------------------------------------------------------------------------------------------

describe('storing reports', () => {
  it('writes one row per record with report metadata, list-of-struct results and derived columns', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'run-1', ingestedAt: new Date('2026-01-13T06:00:00Z') });

    // Warnings grow while the records are read: the store must ask for them after draining.
    const warnings: ParseWarning[] = [];
    async function* streamed(): AsyncGenerator<ReportRecord[]> {
      yield [record(1, { reasons: [{ type: 'forwarded', comment: 'arc=pass' }] }), record(2)];
      yield [record(3, { dkim: [], spf: [{ domain: 'example.com', result: 'softfail' }], envelopeTo: 'example.org' })];
      warnings.push({ code: 'value-case', message: 'Pass → pass', count: 2, record: 0 });
    }
    const first = await run.addReport({
      header: header({ policy: { domain: 'example.com', p: 'reject', sp: 'none', adkim: 's', aspf: 'r', pct: 100 } }),
      records: streamed(),
      warnings: () => warnings,
      sourceRef: '<abc@mail.google.com>',
      enrichment: new Map([
        [
          '192.0.2.1',
          {
            ptr: 'mail.esp.example.net',
            baseDomain: 'example.net',
            name: 'ESP',
            type: 'esp',
            asn: 64500,
            asName: 'EXAMPLE',
            country: 'DE',
          },
        ],
      ]),
    });
    expect(first).toEqual({ outcome: 'stored', reportKey: reportKey(JAN), records: 3 });

    const second = await run.addReport(
      input(header({ orgName: 'Yahoo', email: 'dmarc@yahoo.com', reportId: 'y-9' }), [record(7, { headerFrom: 'news.example.com' })], {
        enrichment: (ip) => (ip === '192.0.2.7' ? { country: 'US' } : undefined),
      }),
    );
    expect(second.outcome).toBe('stored');
    const summary = await run.commit();
    expect(summary).toMatchObject({ committed: true, stored: 2, duplicates: 0, records: 4, ledgerEntries: 2 });
    expect(summary.parts.map((p) => p.month)).toEqual(['2026-01']);

    const rows = await query<Record<string, unknown>>(
      `SELECT * FROM read_parquet('${root}/records/*/*.parquet', hive_partitioning = true) ORDER BY report_id, record_index`,
    );
    expect(rows).toHaveLength(4);
    const [g1, g2, g3, y] = rows as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    expect(g1).toMatchObject({
      report_key: reportKey(JAN),
      org_name: 'google.com',
      report_id: '1234',
      date_begin: new Date('2026-01-12T00:00:00Z'),
      date_end: new Date('2026-01-12T23:59:59Z'),
      report_schema: 'rfc7489',
      policy_domain: 'example.com',
      policy_p: 'reject',
      policy_sp: 'none',
      policy_adkim: 's',
      policy_pct: 100,
      record_index: 0,
      source_ip: '192.0.2.1',
      disposition: 'none',
      eval_dkim: 'pass',
      eval_spf: 'fail',
      override_reasons: [{ type: 'forwarded', comment: 'arc=pass' }],
      header_from: 'example.com',
      envelope_from: 'bounce.esp.example.net',
      envelope_from_derived: false,
      envelope_to: null,
      dkim_results: [
        { domain: 'esp.example.net', selector: 's1', result: 'pass', human_result: null },
        { domain: 'example.com', selector: 'k1', result: 'pass', human_result: 'good' },
      ],
      spf_results: [{ domain: 'bounce.esp.example.net', scope: 'mfrom', result: 'pass', human_result: null }],
      // adkim=s: example.com signed exactly; aspf=r: bounce.esp.example.net is another org domain.
      dkim_aligned: true,
      spf_aligned: false,
      dmarc_pass: true,
      source_ptr: 'mail.esp.example.net',
      source_base_domain: 'example.net',
      source_name: 'ESP',
      source_type: 'esp',
      source_as_name: 'EXAMPLE',
      source_country: 'DE',
      ingest_run: 'run-1',
      ingested_at: new Date('2026-01-13T06:00:00Z'),
      source_ref: '<abc@mail.google.com>',
      month: '2026-01',
    });
    expect(Number(g1.message_count)).toBe(2);
    expect(Number(g1.source_asn)).toBe(64500);
    // The warnings appeared at the end of the stream and are on every row of the report.
    for (const row of [g1, g2, g3]) {
      expect(row.report_warnings).toEqual([{ code: 'value-case', message: 'Pass → pass', record: 0, count: 2 }]);
    }
    expect(g2).toMatchObject({ source_ptr: null, source_asn: null, source_country: null, override_reasons: [] });
    expect(g3).toMatchObject({
      dkim_results: [],
      spf_results: [{ domain: 'example.com', scope: null, result: 'softfail', human_result: null }],
      dkim_aligned: false,
      spf_aligned: false,
      dmarc_pass: false,
      envelope_to: 'example.org',
    });
    expect(y).toMatchObject({ org_name: 'Yahoo', header_from: 'news.example.com', source_country: 'US', report_warnings: [] });
    // Relaxed alignment (adkim=r on this report): example.com aligns with news.example.com.
    expect(y.dkim_aligned).toBe(true);
  });

  it('writes the documented column names and types, in order', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r', ingestedAt: new Date() });
    await run.addReport(input(JAN, [record(1)]));
    await run.commit();
    const [file] = committedRecordFiles(root);
    const actual = await query<{ column_name: string; column_type: string }>(
      `DESCRIBE SELECT * FROM read_parquet('${file}', hive_partitioning = false)`,
    );
    const expected = await query<{ column_name: string; column_type: string }>(
      `DESCRIBE SELECT ${RECORD_COLUMNS.map((c) => `CAST(NULL AS ${c.type}) AS ${c.name}`).join(', ')}`,
    );
    expect(actual.map((c) => [c.column_name, c.column_type])).toEqual(expected.map((c) => [c.column_name, c.column_type]));
  });

  it('keeps raw values, extensions and header fields', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r', ingestedAt: new Date() });
    const h = header({
      schema: 'rfc9990',
      generator: 'Example 1.0',
      xmlNamespace: 'urn:ietf:params:xml:ns:dmarc-2.0',
      errors: ['partial data'],
      raw: { 'report_metadata/date_range/begin': '1768176000.5' },
      extensions: { vendor: { x: '1' } },
      policy: { domain: 'example.com', p: 'none', np: 'reject', testing: 'y', discoveryMethod: 'treewalk' },
    });
    const rec = record(1, { count: null, raw: { 'row/count': 'many' }, extensions: { arc: 'pass' }, envelopeFromDerived: true });
    await run.addReport(input(h, [rec]));
    await run.commit();
    const [row] = await query<Record<string, unknown>>(`SELECT * FROM (${committedRecordsSql(root)})`);
    expect(row).toMatchObject({
      report_schema: 'rfc9990',
      generator: 'Example 1.0',
      xml_namespace: 'urn:ietf:params:xml:ns:dmarc-2.0',
      report_errors: ['partial data'],
      report_raw: [{ key: 'report_metadata/date_range/begin', value: '1768176000.5' }],
      policy_np: 'reject',
      policy_testing: 'y',
      policy_discovery_method: 'treewalk',
      message_count: null,
      record_raw: [{ key: 'row/count', value: 'many' }],
      envelope_from_derived: true,
    });
    expect(JSON.parse(String(row?.report_extensions))).toEqual({ vendor: { x: '1' } });
    expect(JSON.parse(String(row?.record_extensions))).toEqual({ arc: 'pass' });
  });

  it('stores strings with quotes, control characters, non-ASCII and the staging delimiter intact', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r', ingestedAt: new Date() });
    const nasty = 'a "quoted"\ttab\nnewline \\ back \u0001 soh, ü 😀 \u2028';
    await run.addReport(input(header({ orgName: nasty }), [record(1, { reasons: [{ type: 'other', comment: nasty }] })]));
    await run.commit();
    const [row] = await query<{ org_name: string; override_reasons: { comment: string }[] }>(
      `SELECT org_name, override_reasons FROM (${committedRecordsSql(root)})`,
    );
    expect(row?.org_name).toBe(nasty);
    expect(row?.override_reasons[0]?.comment).toBe(nasty);
  });

  it('partitions by the month of the report start, one part per month per run', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date('2026-03-01T00:00:00Z') });
    await run.addReport(input(JAN, [record(1), record(2)]));
    await run.addReport(input(FEB, [record(3)]));
    await run.addReport(input(header({ reportId: 'jan-2', dateBegin: day('2026-01-31'), dateEnd: day('2026-02-01') + 3600 }), [record(4)]));
    const summary = await run.commit();
    expect(summary.parts.map((p) => [p.month, p.records])).toEqual([
      ['2026-01', 3],
      ['2026-02', 1],
    ]);
    expect(filesUnder(join(root, 'records'))).toEqual(['month=2026-01/run-r1.parquet', 'month=2026-02/run-r1.parquet']);
    const months = await query<{ month: string; n: number }>(
      `SELECT month, count(*)::INTEGER AS n FROM read_parquet('${root}/records/*/*.parquet', hive_partitioning = true) GROUP BY month ORDER BY month`,
    );
    expect(months).toEqual([
      { month: '2026-01', n: 3 },
      { month: '2026-02', n: 1 },
    ]);
  });

  it('a report without dates goes to the month it was ingested', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date('2026-05-20T00:00:00Z') });
    await run.addReport(input(header({ dateBegin: null, dateEnd: null }), [record(1)]));
    expect((await run.commit()).parts.map((p) => p.month)).toEqual(['2026-05']);
  });

  it.each([
    ['epoch 0', 0, 86_399, /begin 1970-01-01T00:00:00Z is before 2012-01-01/],
    ['2011', day('2011-12-31'), day('2011-12-31') + 86_399, /begin 2011-12-31T00:00:00Z is before 2012-01-01/],
    [
      'ends two days after the ingest',
      day('2026-05-21'),
      day('2026-05-22'),
      /end 2026-05-22T00:00:00Z is more than a day after the ingest \(2026-05-20T00:00:00Z\)/,
    ],
    ['year 3000', day('3000-01-01'), day('3000-01-01') + 86_399, /more than a day after the ingest/],
  ])(
    'a report dated %s is stored in month=unknown with a warning, kept out of the real months',
    async (_label, dateBegin, dateEnd, message) => {
      const root = tempRoot();
      const ds = await openDs(root);
      const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date('2026-05-20T00:00:00Z') });
      await run.addReport(
        input(header({ reportId: 'odd', dateBegin, dateEnd }), [record(1), record(2)], {
          warnings: () => [{ code: 'value-case', message: 'kept', count: 1 }],
        }),
      );
      await run.addReport(
        input(header({ reportId: 'fine', dateBegin: day('2026-05-19'), dateEnd: day('2026-05-19') + 86_399 }), [record(3)]),
      );
      const summary = await run.commit();
      expect(summary.parts.map((p) => [p.month, p.records])).toEqual([
        ['2026-05', 1],
        ['unknown', 2],
      ]);
      expect(filesUnder(join(root, 'records'))).toEqual(['month=2026-05/run-r1.parquet', 'month=unknown/run-r1.parquet']);
      const rows = await query<{ month: string; report_id: string; codes: string[]; messages: string[] }>(
        `SELECT DISTINCT month, report_id, list_transform(report_warnings, w -> w.code) AS codes, list_transform(report_warnings, w -> w.message) AS messages
       FROM (${committedRecordsSql(root)}) ORDER BY month`,
      );
      expect(rows.map((r) => [r.month, r.report_id, r.codes])).toEqual([
        ['2026-05', 'fine', []],
        ['unknown', 'odd', ['value-case', 'date-implausible']],
      ]);
      expect(rows[1]?.messages[1]).toMatch(message);
      const [ledger] = await findReports(root, { outcome: 'stored' }).then((all) => all.filter((row) => row.reportId === 'odd'));
      expect(ledger).toMatchObject({ month: 'unknown', warningCount: 2, records: 2 });
      // Compaction and recovery know the partition.
      await ds.close();
      const again = await openDs(root);
      const run2 = await again.beginRun({ runId: 'r2', ingestedAt: new Date('2026-05-20T00:00:00Z') });
      await run2.addReport(input(header({ reportId: 'odd-2', dateBegin, dateEnd }), [record(4)]));
      await run2.commit();
      expect(await again.compact('unknown')).toMatchObject({ month: 'unknown', compacted: true, rows: 3 });
      expect((await rowKeys(root)).length).toBe(4);
    },
  );

  it('a report ending within a day after the ingest (clock skew) keeps its month', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date('2026-05-20T00:00:00Z') });
    await run.addReport(input(header({ dateBegin: day('2026-05-20'), dateEnd: day('2026-05-20') + 86_399 }), [record(1)]));
    await run.addReport(
      input(header({ reportId: 'first-day', dateBegin: day('2012-01-01'), dateEnd: day('2012-01-01') + 86_399 }), [record(1)]),
    );
    expect((await run.commit()).parts.map((p) => p.month)).toEqual(['2012-01', '2026-05']);
  });
});

describe('run-level enrichment and sources', () => {
  it("commit({ enrichment }) fills the enrichment columns by IP; a report's own enrichment wins", async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    await run.addReport(input(JAN, [record(1), record(2), record(3)]));
    await run.addReport(input(FEB, [record(1)], { enrichment: () => ({ ptr: 'own.example', country: null }) }));
    expect([...run.sourceIps()].sort()).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    const byIp = new Map([
      ['192.0.2.1', { ptr: 'one.example', baseDomain: 'example', name: null, type: null, asn: 64501, asName: 'AS-ONE', country: 'NL' }],
      ['192.0.2.2', { ptr: null, baseDomain: null, name: 'Google Workspace', type: 'esp', asn: null, asName: null, country: null }],
      ['203.0.113.9', { ptr: 'unused.example' }],
    ]);
    await run.commit({ enrichment: byIp });
    const rows = await query<Record<string, unknown>>(
      `SELECT month, source_ip, source_ptr, source_base_domain, source_name, source_type, source_asn::INTEGER AS asn, source_as_name, source_country
       FROM (${committedRecordsSql(root)}) ORDER BY month, source_ip`,
    );
    expect(rows).toEqual([
      {
        month: '2026-01',
        source_ip: '192.0.2.1',
        source_ptr: 'one.example',
        source_base_domain: 'example',
        source_name: null,
        source_type: null,
        asn: 64501,
        source_as_name: 'AS-ONE',
        source_country: 'NL',
      },
      {
        month: '2026-01',
        source_ip: '192.0.2.2',
        source_ptr: null,
        source_base_domain: null,
        source_name: 'Google Workspace',
        source_type: 'esp',
        asn: null,
        source_as_name: null,
        source_country: null,
      },
      {
        month: '2026-01',
        source_ip: '192.0.2.3',
        source_ptr: null,
        source_base_domain: null,
        source_name: null,
        source_type: null,
        asn: null,
        source_as_name: null,
        source_country: null,
      },
      // The report's own value first, the run's for what it left empty.
      {
        month: '2026-02',
        source_ip: '192.0.2.1',
        source_ptr: 'own.example',
        source_base_domain: 'example',
        source_name: null,
        source_type: null,
        asn: 64501,
        source_as_name: 'AS-ONE',
        source_country: 'NL',
      },
    ]);
  });

  it('addEnrichment stages enrichment as it comes: IPs seen, once each; commit({ enrichment }) fills only the others', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    await run.addReport(input(JAN, [record(1), record(2)]));
    run.addEnrichment([
      ['192.0.2.1', { ptr: 'first.example', asn: 64501 }],
      ['192.0.2.9', { ptr: 'not-seen.example' }], // no row has it: ignored
      ['192.0.2.1', { ptr: 'again.example' }], // staged already: ignored
    ]);
    await run.addReport(input(FEB, [record(1), record(3)]));
    run.addEnrichment(
      new Map([['192.0.2.3', { ptr: null, baseDomain: null, name: null, type: null, asn: null, asName: null, country: null }]]),
    );
    const summary = await run.commit({ enrichment: (ip) => ({ ptr: `commit-${ip}`, country: 'NL' }) });
    expect(summary.records).toBe(4);
    const rows = await query<Record<string, unknown>>(
      `SELECT month, source_ip, source_ptr, source_asn::INTEGER AS asn, source_country FROM (${committedRecordsSql(root)}) ORDER BY month, source_ip`,
    );
    expect(rows).toEqual([
      { month: '2026-01', source_ip: '192.0.2.1', source_ptr: 'first.example', asn: 64501, source_country: null },
      { month: '2026-01', source_ip: '192.0.2.2', source_ptr: 'commit-192.0.2.2', asn: null, source_country: 'NL' },
      { month: '2026-02', source_ip: '192.0.2.1', source_ptr: 'first.example', asn: 64501, source_country: null },
      // Staged with nothing known: stays empty, the commit's lookup does not overwrite it.
      { month: '2026-02', source_ip: '192.0.2.3', source_ptr: null, asn: null, source_country: null },
    ]);
  });

  it('hasSource knows every input a committed run or this run recorded, whatever the outcome', async () => {
    const root = tempRoot();
    let ds = await openDs(root);
    let run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    await run.addReport(input(JAN, [record(1)], { sourceRef: 'sha256:stored' }));
    run.addLedgerEntry({ sourceRef: 'sha256:junk', kind: 'other', outcome: 'invalid', reason: 'not-xml' });
    expect(run.hasSource('sha256:stored')).toBe(true);
    expect(run.hasSource('sha256:junk')).toBe(true);
    expect(ds.hasSource('sha256:junk')).toBe(false);
    await run.commit();
    expect(ds.hasSource('sha256:junk')).toBe(true);
    await ds.close();
    ds = await openDs(root);
    run = await ds.beginRun({ runId: 'r2', ingestedAt: new Date() });
    expect(run.hasSource('sha256:stored')).toBe(true);
    expect(run.hasSource('sha256:junk')).toBe(true);
    expect(run.hasSource('sha256:new')).toBe(false);
    await run.abort();
  });
});

describe('reportKey', () => {
  it('is stable: stored keys must keep matching across versions', () => {
    // Changing how the key is computed would let every stored report in again: don't.
    expect(reportKey(JAN)).toBe(
      reportKey({ orgName: 'google.com', reportId: '1234', dateBegin: 1768176000, dateEnd: 1768262399, policy: { domain: 'example.com' } }),
    );
    expect(reportKey(JAN)).toMatch(/^[0-9a-f]{32}$/);
    expect(reportKey(JAN)).toMatchInlineSnapshot(`"c52ad8f4efcdebccb353f7221cd384ea"`);
  });

  it("ignores reporter case and spacing and the policy domain's case and trailing dot, nothing else", () => {
    const base = reportKey(JAN);
    expect(reportKey({ ...JAN, orgName: ' Google.COM ' })).toBe(base);
    expect(reportKey(header({ policy: { domain: 'EXAMPLE.com.', p: 'none' } }))).toBe(base);
    expect(reportKey(header({ email: 'other@google.com' }))).toBe(base);
    expect(reportKey({ ...JAN, reportId: '12345' })).not.toBe(base);
    expect(reportKey({ ...JAN, dateEnd: (JAN.dateEnd as number) + 1 })).not.toBe(base);
    expect(reportKey({ ...JAN, dateBegin: null })).not.toBe(base);
    // No separator trick: fields are JSON-encoded.
    expect(reportKey({ ...JAN, orgName: 'a', reportId: 'b|c' })).not.toBe(reportKey({ ...JAN, orgName: 'a|b', reportId: 'c' }));
  });
});

describe('dedupe', () => {
  it('a report stored again in the same run or a later run is a duplicate and adds no rows', async () => {
    const root = tempRoot();
    let ds = await openDs(root);
    let run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    expect((await run.addReport(input(JAN, [record(1), record(2)]))).outcome).toBe('stored');
    expect(ds.hasReport(reportKey(JAN))).toBe(true);
    // A relay delivered it twice: same content, another message.
    const again = await run.addReport(input({ ...JAN, orgName: '  Google.COM ' }, [record(1), record(2)]));
    expect(again).toEqual({ outcome: 'duplicate', reportKey: reportKey(JAN), records: 0 });
    const s1 = await run.commit();
    expect(s1).toMatchObject({ stored: 1, duplicates: 1, records: 2 });
    await ds.close();

    ds = await openDs(root);
    expect(ds.hasReport(reportKey(JAN))).toBe(true);
    run = await ds.beginRun({ runId: 'r2', ingestedAt: new Date() });
    expect((await run.addReport(input(JAN, [record(1), record(2)]))).outcome).toBe('duplicate');
    await run.commit();
    expect(await rowKeys(root)).toHaveLength(2);
    const ledger = await findReports(root, {});
    expect(ledger.map((l) => [l.ingestRun, l.outcome, l.reason])).toEqual([
      ['r1', 'stored', null],
      ['r1', 'duplicate', 'report already stored by this run'],
      ['r2', 'duplicate', 'report already stored by an earlier run'],
    ]);
  });

  it('the same report id for another date range or another policy domain is a different report', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    await run.addReport(input(JAN, [record(1)]));
    const nextDay = header({ dateBegin: day('2026-01-13'), dateEnd: day('2026-01-13') + 86_399 });
    expect((await run.addReport(input(nextDay, [record(1)]))).outcome).toBe('stored');
    const otherDomain = header({ policy: { domain: 'example.org', p: 'none' } });
    expect((await run.addReport(input(otherDomain, [record(1)]))).outcome).toBe('stored');
    const otherReporter = header({ orgName: 'Mimecast' });
    expect((await run.addReport(input(otherReporter, [record(1)]))).outcome).toBe('stored');
    await run.commit();
    expect(await rowKeys(root)).toHaveLength(4);
  });

  it('does not read the records of a duplicate, and tells its producer to stop', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    await run.addReport(input(JAN, [record(1)]));
    let read = false;
    let closed = false;
    const records = {
      [Symbol.asyncIterator]: (): AsyncIterator<ReportRecord[]> => ({
        next: async () => {
          read = true;
          return { done: true, value: undefined };
        },
        return: async () => {
          closed = true;
          return { done: true, value: undefined };
        },
      }),
    };
    await run.addReport({ header: JAN, records, warnings: () => [], sourceRef: 'x' });
    expect(read).toBe(false);
    expect(closed).toBe(true);
    await run.abort();
  });

  it('a report whose stream fails midway leaves no rows and is not marked stored', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    await run.addReport(input(FEB, [record(1)]));
    async function* broken(): AsyncGenerator<ReportRecord[]> {
      yield [record(2), record(3)];
      throw new Error('truncated document');
    }
    await expect(run.addReport({ header: JAN, records: broken(), warnings: () => [], sourceRef: 'broken' })).rejects.toThrow(
      'truncated document',
    );
    expect(ds.hasReport(reportKey(JAN))).toBe(false);
    run.addLedgerEntry({ sourceRef: 'broken', kind: 'aggregate', outcome: 'invalid', reason: 'truncated', reportKey: reportKey(JAN) });
    // The same report, complete this time, is stored normally after the failure.
    await run.addReport(input(JAN, [record(4)]));
    await run.commit();
    const rows = await query<{ source_ip: string; month: string }>(
      `SELECT source_ip, month FROM (${committedRecordsSql(root)}) ORDER BY source_ip`,
    );
    expect(rows).toEqual([
      { source_ip: '192.0.2.1', month: '2026-02' },
      { source_ip: '192.0.2.4', month: '2026-01' },
    ]);
  });

  it('a record too large to stage fails its report only', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    const huge = record(2, { reasons: [{ type: 'other', comment: 'x'.repeat(5 * 1024 * 1024) }] });
    await expect(run.addReport(input(JAN, [record(1), huge]))).rejects.toThrow(/too large/);
    await run.addReport(input(FEB, [record(3)]));
    await run.commit();
    expect((await rowKeys(root)).map((k) => k.split('|')[0])).toEqual([reportKey(FEB)]);
  });

  it('stores long records beside short ones (the COPY buffer grows with the longest staged line)', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    // ~1 MB of UTF-8 in one line: far past the small 256 KiB buffer, within the 4 MiB one.
    const comment = 'é'.repeat(500_000);
    await run.addReport(input(JAN, [record(1), record(2, { reasons: [{ type: 'other', comment }] })]));
    await run.addReport(input(FEB, [record(3)]));
    await run.commit();
    const rows = await query<{ source_ip: string; n: number }>(
      `SELECT source_ip, coalesce(sum(length(r.comment)), 0)::INTEGER AS n FROM (${committedRecordsSql(root)}) ` +
        'LEFT JOIN unnest(override_reasons) AS u(r) ON true GROUP BY source_ip ORDER BY source_ip',
    );
    expect(rows).toEqual([
      { source_ip: '192.0.2.1', n: 0 },
      { source_ip: '192.0.2.2', n: 500_000 },
      { source_ip: '192.0.2.3', n: 0 },
    ]);
  });

  it('a report with no records is stored (ledger) and later copies are duplicates', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    expect(await run.addReport(input(JAN, []))).toMatchObject({ outcome: 'stored', records: 0 });
    expect((await run.addReport(input(JAN, []))).outcome).toBe('duplicate');
    const summary = await run.commit();
    expect(summary).toMatchObject({ committed: true, records: 0, parts: [] });
    expect(await rowKeys(root)).toEqual([]);
    expect((await findReports(root, { outcome: 'stored' })).map((r) => r.records)).toEqual([0]);
  });
});

describe('runs', () => {
  it('abort leaves the dataset exactly as before', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const r1 = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    await r1.addReport(input(JAN, [record(1)]));
    await r1.commit();
    // Aborting a committed run is a no-op.
    await r1.abort();
    const before = filesUnder(root);
    expect(before).toContain('records/month=2026-01/run-r1.parquet');
    const r2 = await ds.beginRun({ runId: 'r2', ingestedAt: new Date() });
    await r2.addReport(input(FEB, [record(2)]));
    await r2.abort();
    expect(filesUnder(root)).toEqual(before);
    expect(ds.hasReport(reportKey(FEB))).toBe(false);
  });

  it('a commit that fails before the ledger rename rolls the whole run back', async () => {
    const root = tempRoot();
    const ds = await openDs(root, {
      onStep: (step, detail) => {
        if (step === 'run:part-renamed' && detail === '2026-02') throw new Error('disk full');
      },
    });
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    await run.addReport(input(JAN, [record(1)]));
    await run.addReport(input(FEB, [record(2)]));
    await expect(run.commit()).rejects.toThrow('disk full');
    expect(filesUnder(root)).toEqual([]);
    expect(ds.hasReport(reportKey(JAN))).toBe(false);
    // The id was never committed, so it can be used again.
    const retry = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    await retry.addReport(input(JAN, [record(1)]));
    expect((await retry.commit()).committed).toBe(true);
  });

  it('readers see nothing of a run until its ledger part is in place', async () => {
    const root = tempRoot();
    const seen: Record<string, number> = {};
    const ds = await openDs(root, {
      onStep: async (step) => {
        seen[step] = (await rowKeys(root)).length;
      },
    });
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    await run.addReport(input(JAN, [record(1), record(2)]));
    await run.commit();
    expect(seen).toEqual({
      'run:staged': 0,
      'run:part-written': 0,
      'run:part-renamed': 0,
      'run:ledger-written': 0,
      'run:committed': 2,
      'run:cleaned': 2,
    });
  });

  it('rejects bad and reused run ids, and a second run while one is active', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    await expect(ds.beginRun({ runId: '../x', ingestedAt: new Date() })).rejects.toThrow(/Invalid run id/);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    await expect(ds.beginRun({ runId: 'r2', ingestedAt: new Date() })).rejects.toThrow(/still active/);
    await run.addReport(input(JAN, [record(1)]));
    await run.commit();
    await expect(ds.beginRun({ runId: 'r1', ingestedAt: new Date() })).rejects.toThrow(/already committed/);
  });

  it('a run with no input commits nothing', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    expect(await run.commit()).toMatchObject({ committed: false, ledgerEntries: 0 });
    expect(filesUnder(root)).toEqual([]);
  });

  it('one writer at a time', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    await expect(openDataset({ root })).rejects.toThrow(/in use by process/);
    await ds.close();
    await (await openDs(root)).close();
  });
});

describe('recover', () => {
  it('removes what uncommitted runs left and leaves the committed state exactly', async () => {
    const root = tempRoot();
    let ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    await run.addReport(input(JAN, [record(1), record(2)]));
    await run.addReport(input(FEB, [record(3)]));
    await run.commit();
    await ds.close();
    const rowsBefore = await allRows(root);
    const filesBefore = filesUnder(root);

    // What a run that died at various points leaves: a renamed part with no ledger part (in an
    // existing and in a new month), temp files of parts and of a ledger part, its staging files.
    const [janPart] = committedRecordFiles(root);
    const jan = join(root, 'records', 'month=2026-01');
    copyFileSync(janPart as string, join(jan, 'run-ghost.parquet'));
    mkdirSync(join(root, 'records', 'month=2026-07'));
    copyFileSync(janPart as string, join(root, 'records', 'month=2026-07', 'run-ghost.parquet'));
    writeFileSync(join(jan, '.run-ghost.parquet.tmp'), 'PAR1 half written');
    writeFileSync(join(root, 'ledger', '.run-ghost.parquet.tmp'), 'PAR1 half written');
    mkdirSync(join(root, '.staging', 'ghost', 'duckdb'), { recursive: true });
    writeFileSync(join(root, '.staging', 'ghost', 'records-2026-01.ndjson'), '{"rk":0}\n');
    mkdirSync(join(root, 'quarantine', 'invalid'), { recursive: true });
    writeFileSync(join(root, 'quarantine', 'invalid', `.${'a'.repeat(64)}.xml.gz.tmp`), 'half');

    // Readers already ignore the debris.
    expect(await allRows(root)).toEqual(rowsBefore);

    ds = await openDs(root);
    expect(ds.recovery.uncommittedParts.map((p) => relative(root, p)).sort()).toEqual([
      'records/month=2026-01/run-ghost.parquet',
      'records/month=2026-07/run-ghost.parquet',
    ]);
    expect(ds.recovery.temporary).toHaveLength(3);
    expect(ds.recovery.staging).toEqual(['ghost']);
    expect(filesUnder(root)).toEqual(filesBefore);
    expect(existsSync(join(root, 'records', 'month=2026-07'))).toBe(false);
    expect(await allRows(root)).toEqual(rowsBefore);
    // Dedupe state is the committed one.
    expect(ds.hasReport(reportKey(JAN))).toBe(true);
    // Recovering again changes nothing.
    await ds.close();
    ds = await openDs(root);
    expect(ds.recovery).toEqual({ staging: [], temporary: [], uncommittedParts: [], compactionsFinished: [], compactionsUndone: [] });
  });

  it('takes over the lock of a process that died', async () => {
    const root = tempRoot();
    mkdirSync(root, { recursive: true });
    // pid 2^22+1 is above Linux's pid_max default: no such process.
    writeFileSync(join(root, '.lock'), JSON.stringify({ pid: 4_194_305, host: (await import('node:os')).hostname(), since: 'then' }));
    const ds = await openDs(root);
    expect(ds.root).toBe(root);
  });

  it('a lock from another host is only taken over when asked', async () => {
    const root = tempRoot();
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, '.lock'), JSON.stringify({ pid: 1, host: 'ci-runner-that-died', since: 'then' }));
    await expect(openDataset({ root })).rejects.toThrow(/in use by process 1 on ci-runner-that-died.*breakLock/);
    await openDs(root, { breakLock: true });
  });
});

describe('compaction', () => {
  async function threeRuns(root: string): Promise<void> {
    const ds = await openDs(root);
    for (const [i, h] of [JAN, header({ reportId: 'b' }), header({ reportId: 'c' })].entries()) {
      const run = await ds.beginRun({ runId: `r${i}`, ingestedAt: new Date(Date.UTC(2026, 1, 20 + i)) });
      await run.addReport(input(h, [record(i * 2), record(i * 2 + 1)], { sourceRef: `src-${i}` }));
      if (i === 2) await run.addReport(input(FEB, [record(9)]));
      await run.commit();
    }
    await ds.close();
  }

  it('merges a month into one file with exactly the same rows, provenance included', async () => {
    const root = tempRoot();
    await threeRuns(root);
    const before = await allRows(root);
    expect(before).toHaveLength(7);
    const ds = await openDs(root);
    const result = await ds.compact('2026-01');
    expect(result).toMatchObject({ month: '2026-01', compacted: true, rows: 6 });
    expect(result.inputs).toEqual([
      'records/month=2026-01/run-r0.parquet',
      'records/month=2026-01/run-r1.parquet',
      'records/month=2026-01/run-r2.parquet',
    ]);
    expect(filesUnder(join(root, 'records'))).toEqual([result.output?.replace('records/', ''), 'month=2026-02/run-r2.parquet']);
    expect(await allRows(root)).toEqual(before);
    // The output holds the dataset's columns only: `month` stays in the path.
    const cols = await query<{ column_name: string }>(
      `DESCRIBE SELECT * FROM read_parquet('${join(root, result.output as string)}', hive_partitioning = false)`,
    );
    expect(cols.map((c) => c.column_name)).toEqual(RECORD_COLUMNS.map((c) => c.name));
    // The plain glob agrees once the compaction is done.
    const glob = await query<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM read_parquet('${root}/records/*/*.parquet')`);
    expect(glob[0]?.n).toBe(7);
  });

  it('dedupe still works after compaction, in the same process and after reopening', async () => {
    const root = tempRoot();
    await threeRuns(root);
    let ds = await openDs(root);
    await ds.compact('2026-01');
    let run = await ds.beginRun({ runId: 'r9', ingestedAt: new Date() });
    expect((await run.addReport(input(JAN, [record(0)]))).outcome).toBe('duplicate');
    await run.commit();
    await ds.close();
    ds = await openDs(root);
    run = await ds.beginRun({ runId: 'r10', ingestedAt: new Date() });
    expect((await run.addReport(input(header({ reportId: 'c' }), [record(0)]))).outcome).toBe('duplicate');
    // New data for a compacted month lands in a new part next to the compacted file.
    expect((await run.addReport(input(header({ reportId: 'd' }), [record(5)]))).outcome).toBe('stored');
    await run.commit();
    expect(await rowKeys(root)).toHaveLength(8);
    // Compacting again merges the compacted file and the new part.
    const again = await ds.compact('2026-01');
    expect(again).toMatchObject({ compacted: true, rows: 7 });
    expect(await rowKeys(root)).toHaveLength(8);
  });

  it('does nothing for a month with fewer than two files', async () => {
    const root = tempRoot();
    await threeRuns(root);
    const ds = await openDs(root);
    const files = filesUnder(root);
    expect(await ds.compact('2026-02')).toMatchObject({ compacted: false, rows: 1, output: null });
    expect(await ds.compact('2025-12')).toMatchObject({ compacted: false, rows: 0, inputs: [] });
    expect(filesUnder(root)).toEqual(files);
    await expect(ds.compact('2026-13')).rejects.toThrow(/Invalid month/);
  });

  it('recovers a compaction that died before its commit: inputs untouched, debris removed', async () => {
    const root = tempRoot();
    await threeRuns(root);
    const before = await allRows(root);
    const files = filesUnder(root);
    // What compaction leaves before its rename: the output under its temp name, and the manifest.
    const jan = join(root, 'records', 'month=2026-01');
    const [part] = committedRecordFiles(root);
    copyFileSync(part as string, join(jan, '.compact-x1.parquet.tmp'));
    writeFileSync(
      join(jan, '_compact-x1.json'),
      JSON.stringify({
        version: 1,
        id: 'x1',
        month: '2026-01',
        output: 'compact-x1.parquet',
        inputs: ['run-r0.parquet', 'run-r1.parquet', 'run-r2.parquet'],
        rows: 6,
        createdAt: '',
      }),
    );
    expect(await allRows(root)).toEqual(before);
    const ds = await openDs(root);
    expect(ds.recovery.compactionsUndone).toEqual(['x1']);
    expect(filesUnder(root)).toEqual(files);
    expect(await allRows(root)).toEqual(before);
  });

  it('finishes a compaction that died after its commit: readers never count a row twice', async () => {
    const root = tempRoot();
    await threeRuns(root);
    const before = await allRows(root);
    let ds = await openDs(root, {
      onStep: (step) => {
        if (step === 'compact:committed') throw new Error('killed');
      },
    });
    await expect(ds.compact('2026-01')).rejects.toThrow('killed');
    const jan = readdirSync(join(root, 'records', 'month=2026-01')).sort();
    expect(jan.filter((n) => n.startsWith('run-'))).toHaveLength(3);
    expect(jan.filter((n) => n.startsWith('compact-') || n.startsWith('_compact-'))).toHaveLength(2);
    // Inputs and output are both on disk, yet the committed view has every row once.
    expect(await allRows(root)).toEqual(before);
    await ds.close();
    ds = await openDs(root);
    expect(ds.recovery.compactionsFinished).toHaveLength(1);
    expect(readdirSync(join(root, 'records', 'month=2026-01')).map((n) => n.replace(/-[^.]*\./, '-*.'))).toEqual(['compact-*.parquet']);
    expect(await allRows(root)).toEqual(before);
  });

  it('a compaction that fails before its commit changes nothing', async () => {
    const root = tempRoot();
    await threeRuns(root);
    const files = filesUnder(root);
    const ds = await openDs(root, {
      onStep: (step) => {
        if (step === 'compact:manifest') throw new Error('disk full');
      },
    });
    await expect(ds.compact('2026-01')).rejects.toThrow('disk full');
    expect(filesUnder(root)).toEqual(files);
  });
});

describe('ledger and quarantine', () => {
  it('quarantines foreign inputs only: raw bytes, gzipped unless already compressed, and records the path', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    const xml = new TextEncoder().encode('<feedback><policy_published><domain>other.test</domain>');
    const path = await run.quarantine(xml, 'foreign', 'report.xml');
    expect(relative(root, path)).toMatch(/^quarantine\/foreign\/[0-9a-f]{64}\.xml\.gz$/);
    expect(gunzipSync(readFileSync(path))).toEqual(xml);
    // Same bytes again: same file.
    expect(await run.quarantine(xml, 'foreign', 'other-name.xml')).toBe(path);

    const zipped = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3]);
    const zipPath = await run.quarantine(zipped, 'foreign', 'stuff.ZIP');
    expect(zipPath).toMatch(/quarantine\/foreign\/[0-9a-f]{64}\.zip$/);
    expect(new Uint8Array(readFileSync(zipPath))).toEqual(zipped);
    // Names that claim a compression the bytes don't have (or another one) don't decide the suffix.
    const claimed = await run.quarantine(xml, 'foreign', 'report.xml.gz');
    expect(claimed).toMatch(/\/[0-9a-f]{64}\.xml\.gz$/);
    expect(gunzipSync(readFileSync(claimed))).toEqual(xml);
    const gz = readFileSync(claimed);
    const mislabeled = await run.quarantine(gz, 'foreign', 'attachment.zip');
    expect(mislabeled).toMatch(/\/[0-9a-f]{64}\.gz$/);
    expect(new Uint8Array(readFileSync(mislabeled))).toEqual(new Uint8Array(gz));
    const nameless = await run.quarantine(new Uint8Array([1, 2, 3]), 'foreign', 'noext');
    expect(nameless).toMatch(/\.bin\.gz$/);
    expect(gunzipSync(readFileSync(nameless))).toEqual(new Uint8Array([1, 2, 3]));

    // The raw bytes of anything else may be anyone's mail: the store refuses to keep them.
    await expect(run.quarantine(xml, 'invalid' as never, 'mail.eml')).rejects.toThrow(/Cannot quarantine with outcome "invalid"/);
    await expect(run.quarantine(xml, 'unsupported' as never, 'arf.eml')).rejects.toThrow(/Cannot quarantine/);
    expect(existsSync(join(root, 'quarantine', 'invalid'))).toBe(false);

    run.addLedgerEntry({ sourceRef: 'sha256:aa', kind: 'aggregate', outcome: 'foreign', reason: 'not ours', quarantinePath: path });
    await run.commit();
    const [row] = await findReports(root, { outcome: 'foreign' });
    expect(row?.quarantinePath).toBe(relative(root, path));
    expect(gunzipSync(readFileSync(join(root, row?.quarantinePath as string)))).toEqual(xml);
  });

  it("keepReport keeps a report's XML gzipped by its hash, within the cap per report and the new-bytes budget", async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    const xml = new TextEncoder().encode(`<feedback>${'<record/>'.repeat(1000)}</feedback>`);
    async function* chunks(bytes: Uint8Array, size = 1000): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
    }
    const first = await run.keepReport(chunks(xml), { maxBytes: 1 << 20, maxNewBytes: 1 << 20 });
    if (!first.kept) throw new Error('not kept');
    expect(relative(root, first.path)).toBe(`quarantine/foreign/${createHash('sha256').update(xml).digest('hex')}.xml.gz`);
    expect(gunzipSync(readFileSync(first.path))).toEqual(xml);
    expect(first).toMatchObject({ added: true, bytes: readFileSync(first.path).length });
    // Kept already: costs no budget.
    expect(await run.keepReport(chunks(xml), { maxBytes: 1 << 20, maxNewBytes: 0 })).toMatchObject({
      kept: true,
      path: first.path,
      added: false,
    });

    // Incompressible: its gzip is as big as it is.
    const random = new Uint8Array(randomBytes(200_000));
    expect(await run.keepReport(chunks(random), { maxBytes: 50_000, maxNewBytes: 1 << 20 })).toMatchObject({
      kept: false,
      why: 'over-cap',
    });
    expect(await run.keepReport(chunks(random), { maxBytes: 1 << 20, maxNewBytes: 50_000 })).toMatchObject({
      kept: false,
      why: 'over-budget',
    });
    // Nothing left behind by the refusals: only the first report, no temp files.
    expect(readdirSync(join(root, 'quarantine', 'foreign'))).toEqual([relative(join(root, 'quarantine', 'foreign'), first.path)]);
    await run.abort();
  });

  it('ledger subjects and reasons lose e-mail addresses and control characters; the size is recorded', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date() });
    run.addLedgerEntry({
      sourceRef: 'sha256:bb',
      kind: 'other',
      outcome: 'invalid',
      reason: 'a.eml: no DMARC aggregate report in message "Call jane.doe@example.net" <x@y.example>',
      messageId: '<x@y.example>',
      subject: 'Call jane.doe@example.net\r\n or "Jane" <jane@example.org>\u001b[31m',
      sourceBytes: 1234,
    });
    await run.addReport(input(header(), [record(1)], { ledger: { subject: 'Report for bob@example.com', sourceBytes: 99 } }));
    await run.commit();
    const rows = await findReports(root);
    const invalid = rows.find((row) => row.outcome === 'invalid');
    expect(invalid).toMatchObject({
      subject: 'Call [address] or "Jane" <[address]> [31m',
      reason: 'a.eml: no DMARC aggregate report in message "Call [address]" <[address]>',
      messageId: '<x@y.example>',
      sourceBytes: 1234,
    });
    expect(rows.find((row) => row.outcome === 'stored')).toMatchObject({ subject: 'Report for [address]', sourceBytes: 99 });
  });

  it('findReports answers "did we get Google\'s report for the 12th?"', async () => {
    const root = tempRoot();
    const ds = await openDs(root);
    const run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date('2026-01-14T00:00:00Z') });
    const d = (iso: string, hours = 24): Pick<ReportHeader, 'dateBegin' | 'dateEnd'> => ({
      dateBegin: day(iso),
      dateEnd: day(iso) + hours * 3600 - (hours === 24 ? 1 : 0),
    });
    await run.addReport(input(header({ reportId: 'g11', ...d('2026-01-11') }), [record(1)]));
    await run.addReport(
      input(header({ reportId: 'g12', ...d('2026-01-12') }), [record(1), record(2)], {
        ledger: {
          sourceName: 'INBOX',
          messageId: '<m1@google.com>',
          subject: 'Report domain: example.com',
          sourceTrail: ['m1.eml', 'google.zip', 'google.xml'],
        },
      }),
    );
    // Ends exactly at midnight of the 12th: belongs to the 11th.
    await run.addReport(
      input(header({ orgName: 'Mimecast', reportId: 'm', dateBegin: day('2026-01-11'), dateEnd: day('2026-01-12') }), [record(1)]),
    );
    await run.addReport(
      input(header({ orgName: 'Outlook.com', reportId: 'o', ...d('2026-01-12'), policy: { domain: 'example.org', p: 'none' } }), [
        record(1),
      ]),
    );
    const foreign = header({ reportId: 'x', policy: { domain: 'other.test', p: 'none' } });
    run.addLedgerEntry({
      sourceRef: 'sha256:ff',
      kind: 'aggregate',
      outcome: 'foreign',
      reason: 'policy domain not ours',
      header: foreign,
      records: 3,
      messageId: null,
      subject: 'Report domain: other.test',
    });
    await run.commit();

    const google12 = await findReports(root, { org: 'Google', domain: 'Example.com', day: '2026-01-12' });
    expect(google12).toHaveLength(1);
    expect(google12[0]).toMatchObject({
      reportId: 'g12',
      outcome: 'stored',
      kind: 'aggregate',
      orgName: 'google.com',
      policyDomain: 'example.com',
      records: 2,
      messages: 5,
      month: '2026-01',
      sourceName: 'INBOX',
      messageId: '<m1@google.com>',
      subject: 'Report domain: example.com',
      sourceTrail: ['m1.eml', 'google.zip', 'google.xml'],
      dateBegin: new Date('2026-01-12T00:00:00Z'),
      ingestRun: 'r1',
      ingestedAt: new Date('2026-01-14T00:00:00Z'),
    });
    expect((await findReports(root, { day: '2026-01-12' })).map((r) => r.reportId)).toEqual(['g12', 'o', 'x']);
    expect((await findReports(root, { day: new Date('2026-01-11T15:00:00Z') })).map((r) => r.reportId).sort()).toEqual(['g11', 'm']);
    const [f] = await findReports(root, { org: 'google', day: '2026-01-12', outcome: 'foreign' });
    expect(f).toMatchObject({
      reportId: 'x',
      policyDomain: 'other.test',
      reportKey: reportKey(foreign),
      records: 3,
      messageId: null,
      subject: 'Report domain: other.test',
      month: null,
    });
    expect(await findReports(root, { org: 'yahoo' })).toEqual([]);
    expect(await findReports(tempRoot(), {})).toEqual([]);
    await expect(findReports(root, { day: '12 Jan' })).rejects.toThrow(/Invalid day/);
  });
});

describe('readers', () => {
  it('committedRecordsSql over an empty dataset has the schema and no rows', async () => {
    const root = tempRoot();
    const rows = await query(`SELECT * FROM (${committedRecordsSql(root)})`);
    expect(rows).toEqual([]);
    const cols = await query<{ column_name: string }>(`DESCRIBE ${committedRecordsSql(root)}`);
    expect(cols.map((c) => c.column_name)).toEqual([...RECORD_COLUMNS.map((c) => c.name), 'month']);
  });

  it('docs/dataset.md documents every column of the records and the ledger', async () => {
    const doc = readFileSync(new URL('../../docs/dataset.md', import.meta.url), 'utf8');
    const { LEDGER_COLUMNS } = await import('../../scripts/reports/store/index.ts');
    for (const c of [...RECORD_COLUMNS, ...LEDGER_COLUMNS]) expect(doc, c.name).toContain(`| \`${c.name}\` |`);
  });

  it('committedTlsSql over an empty dataset has the TLS columns and no rows; docs/dataset.md documents each with its type', async () => {
    const { TLS_COLUMNS, committedTlsSql } = await import('../../scripts/reports/store/index.ts');
    const root = tempRoot();
    expect(await query(`SELECT * FROM (${committedTlsSql(root)})`)).toEqual([]);
    const cols = await query<{ column_name: string; column_type: string }>(`DESCRIBE ${committedTlsSql(root)}`);
    expect(cols.map((c) => c.column_name)).toEqual([...TLS_COLUMNS.map((c) => c.name), 'month']);
    // In the TLS section itself (several names are also records columns), with the type the files have.
    const doc = readFileSync(new URL('../../docs/dataset.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## TLS reports'));
    for (const c of TLS_COLUMNS) expect(section, c.name).toContain(`| \`${c.name}\` | \`${c.type}\` |`);
  });
});
