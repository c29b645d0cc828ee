/**
 * The floor under `dmarcops impact`: what the parts cost alone on the 10M-record, 90-day dataset,
 * each in a fresh process (wall and CPU time: user + system, DuckDB's threads included), so that the
 * end-to-end figure of bench/impact/impact.ts can be read against what no implementation with these
 * parts (Node, @duckdb/node-api, Parquet) can go below.
 *
 *   npx node bench/impact/floor.ts [--records 10000000] [--days 90] [--runs 3]
 *
 * Probes, over the whole window (every domain changed, the worst case):
 *  - start: start Node, import @duckdb/node-api, open an instance, find the window (every probe does
 *    this first; only its process time is shown);
 *  - read: decode every column the grouping reads (lists included), nothing else;
 *  - read+hash: the same, plus the 64-bit key hash of every row;
 *  - group: the impact's grouping query exactly as scripts/impact/query.ts runs it (without JS).
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ALL_ROWS, readKeys, readFroms, windowedRecords } from '../../scripts/impact/query.ts';
import { committedRecordsSql } from '../../scripts/reports/store/index.ts';
import { openSql } from '../../scripts/site/rollups/duckdb.ts';
import { median } from '../figures.ts';
import { SITE_GENERATOR_VERSION } from '../site/generate.ts';
import { ensureDataset } from '../site/build.ts';

const SELF = fileURLToPath(import.meta.url);
const ROOT = resolve(dirname(SELF), '../..');
const PROBES = ['start', 'read', 'read+hash', 'group'] as const;
type Probe = (typeof PROBES)[number];

/** Runs one probe in this process and prints {wall, cpu} (seconds) of the probe's own work. */
async function probe(name: Probe, dataDir: string, days: number): Promise<void> {
  const sql = await openSql();
  try {
    const records = committedRecordsSql(dataDir);
    const { window } = await readFroms(sql, records, days);
    if (window === null) throw new Error(`no reports in ${dataDir}`);
    const rows = windowedRecords(records, window);
    const started = performance.now();
    const cpu = process.cpuUsage();
    if (name === 'read') {
      await sql.run(`CREATE TEMP TABLE t AS SELECT sum(len(dkim_results) + len(spf_results) + len(override_reasons)), count(header_from), count(policy_domain),
        count(envelope_from), count(envelope_from_derived), count(source_ip), count(source_base_domain), count(source_name), count(source_asn),
        max(ingested_at), sum(message_count)
        FROM ${rows}`);
    } else if (name === 'read+hash') {
      await sql.run(`CREATE TEMP TABLE t AS SELECT sum(hash(header_from, CASE WHEN coalesce(header_from, '') = '' THEN policy_domain END,
        envelope_from, envelope_from_derived, dkim_results, spf_results, override_reasons) % 7),
        count(source_ip), count(source_base_domain), count(source_name), count(source_asn), max(ingested_at), sum(message_count) FROM ${rows}`);
    } else if (name === 'group') {
      await readKeys(sql, records, window, ALL_ROWS);
    }
    const used = process.cpuUsage(cpu);
    process.stdout.write(`${JSON.stringify({ wall: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 })}\n`);
  } finally {
    sql.close();
  }
}

async function measure(name: Probe, dataDir: string, days: number): Promise<{ wall: number; cpu: number; process: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [SELF, '--probe', name, '--data', dataDir, '--days', String(days)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: ROOT,
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  if (code !== 0) throw new Error(`probe ${name} failed (exit ${code})`);
  const result = JSON.parse(out.trim()) as { wall: number; cpu: number };
  return { ...result, process: (performance.now() - started) / 1000 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '10000000' },
      days: { type: 'string', default: '90' },
      runs: { type: 'string', default: '3' },
      probe: { type: 'string' },
      data: { type: 'string' },
    },
  });
  const days = Number(values.days);
  if (values.probe !== undefined) {
    if (!PROBES.includes(values.probe as Probe) || values.data === undefined) throw new Error(`--probe ${PROBES.join('|')} --data <dir>`);
    return probe(values.probe as Probe, values.data, days);
  }
  const records = Number(values.records.replace(/_/g, ''));
  const dataset = await ensureDataset({ records, days, domains: 20, seed: 1, version: SITE_GENERATOR_VERSION });
  const [load1] = loadavg();
  process.stdout.write(
    `impact floor: ${records.toLocaleString('en-US')} records over ${days} days (${dataset.dataDir}); load average ${load1?.toFixed(2)}\n\n`,
  );
  process.stdout.write('| probe | process wall s | work wall s | work CPU s |\n|:--|--:|--:|--:|\n');
  for (const name of PROBES) {
    const runs = [];
    for (let run = 0; run < Number(values.runs); run++) runs.push(await measure(name, dataset.dataDir, days));
    const work = name === 'start' ? '—' : median(runs.map((r) => r.wall)).toFixed(2);
    const cpu = name === 'start' ? '—' : median(runs.map((r) => r.cpu)).toFixed(2);
    process.stdout.write(`| ${name} | ${median(runs.map((r) => r.process)).toFixed(2)} | ${work} | ${cpu} |\n`);
  }
}

if (import.meta.main) await main();
