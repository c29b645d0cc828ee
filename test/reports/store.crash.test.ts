/**
 * Real crashes: a child process ingests or compacts and is SIGKILLed at each step of the commit
 * protocol. After every kill the dataset must read as exactly "before" or exactly "after" — first
 * as it lies on disk (through committedRecordsSql and committedTlsSql), then after openDataset's
 * recover() — with no debris left and dedupe agreeing with the data. The run stores aggregate
 * records and TLS report rows, so the kills land between the parts of both tables too.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReportHeader, ReportRecord } from '../../scripts/reports/parse/types.ts';
import { parseTlsReport, tlsReportKey } from '../../scripts/reports/parse/tls/index.ts';
import { committedRecordsSql, committedTlsSql, findReports, openDataset, reportKey } from '../../scripts/reports/store/index.ts';
import { tlsReportJson, utcDay } from '../fixtures/reports/mailbuilder.ts';
import type { TlsReportSpec } from '../fixtures/reports/mailbuilder.ts';

const STORE = pathToFileURL(new URL('../../scripts/reports/store/index.ts', import.meta.url).pathname).href;
const TLS_PARSER = pathToFileURL(new URL('../../scripts/reports/parse/tls/index.ts', import.meta.url).pathname).href;
const tempDir = mkdtempSync(join(tmpdir(), 'dmarcops-store-crash-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

const day = (iso: string): number => Date.parse(`${iso}T00:00:00Z`) / 1000;
function header(reportId: string, iso: string): ReportHeader {
  return {
    orgName: 'google.com',
    email: 'noreply@google.com',
    reportId,
    dateBegin: day(iso),
    dateEnd: day(iso) + 86_399,
    errors: [],
    schema: 'rfc7489',
    policy: { domain: 'example.com', p: 'none' },
  };
}
/** A TLS report for example.com on a day, with `failures` failure details (rows: 1 + failures). */
function tls(reportId: string, iso: string, failures: number): string {
  const spec: TlsReportSpec = {
    org: 'Google Inc.',
    contact: 'smtp-tls-reporting@google.com',
    reportId,
    domain: 'example.com',
    ...utcDay(iso),
    policies: [
      {
        type: 'sts',
        policyString: ['version: STSv1', 'mode: testing'],
        successful: 10,
        failed: failures,
        details: Array.from({ length: failures }, (_, i) => ({
          resultType: 'certificate-expired',
          sendingMtaIp: `192.0.2.${i + 1}`,
          receivingMxHostname: 'mx1.example.com',
          failed: 1,
        })),
      },
    ],
  };
  return tlsReportJson(spec);
}
const TLS_JAN_NEW = tls('tls-jan-new', '2026-01-21', 2);
const TLS_FEB_NEW = tls('tls-feb-new', '2026-02-21', 1);
const TLS_JAN_A = tls('tls-jan-a', '2026-01-12', 1);
const TLS_JAN_B = tls('tls-jan-b', '2026-01-13', 0);

function record(i: number): ReportRecord {
  return {
    sourceIp: `192.0.2.${i}`,
    count: 1,
    disposition: 'none',
    evalDkim: 'pass',
    evalSpf: 'pass',
    reasons: [],
    headerFrom: 'example.com',
    envelopeFrom: 'example.com',
    dkim: [{ domain: 'example.com', result: 'pass' }],
    spf: [{ domain: 'example.com', scope: 'mfrom', result: 'pass' }],
  };
}

/** The child: opens the dataset with a hook that SIGKILLs itself at the target step. */
const CHILD = `
const [store, parser, root, mode, target, tlsJson] = process.argv.slice(2);
const { openDataset } = await import(store);
const { parseTlsReport } = await import(parser);
const tls = JSON.parse(tlsJson);
const die = () => process.kill(process.pid, 'SIGKILL');
const ds = await openDataset({
  root,
  onStep: (step, detail) => { if (step === target || step + ':' + detail === target) die(); },
});
const day = (iso) => Date.parse(iso + 'T00:00:00Z') / 1000;
const header = (reportId, iso) => ({ orgName: 'google.com', email: 'noreply@google.com', reportId,
  dateBegin: day(iso), dateEnd: day(iso) + 86399, errors: [], schema: 'rfc7489', policy: { domain: 'example.com', p: 'none' } });
const record = (i) => ({ sourceIp: '192.0.2.' + i, count: 1, disposition: 'none', evalDkim: 'pass', evalSpf: 'pass', reasons: [],
  headerFrom: 'example.com', envelopeFrom: 'example.com', dkim: [{ domain: 'example.com', result: 'pass' }],
  spf: [{ domain: 'example.com', scope: 'mfrom', result: 'pass' }] });
if (mode === 'run') {
  const run = await ds.beginRun({ runId: 'r2', ingestedAt: new Date('2026-03-01T00:00:00Z') });
  await run.addReport({ header: header('jan-new', '2026-01-20'), records: [[record(20), record(21), record(22)]], warnings: () => [], sourceRef: 'c1' });
  await run.addReport({ header: header('feb-new', '2026-02-20'), records: [[record(23), record(24)]], warnings: () => [], sourceRef: 'c2' });
  await run.addReport({ header: header('jan-a', '2026-01-10'), records: [[record(1)]], warnings: () => [], sourceRef: 'c3' });
  run.addLedgerEntry({ sourceRef: 'c4', kind: 'other', outcome: 'invalid', reason: 'not-xml' });
  await run.addTlsReport({ report: parseTlsReport(tls.janNew), sourceRef: 't1' });
  await run.addTlsReport({ report: parseTlsReport(tls.febNew), sourceRef: 't2' });
  await run.addTlsReport({ report: parseTlsReport(tls.janA), sourceRef: 't3' });
  if (target === 'before-commit') die();
  await run.commit();
} else if (mode === 'compact-tls') {
  await ds.compact('2026-01', 'tls');
} else {
  await ds.compact('2026-01');
}
await ds.close();
`;
const childPath = join(tempDir, 'child.mjs');

