/**
 * Store-only benchmark: N generated records (already parsed, like the parse stage delivers them)
 * → one Parquet part, whole process. Prints records/s and peak RSS.
 *
 *   node bench/ingest/store.ts [--records 100000] [--mode ndjson|appender|none] [--threads 1] [--memory 256MB] [--row-group 4096]
 *
 * ndjson:   the real store (scripts/reports/store): NDJSON staging, one COPY per month part.
 * appender: the alternative it was measured against: DuckDB appender (DuckDBDataChunkWriter with
 *           JS values) into a disk-backed staging table with a memory limit, then one COPY.
 * none:     only generates the records (the cost to subtract).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBDataChunkWriter, DuckDBInstance, JSToDuckDBValueConverter } from '@duckdb/node-api';
import type { ReportHeader, ReportRecord } from '../../scripts/reports/parse/types.ts';
import { alignmentModes, deriveAlignment } from '../../scripts/reports/derive.ts';
import { RECORD_COLUMNS, committedRecordFiles, openDataset, reportKey } from '../../scripts/reports/store/index.ts';
import type { Enrichment } from '../../scripts/reports/store/index.ts';
import { DISPOSITIONS, DKIM_RESULTS, SELECTORS, SENDERS, SPF_RESULTS } from './generate.ts';
import { prng } from '../../scripts/lib/random.ts';
import { mibOfKib } from '../figures.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    mode: { type: 'string', default: 'ndjson' },
    batch: { type: 'string', default: '2048' },
    threads: { type: 'string', default: '1' },
    memory: { type: 'string', default: '256MB' },
    'row-group': { type: 'string', default: '4096' },
    keep: { type: 'boolean', default: false },
  },
});
const total = Number(values.records);
const batchSize = Number(values.batch);

const header: ReportHeader = {
  orgName: 'bench.example',
  email: 'noreply-dmarc@bench.example',
  extraContactInfo: 'https://bench.example/dmarc',
  reportId: `bench-${total}`,
  dateBegin: 1_767_225_600,
  dateEnd: 1_767_225_600 + 86_399,
  errors: [],
  schema: 'rfc7489',
  policy: { domain: 'example.com', p: 'quarantine', sp: 'none', adkim: 'r', aspf: 'r', pct: 100, fo: '1' },
};

/** Batches of records like the parser yields (same distribution as generate.ts). */
function* records(): Generator<ReportRecord[]> {
  const rand = prng(1);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  let batch: ReportRecord[] = [];
  for (let i = 0; i < total; i++) {
    const sourceIp =
      rand() < 0.3
        ? `2001:db8:${Math.floor(rand() * 65536).toString(16)}::${Math.floor(rand() * 65536).toString(16)}`
        : `198.51.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}`;
    const sender = pick(SENDERS);
    const dkimCount = Math.floor(rand() * 3) + (rand() < 0.15 ? 1 : 0);
    const dkim = [];
    for (let d = 0; d < dkimCount; d++) {
      dkim.push({ domain: d === 0 ? 'example.com' : sender, selector: pick(SELECTORS), result: pick(DKIM_RESULTS) });
    }
    const record: ReportRecord = {
      sourceIp,
      count: 1 + Math.floor(rand() * 50),
      disposition: pick(DISPOSITIONS),
      evalDkim: rand() < 0.7 ? 'pass' : 'fail',
      evalSpf: rand() < 0.6 ? 'pass' : 'fail',
      reasons: rand() < 0.05 ? [{ type: 'forwarded', comment: 'arc=pass' }] : [],
      headerFrom: 'example.com',
      envelopeFrom: sender,
      dkim,
      spf: [{ domain: sender, scope: 'mfrom', result: pick(SPF_RESULTS) }],
    };
    if (rand() < 0.5) record.envelopeTo = 'example.com';
    batch.push(record);
    if (batch.length === batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

const enrichment = (ip: string): Enrichment | undefined =>
  ip.startsWith('198.51.')
    ? { ptr: `host-${ip.replaceAll('.', '-')}.example.net`, baseDomain: 'example.net', asn: 64500, asName: 'EXAMPLE-AS', country: 'DE' }
    : undefined;

const dir = mkdtempSync(join(tmpdir(), 'store-bench-'));
let output = '';
let stagedRss = 0;

if (values.mode === 'ndjson') {
  const ds = await openDataset({
    root: dir,
    threads: Number(values.threads),
    memoryLimit: values.memory,
    rowGroupSize: Number(values['row-group']),
  });
  const t0 = performance.now();
  const run = await ds.beginRun({ runId: 'bench', ingestedAt: new Date() });
  await run.addReport({ header, records: records(), warnings: () => [], sourceRef: 'bench' });
  // Enrichment the way the pipeline does it: once per distinct IP, joined in at commit.
  const byIp = new Map<string, Enrichment>();
  for (const ip of run.sourceIps()) {
    const e = enrichment(ip);
    if (e !== undefined) byIp.set(ip, e);
  }
  const staged = performance.now();
  stagedRss = process.resourceUsage().maxRSS;
  const summary = await run.commit({ enrichment: byIp });
  await ds.close();
  report(t0, staged, summary.records);
  output = committedRecordFiles(dir)[0] ?? '';
} else if (values.mode === 'appender') {
  const t0 = performance.now();
  const instance = await DuckDBInstance.create(join(dir, 'staging.duckdb'), {
    threads: values.threads,
    memory_limit: values.memory,
    preserve_insertion_order: 'false',
    temp_directory: join(dir, 'tmp'),
  });
  const conn = await instance.connect();
  await conn.run(`CREATE TABLE staged (${RECORD_COLUMNS.map((c) => `${c.name} ${c.type}`).join(', ')})`);
  const appender = await conn.createAppender('staged');
  const writer = DuckDBDataChunkWriter.forAppender(appender, { converter: JSToDuckDBValueConverter });
  const key = reportKey(header);
  const modes = alignmentModes(header.policy);
  const begin = new Date((header.dateBegin ?? 0) * 1000);
  const end = new Date((header.dateEnd ?? 0) * 1000);
  const now = new Date();
  const p = header.policy;
  let index = 0;
  for (const batch of records()) {
    for (const r of batch) {
      const a = deriveAlignment(r, modes);
      const e = enrichment(r.sourceIp);
      // Same columns, same order as RECORD_COLUMNS.
      writer.appendRow([
        key,
        header.orgName,
        header.email,
        header.extraContactInfo ?? null,
        header.reportId,
        begin,
        end,
        header.schema,
        null,
        null,
        null,
        [],
        [],
        null,
        null,
        p.domain,
        p.p,
        p.sp ?? null,
        null,
        p.adkim ?? null,
        p.aspf ?? null,
        p.pct ?? null,
        p.fo ?? null,
        null,
        null,
        index++,
        r.sourceIp,
        r.count,
        r.disposition,
        r.evalDkim,
        r.evalSpf,
        r.reasons.map((x) => ({ type: x.type, comment: x.comment ?? null })),
        r.headerFrom,
        r.envelopeFrom ?? null,
        false,
        r.envelopeTo ?? null,
        r.dkim.map((x) => ({ domain: x.domain, selector: x.selector ?? null, result: x.result, human_result: null })),
        r.spf.map((x) => ({ domain: x.domain, scope: x.scope ?? null, result: x.result, human_result: null })),
        a.dkimAligned,
        a.spfAligned,
        a.dmarcPass,
        e?.ptr ?? null,
        e?.baseDomain ?? null,
        null,
        null,
        e?.asn ?? null,
        e?.asName ?? null,
        e?.country ?? null,
        null,
        null,
        'bench',
        now,
        'bench',
      ] as never[]);
    }
  }
  writer.flush();
  appender.closeSync();
  const staged = performance.now();
  output = join(dir, 'appender.parquet');
  await conn.run(`COPY staged TO '${output}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${values['row-group']})`);
  conn.closeSync();
  instance.closeSync();
  report(t0, staged, index);
} else {
  const t0 = performance.now();
  let n = 0;
  for (const batch of records()) n += batch.length;
  report(t0, performance.now(), n);
}

function report(t0: number, staged: number, rows: number): void {
  const end = performance.now();
  const seconds = (end - t0) / 1000;
  console.log(
    `${values.mode}: ${rows} records in ${seconds.toFixed(2)} s ` +
      `(staging ${((staged - t0) / 1000).toFixed(2)} s, parquet ${((end - staged) / 1000).toFixed(2)} s)` +
      ` = ${Math.round(rows / seconds).toLocaleString('en')} records/s; ${(performance.now() / 1000).toFixed(2)} s since process start` +
      `; peak RSS ${mibOfKib(process.resourceUsage().maxRSS)} MiB${stagedRss > 0 ? ` (${mibOfKib(stagedRss)} MiB before the COPY)` : ''}` +
      ` (threads ${values.threads}, memory_limit ${values.memory})`,
  );
}
if (output !== '') console.log(`part: ${(statSync(output).size / 1e6).toFixed(1)} MB`);
if (!values.keep) rmSync(dir, { recursive: true, force: true });
else console.log(dir);
