/**
 * The site benchmark's dataset generator writes what the store would have written: the committed
 * layout, the exact column schema, a ledger that commits the run and dedupes, report keys the store
 * computes, derived alignment that agrees with derive.ts, TLS reports in tls/ with their ledger rows,
 * and domain files that load. Small scale
 * (20,000 records); no timing assertions.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateSiteDataset } from '../../bench/site/generate.ts';
import type { SiteDatasetResult } from '../../bench/site/generate.ts';
import { loadDomainDir } from '../../scripts/policy/load.ts';
import type { DomainPolicy } from '../../scripts/policy/model.ts';
import { CATEGORIES, classify, policyForRow } from '../../scripts/reports/classify.ts';
import type { ClassifyRow } from '../../scripts/reports/classify.ts';
import { dkimAligned, spfAligned } from '../../scripts/reports/derive.ts';
import { isKnownForwarder } from '../../scripts/reports/enrich/index.ts';
import { ingestRun } from '../../scripts/reports/pipeline.ts';
import { fileItems } from '../../scripts/reports/sources/files.ts';
import {
  committedLedgerFiles,
  committedRecordFiles,
  committedRecordsSql,
  committedTlsFiles,
  committedTlsSql,
  openDataset,
  RECORD_COLUMNS,
  reportKey,
  TLS_COLUMNS,
} from '../../scripts/reports/store/index.ts';
import { openDuck } from '../../scripts/reports/store/duck.ts';
import type { Duck } from '../../scripts/reports/store/duck.ts';
import { reportXml } from '../fixtures/unpack/make.ts';

const PREFIX = join(tmpdir(), 'dmarcops-site-generate-');
const OPTIONS = { records: 20_000, days: 60, domains: 5, seed: 3, endDay: '2026-11-26' };

let dir: string;
let data: string;
let result: SiteDatasetResult;
let duck: Duck;

type Row = ClassifyRow & Record<string, unknown>;

beforeAll(async () => {
  dir = await mkdtemp(PREFIX);
  data = join(dir, 'reports');
  result = await generateSiteDataset(data, OPTIONS);
  duck = await openDuck({ memoryLimit: '512MB' });
}, 60_000);

afterAll(async () => {
  duck?.close();
  if (dir?.startsWith(PREFIX)) await rm(dir, { recursive: true, force: true });
});

const count = async (sql: string): Promise<number> =>
  Number((await duck.rows<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM (${sql})`))[0]?.n);

describe('generateSiteDataset', () => {
  test('the committed records are exactly the ones asked for, in the reports it counted', async () => {
    expect(result.records).toBe(OPTIONS.records);
    expect(result.domainsDir).toBe(join(dir, 'reports-domains'));
    expect(await count(committedRecordsSql(data))).toBe(OPTIONS.records);
    const [row] = await duck.rows<{ reports: number; domains: number; first: string; last: string }>(
      `SELECT count(DISTINCT report_key)::INTEGER AS reports, count(DISTINCT policy_domain)::INTEGER AS domains,
              strftime(min(date_begin), '%Y-%m-%d') AS first, strftime(max(date_begin), '%Y-%m-%d') AS last
       FROM (${committedRecordsSql(data)})`,
    );
    expect(row).toEqual({ reports: result.reports, domains: OPTIONS.domains, first: '2026-09-28', last: OPTIONS.endDay });
    // (report_key, record_index) identifies a row, as in an ingested dataset.
    expect(await count(`SELECT DISTINCT report_key, record_index FROM (${committedRecordsSql(data)})`)).toBe(OPTIONS.records);
  });

  test('one part per month, with the store’s columns and types in order', async () => {
    const files = committedRecordFiles(data);
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const file of files) expect(file).toMatch(new RegExp(`month=\\d{4}-\\d{2}/run-${result.runId}\\.parquet$`));
    const expected = await duck.rows<{ column_name: string; column_type: string }>(
      `DESCRIBE SELECT ${RECORD_COLUMNS.map((c) => `CAST(NULL AS ${c.type}) AS ${c.name}`).join(', ')}`,
    );
    for (const file of files) {
      const actual = await duck.rows<{ column_name: string; column_type: string }>(
        `DESCRIBE SELECT * FROM read_parquet('${file}', hive_partitioning = false)`,
      );
      expect(actual.map((c) => [c.column_name, c.column_type])).toEqual(expected.map((c) => [c.column_name, c.column_type]));
    }
  });

  test('the ledger commits the run: one stored row per report, with its records and messages', async () => {
    const ledger = committedLedgerFiles(data);
    expect(ledger).toHaveLength(1);
    const [row] = await duck.rows<{ n: number; stored: number; records: number; messages: number }>(
      `SELECT count(*)::INTEGER AS n, count(*) FILTER (WHERE outcome = 'stored')::INTEGER AS stored,
         sum(records)::INTEGER AS records, sum(messages)::DOUBLE AS messages
       FROM read_parquet('${ledger[0]}') WHERE kind = 'aggregate'`,
    );
    const [totals] = await duck.rows<{ messages: number }>(
      `SELECT sum(message_count)::DOUBLE AS messages FROM (${committedRecordsSql(data)})`,
    );
    expect(row).toEqual({ n: result.reports, stored: result.reports, records: OPTIONS.records, messages: totals?.messages });
  });

  test('TLS reports: the store’s columns in tls/, one summary row per report whose failures add up, ledger rows of kind tls, the store’s keys', async () => {
    const files = committedTlsFiles(data);
    expect(files.length).toBeGreaterThanOrEqual(2);
    const expected = await duck.rows<{ column_name: string; column_type: string }>(
      `DESCRIBE SELECT ${TLS_COLUMNS.map((c) => `CAST(NULL AS ${c.type}) AS ${c.name}`).join(', ')}`,
    );
    for (const file of files) {
      expect(file).toMatch(new RegExp(`tls/month=\\d{4}-\\d{2}/run-${result.runId}\\.parquet$`));
      const actual = await duck.rows<{ column_name: string; column_type: string }>(
        `DESCRIBE SELECT * FROM read_parquet('${file}', hive_partitioning = false)`,
      );
      expect(actual.map((c) => [c.column_name, c.column_type])).toEqual(expected.map((c) => [c.column_name, c.column_type]));
    }
    const tls = committedTlsSql(data);
    const [shape] = await duck.rows<{
      rows: number;
      reports: number;
      summaries: number;
      mismatched: number;
      domains: number;
      failing: number;
    }>(`
      SELECT count(*)::INTEGER AS rows, count(DISTINCT report_key)::INTEGER AS reports, count(*) FILTER (WHERE row_kind = 'summary')::INTEGER AS summaries,
        (SELECT count(*)::INTEGER FROM (
          SELECT report_key, sum(failed_sessions) FILTER (WHERE row_kind = 'summary') AS total,
            coalesce(sum(failed_sessions) FILTER (WHERE row_kind = 'failure'), 0) AS listed
          FROM (${tls}) GROUP BY report_key) WHERE total <> listed) AS mismatched,
        count(DISTINCT policy_domain)::INTEGER AS domains, count(*) FILTER (WHERE row_kind = 'failure')::INTEGER AS failing
      FROM (${tls})`);
    expect(shape).toMatchObject({
      rows: result.tlsRows,
      reports: result.tlsReports,
      summaries: result.tlsReports,
      mismatched: 0,
      domains: OPTIONS.domains,
    });
    expect(shape!.failing).toBeGreaterThan(0);
    const [ledger] = await duck.rows<{ n: number; rows: number }>(
      'SELECT count(*)::INTEGER AS n, sum(records)::INTEGER AS rows ' +
        `FROM read_parquet('${committedLedgerFiles(data)[0]}') WHERE kind = 'tls' AND outcome = 'stored'`,
    );
    expect(ledger).toEqual({ n: result.tlsReports, rows: result.tlsRows });
    for (const row of await duck.rows<{
      report_key: string;
      org_name: string;
      report_id: string;
      policy_domain: string;
      b: number;
      e: number;
    }>(
      'SELECT DISTINCT report_key, org_name, report_id, policy_domain, epoch(date_begin)::BIGINT AS b, ' +
        `epoch(date_end)::BIGINT AS e FROM (${tls}) USING SAMPLE 100 ROWS (reservoir, 1)`,
    )) {
      expect(row.report_key).toBe(
        reportKey({
          orgName: row.org_name,
          reportId: row.report_id,
          dateBegin: Number(row.b),
          dateEnd: Number(row.e),
          policy: { domain: row.policy_domain },
        }),
      );
    }
    // The domain files publish the MTA-STS policy the generated senders saw (testing for even domains, enforce for odd).
    const loaded = await loadDomainDir(result.domainsDir);
    expect(loaded.domains.map((d) => d.policy.mtaSts?.mode)).toEqual(['testing', 'enforce', 'testing', 'enforce', 'testing']);
  });

  test('without tls: no tls/ folder, no TLS ledger rows, no MTA-STS in the domain files', async () => {
    const other = join(dir, 'no-tls');
    const plain = await generateSiteDataset(other, { ...OPTIONS, tls: false });
    expect(plain).toMatchObject({ tlsRows: 0, tlsReports: 0, reports: result.reports });
    expect(existsSync(join(other, 'tls'))).toBe(false);
    expect(await count(`SELECT * FROM read_parquet('${committedLedgerFiles(other)[0]}') WHERE kind = 'tls'`)).toBe(0);
    expect(
      (await loadDomainDir(plain.domainsDir)).domains.every((d) => d.policy.mtaSts === undefined && d.policy.tlsRpt === undefined),
    ).toBe(true);
  });

  test('report keys are the store’s, and the derived alignment agrees with derive.ts', async () => {
    const rows = await duck.rows<Row>(`SELECT * FROM (${committedRecordsSql(data)}) USING SAMPLE 500 ROWS (reservoir, 1)`);
    for (const row of rows) {
      const begin = (row.date_begin as Date).getTime() / 1000;
      const end = (row.date_end as Date).getTime() / 1000;
      expect(row.report_key).toBe(
        reportKey({
          orgName: String(row.org_name),
          reportId: String(row.report_id),
          dateBegin: begin,
          dateEnd: end,
          policy: { domain: String(row.policy_domain) },
        }),
      );
      const record = {
        headerFrom: String(row.header_from),
        envelopeFrom: String(row.envelope_from),
        dkim: (row.dkim_results ?? []).map((d) => ({ domain: d.domain ?? '', selector: d.selector ?? '', result: d.result ?? '' })),
        spf: (row.spf_results ?? []).map((s) => ({ domain: s.domain ?? '', scope: s.scope ?? '', result: s.result ?? '' })),
      } as Parameters<typeof spfAligned>[0] & Parameters<typeof dkimAligned>[0];
      expect(row.dkim_aligned, JSON.stringify(record)).toBe(dkimAligned(record, 'r'));
      expect(row.spf_aligned, JSON.stringify(record)).toBe(spfAligned(record, 'r'));
      expect(row.dmarc_pass).toBe(row.dkim_aligned || row.spf_aligned);
    }
  });

  test('the domain files load and cover the generated domains; every category has volume', async () => {
    const loaded = await loadDomainDir(result.domainsDir);
    expect(loaded.findings.filter((f) => f.severity === 'error')).toEqual([]);
    const policies: DomainPolicy[] = loaded.domains.map((d) => d.policy);
    const domains = await duck.rows<{ d: string }>(`SELECT DISTINCT policy_domain AS d FROM (${committedRecordsSql(data)}) ORDER BY 1`);
    expect(domains.map((r) => r.d)).toEqual(policies.map((p) => p.domain).sort());

    const rows = await duck.rows<Row>(
      'SELECT * EXCLUDE (message_count, source_asn), message_count::DOUBLE AS message_count, ' +
        `source_asn::DOUBLE AS source_asn FROM (${committedRecordsSql(data)})`,
    );
    const categories = new Map<string, number>();
    for (const row of rows) {
      const { category } = classify(row, { policy: policyForRow(row, policies), isKnownForwarder });
      categories.set(category, (categories.get(category) ?? 0) + Number(row.message_count));
    }
    for (const category of CATEGORIES) expect(categories.get(category), category).toBeGreaterThan(0);
  });

  test('openDataset accepts it as is, and a real ingest appends to it and dedupes against it', async () => {
    const dataset = await openDataset({ root: data });
    let stored: number;
    try {
      expect(dataset.recovery).toEqual({
        staging: [],
        temporary: [],
        uncommittedParts: [],
        compactionsFinished: [],
        compactionsUndone: [],
      });
      const inbox = join(dir, 'inbox');
      await mkdir(inbox);
      await writeFile(join(inbox, 'new.xml'), reportXml('appended-1', 3, 'd01.example'));
      const { summary } = await ingestRun(fileItems([inbox]), { dataset, ourDomains: new Set(['d01.example']) });
      stored = summary.records;
      expect(summary.reports.stored).toBe(1);
    } finally {
      await dataset.close();
    }
    expect(await count(committedRecordsSql(data))).toBe(OPTIONS.records + stored);
    // Its own ledger is read for dedupe: a report it holds is a duplicate when it comes in again.
    const [first] = await duck.rows<{ org_name: string; report_id: string; policy_domain: string; b: number; e: number; n: number }>(
      `SELECT org_name, report_id, policy_domain, epoch(date_begin)::BIGINT AS b, epoch(date_end)::BIGINT AS e, count(*)::INTEGER AS n
       FROM (${committedRecordsSql(data)}) WHERE org_name = 'google.com' GROUP BY ALL ORDER BY b LIMIT 1`,
    );
    const again = await openDataset({ root: data });
    try {
      expect(
        again.hasReport(
          reportKey({
            orgName: first!.org_name,
            reportId: first!.report_id,
            dateBegin: Number(first!.b),
            dateEnd: Number(first!.e),
            policy: { domain: first!.policy_domain },
          }),
        ),
      ).toBe(true);
    } finally {
      await again.close();
    }
  });

  test('the same options give the same rows; it never writes into a folder that is not empty', async () => {
    const other = join(dir, 'again');
    const second = await generateSiteDataset(other, OPTIONS);
    expect(second.reports).toBe(result.reports);
    const fingerprint = async (root: string): Promise<string> => {
      const [row] = await duck.rows<{ f: string }>(
        `SELECT bit_xor(hash(report_key, record_index, source_ip, message_count, disposition, header_from,
           dkim_results::VARCHAR, spf_results::VARCHAR, source_name))::VARCHAR AS f
         FROM (${committedRecordsSql(root)}) WHERE ingest_run = '${result.runId}'`,
      );
      return String(row?.f);
    };
    expect(await fingerprint(other)).toBe(await fingerprint(data));
    await expect(generateSiteDataset(other, { ...OPTIONS, domainsDir: join(dir, 'elsewhere') })).rejects.toThrow(/not empty/);
  });
});