function runChild(
  root: string,
  mode: 'run' | 'compact' | 'compact-tls',
  target: string,
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const reports = JSON.stringify({ janNew: TLS_JAN_NEW, febNew: TLS_FEB_NEW, janA: TLS_JAN_A });
    const child = spawn(process.execPath, [childPath, STORE, TLS_PARSER, root, mode, target, reports], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

let instance: DuckDBInstance;
/** Every committed row of both tables, by identity and run. */
async function rowKeys(root: string): Promise<string[]> {
  const conn = await instance.connect();
  try {
    const rows = (
      await conn.runAndReadAll(`SELECT 'records|' || report_key || '|' || record_index || '|' || ingest_run AS k FROM (${committedRecordsSql(root)})
        UNION ALL
        SELECT 'tls|' || month || '|' || report_key || '|' || policy_index || '|' || coalesce(detail_index, -1) || '|' || ingest_run
        FROM (${committedTlsSql(root)})
        ORDER BY k`)
    ).getRowObjectsJS() as { k: string }[];
    return rows.map((r) => r.k);
  } finally {
    conn.closeSync();
  }
}

function debris(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .filter((p) => p.endsWith('.tmp') || p.startsWith('.staging') || p.includes('_compact-'));
}

/** Every run part on disk has its ledger part. */
function orphanParts(root: string): string[] {
  const ledger = new Set(readdirSync(join(root, 'ledger')));
  return ['records', 'tls'].flatMap((table) =>
    readdirSync(join(root, table), { recursive: true })
      .map(String)
      .filter((p) => /run-[^/]*\.parquet$/.test(p) && !ledger.has(p.slice(p.lastIndexOf('run-')))),
  );
}

const template = join(tempDir, 'template');
let before: string[];
let ledgerBefore: number;
let afterRun: string[];
let ledgerAfterRun: number;

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  writeFileSync(childPath, CHILD);
  // Committed state: two runs, January in two parts, February in one.
  const ds = await openDataset({ root: template });
  let run = await ds.beginRun({ runId: 'r0', ingestedAt: new Date('2026-02-01T00:00:00Z') });
  await run.addReport({ header: header('jan-a', '2026-01-10'), records: [[record(1), record(2)]], warnings: () => [], sourceRef: 's1' });
  await run.addTlsReport({ report: parseTlsReport(TLS_JAN_A), sourceRef: 'ts1' });
  await run.commit();
  run = await ds.beginRun({ runId: 'r1', ingestedAt: new Date('2026-02-02T00:00:00Z') });
  await run.addReport({ header: header('jan-b', '2026-01-11'), records: [[record(3)]], warnings: () => [], sourceRef: 's2' });
  await run.addReport({ header: header('feb-a', '2026-02-01'), records: [[record(4)]], warnings: () => [], sourceRef: 's3' });
  await run.addTlsReport({ report: parseTlsReport(TLS_JAN_B), sourceRef: 'ts2' });
  await run.commit();
  await ds.close();
  before = await rowKeys(template);
  ledgerBefore = (await findReports(template)).length;

  // The state a run that is not interrupted produces.
  const full = join(tempDir, 'full');
  cpSync(template, full, { recursive: true });
  const result = await runChild(full, 'run', 'none');
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  afterRun = await rowKeys(full);
  ledgerAfterRun = (await findReports(full)).length;
  // 5 records, and the TLS rows of jan-new (3) and feb-new (2); tls-jan-a is a duplicate.
  expect(afterRun.length).toBe(before.length + 5 + 5);
  expect(ledgerAfterRun).toBe(ledgerBefore + 4 + 3);
});

let caseNo = 0;
function freshCopy(): string {
  const root = join(tempDir, `case-${++caseNo}`);
  cpSync(template, root, { recursive: true });
  return root;
}

describe('SIGKILL during an ingest run', () => {
  const steps: [string, 'before' | 'after'][] = [
    ['before-commit', 'before'],
    ['run:staged', 'before'],
    ['run:part-written:2026-01', 'before'],
    ['run:part-renamed:2026-01', 'before'],
    ['run:part-written:2026-02', 'before'],
    ['run:part-renamed:2026-02', 'before'],
    ['run:tls-part-written:2026-01', 'before'],
    ['run:tls-part-renamed:2026-01', 'before'],
    ['run:tls-part-written:2026-02', 'before'],
    ['run:tls-part-renamed:2026-02', 'before'],
    ['run:ledger-written', 'before'],
    ['run:committed', 'after'],
    ['run:cleaned', 'after'],
  ];
  it.each(steps)('killed at %s: the dataset is %s the run', async (target, expected) => {
    const root = freshCopy();
    const result = await runChild(root, 'run', target);
    expect(result.signal, result.stderr).toBe('SIGKILL');
    const want = expected === 'before' ? before : afterRun;

    // As it lies on disk, before any recovery: readers already see one whole state.
    expect(await rowKeys(root)).toEqual(want);
    expect((await findReports(root)).length).toBe(expected === 'before' ? ledgerBefore : ledgerAfterRun);

    const ds = await openDataset({ root });
    try {
      expect(await rowKeys(root)).toEqual(want);
      expect(debris(root)).toEqual([]);
      expect(orphanParts(root)).toEqual([]);
      expect(ds.hasReport(reportKey(header('jan-new', '2026-01-20')))).toBe(expected === 'after');
      expect(ds.hasReport(reportKey(header('jan-a', '2026-01-10')))).toBe(true);
      expect(ds.hasTlsReport(tlsReportKey(parseTlsReport(TLS_JAN_NEW)))).toBe(expected === 'after');
      expect(ds.hasTlsReport(tlsReportKey(parseTlsReport(TLS_JAN_A)))).toBe(true);
      if (expected === 'before') {
        // The same run can simply be done again.
        await ds.close();
        const retry = await runChild(root, 'run', 'none');
        expect(retry.code, retry.stderr).toBe(0);
        expect(await rowKeys(root)).toEqual(afterRun);
      }
    } finally {
      await ds.close();
    }
  });
});

describe('SIGKILL during compaction', () => {
  const steps: [string, boolean][] = [
    ['compact:written', false],
    ['compact:manifest', false],
    ['compact:committed', true],
    ['compact:inputs-removed', true],
    ['compact:done', true],
  ];
  it.each(steps)('killed at %s: same rows, compacted = %s', async (target, compacted) => {
    const root = freshCopy();
    const result = await runChild(root, 'compact', target);
    expect(result.signal, result.stderr).toBe('SIGKILL');
    expect(await rowKeys(root)).toEqual(before);

    const ds = await openDataset({ root });
    try {
      expect(await rowKeys(root)).toEqual(before);
      expect(debris(root)).toEqual([]);
      const jan = readdirSync(join(root, 'records', 'month=2026-01')).sort();
      if (compacted) expect(jan).toEqual([expect.stringMatching(/^compact-.*\.parquet$/)]);
      else expect(jan).toEqual(['run-r0.parquet', 'run-r1.parquet']);
      expect(ds.hasReport(reportKey(header('jan-b', '2026-01-11')))).toBe(true);
      expect(existsSync(join(root, 'records', 'month=2026-02', 'run-r1.parquet'))).toBe(true);
    } finally {
      await ds.close();
    }
  });
});

describe('SIGKILL during compaction of tls/', () => {
  const steps: [string, boolean][] = [
    ['compact:written:tls/2026-01', false],
    ['compact:manifest:tls/2026-01', false],
    ['compact:committed:tls/2026-01', true],
    ['compact:inputs-removed:tls/2026-01', true],
    ['compact:done:tls/2026-01', true],
  ];
  it.each(steps)('killed at %s: same rows, compacted = %s', async (target, compacted) => {
    const root = freshCopy();
    const result = await runChild(root, 'compact-tls', target);
    expect(result.signal, result.stderr).toBe('SIGKILL');
    expect(await rowKeys(root)).toEqual(before);

    const ds = await openDataset({ root });
    try {
      expect(await rowKeys(root)).toEqual(before);
      expect(debris(root)).toEqual([]);
      const jan = readdirSync(join(root, 'tls', 'month=2026-01')).sort();
      if (compacted) expect(jan).toEqual([expect.stringMatching(/^compact-.*\.parquet$/)]);
      else expect(jan).toEqual(['run-r0.parquet', 'run-r1.parquet']);
      // records/ is not touched by a compaction of tls/.
      expect(readdirSync(join(root, 'records', 'month=2026-01')).sort()).toEqual(['run-r0.parquet', 'run-r1.parquet']);
      expect(ds.hasTlsReport(tlsReportKey(parseTlsReport(TLS_JAN_B)))).toBe(true);
    } finally {
      await ds.close();
    }
  });
});
