/**
 * The floor of a file → Parquet ingest on this machine: what the parts the issue prescribes (Node,
 * DuckDB through @duckdb/node-api writing zstd Parquet, a streaming XML parse) cost on their own,
 * each in a fresh process, without any of dmarcops' own work around them. It answers "can the
 * whole ingest reach N records/s and M MiB here?" before anyone tunes the pipeline further.
 *
 *   npx node bench/ingest/floor.ts [--records 100000] [--runs 3]
 *
 * Probes (medians of --runs; wall time from spawn to exit, peak RSS from /usr/bin/time):
 *   node        `node -e 0`: a bare Node process.
 *   duckdb      Node + @duckdb/node-api imported, an in-memory instance (1 thread), connected, SELECT 1.
 *   scan        Node reading the report in 1 MiB blocks and counting `<record>` with Buffer.indexOf:
 *               the ceiling of any parse in JS (no decoding, no values).
 *   parse       bench/ingest/parse.ts: the real parse stage alone (records to typed objects).
 *   write       DuckDB (as the store opens it) writing one run part of the report's 100k rows from an
 *               in-memory table to zstd Parquet with the store's options: the Parquet writer alone,
 *               no staging, no join. The part comes from one real ingest (cached in bench/.cache).
 * The bound printed at the end adds the probes that any process must pay one after the other,
 * and the best case if parse and write overlapped perfectly on the two cores.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parquetOptions } from '../../scripts/reports/store/staging.ts';
import { fixed, median } from '../figures.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CACHE = join(ROOT, 'bench', '.cache');
const TIME = '/usr/bin/time';
const TARGET_RECORDS_PER_SECOND = 200_000;
const TARGET_PEAK_MIB = 150;

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
  },
});

// ---------------------------------------------------------------------------------------------
// Probes: plain JavaScript run with `node --input-type=module -e` (a .ts file would load Node's type
// stripper, ~20 MiB that dmarcops avoids through its compile cache); each prints one JSON line.

const STATUS = `import { readFileSync } from 'node:fs';
const status = (field) =>
  Number(readFileSync('/proc/self/status', 'utf8').split('\\n').find((line) => line.startsWith(field + ':'))?.split(/ +/)[1] ?? 0) / 1024;`;

const DUCKDB_PROBE = `${STATUS}
const started = performance.now();
const { DuckDBInstance } = await import('@duckdb/node-api');
const imported = performance.now();
const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
const connection = await instance.connect();
await connection.run('SELECT 1');
console.log(JSON.stringify({ importMs: imported - started, connectMs: performance.now() - imported, rssMiB: status('VmRSS') }));`;

/** argv: file. Reads 1 MiB blocks, counts the needle with Buffer.indexOf (a tag cut by a block edge is carried over). */
const SCAN_PROBE = `const started = performance.now();
const needle = Buffer.from('<record>');
const buffer = Buffer.allocUnsafe(1 << 20);
const handle = await (await import('node:fs/promises')).open(process.argv[1], 'r');
let records = 0;
let carry = 0;
for (;;) {
  const { bytesRead } = await handle.read(buffer, carry, buffer.length - carry, null);
  if (bytesRead === 0) break;
  const end = carry + bytesRead;
  let at = 0;
  for (let hit = buffer.indexOf(needle); hit !== -1 && hit + needle.length <= end; hit = buffer.indexOf(needle, hit + needle.length)) {
    records++;
    at = hit + needle.length;
  }
  carry = Math.min(needle.length - 1, end - at);
  buffer.copy(buffer, 0, end - carry, end);
}
await handle.close();
console.log(JSON.stringify({ records, ms: performance.now() - started }));`;

/** argv: part, output file, DuckDB config JSON, COPY options. The part is loaded into a table first; only the COPY is timed. */
const WRITE_PROBE = `${STATUS}
const [part, out, config, options] = process.argv.slice(1);
const { DuckDBInstance } = await import('@duckdb/node-api');
const instance = await DuckDBInstance.create(':memory:', JSON.parse(config));
const connection = await instance.connect();
const quote = (s) => "'" + s.replaceAll("'", "''") + "'";
await connection.run('CREATE TABLE part AS FROM read_parquet(' + quote(part) + ')');
const rows = (await connection.runAndReadAll('SELECT count(*)::INTEGER AS n FROM part')).getRowObjectsJS()[0].n;
const before = status('VmRSS');
const started = performance.now();
await connection.run('COPY part TO ' + quote(out) + ' ' + options);
const ms = performance.now() - started;
console.log(JSON.stringify({ rows, ms, rssBeforeMiB: before, growthMiB: (status('VmHWM')) - before }));`;

// ---------------------------------------------------------------------------------------------
// The driver

interface Run {
  seconds: number;
  peakMiB: number;
  out: string;
}

function measure(args: string[]): Run {
  const dir = mkdtempSync(join(tmpdir(), 'dmarcops-bench-floor-'));
  try {
    const timeFile = join(dir, 'time');
    const started = performance.now();
    // The compile cache bin/dmarcops.js uses: a TypeScript entry then skips Node's type stripper (~20 MiB).
    const env = { ...process.env, NODE_COMPILE_CACHE: join(ROOT, 'node_modules/.cache/dmarcops-compile') };
    const child = spawnSync(TIME, ['-f', '%M', '-o', timeFile, process.execPath, ...args], { encoding: 'utf8', cwd: ROOT, env });
    const seconds = (performance.now() - started) / 1000;
    if (child.status !== 0) throw new Error(`${args.join(' ')} failed: ${child.stderr}`);
    const peakMiB = Number(readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)) / 1024;
    return { seconds, peakMiB, out: child.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const medianOf = (runs: Run[], pick: (run: Run) => number): number => median(runs.map(pick));
const json = (run: Run): Record<string, number> => JSON.parse(run.out.trim().split('\n').at(-1) ?? '{}') as Record<string, number>;

if (!existsSync(TIME)) throw new Error(`${TIME} is needed for peak RSS (apt install time)`);
const records = Number(values.records);
const report = join(CACHE, `report-${records}-seed${values.seed}.xml`);
if (!existsSync(report)) {
  console.log(`generating ${report} (bench/ingest/generate.ts)…`);
  const made = spawnSync(
    process.execPath,
    [join(ROOT, 'bench/ingest/generate.ts'), '--records', String(records), '--seed', String(values.seed), '--out', report],
    { stdio: 'inherit' },
  );
  if (made.status !== 0) throw new Error('could not generate the report');
}
const part = join(CACHE, `part-${records}-seed${values.seed}.parquet`);
if (!existsSync(part)) {
  console.log(`ingesting ${report} once for a real run part…`);
  const data = mkdtempSync(join(tmpdir(), 'dmarcops-bench-floor-'));
  try {
    const made = spawnSync(
      process.execPath,
      [
        join(ROOT, 'bin/dmarcops.js'),
        'ingest',
        report,
        '--data',
        join(data, 'reports'),
        '--domains',
        join(ROOT, 'domains'),
        '--offline',
        '--json',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    if (made.status !== 0) throw new Error('the ingest failed');
    const records = join(data, 'reports', 'records');
    const month = readdirSync(records).find((name) => name.startsWith('month='));
    const file = month && readdirSync(join(records, month)).find((name) => name.endsWith('.parquet'));
    if (!month || !file) throw new Error('the ingest wrote no part');
    copyFileSync(join(records, month, file), part);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
}

const runs = Math.max(1, Number(values.runs));
const written = mkdtempSync(join(tmpdir(), 'dmarcops-bench-floor-'));
process.on('exit', () => rmSync(written, { recursive: true, force: true }));
const script = (source: string, ...args: string[]): string[] => ['--input-type=module', '-e', source, ...args];
const probes: Record<string, string[]> = {
  node: ['-e', '0'],
  duckdb: script(DUCKDB_PROBE),
  scan: script(SCAN_PROBE, report),
  // The same young-generation size bin/dmarcops.js gives ingest.
  parse: ['--max-semi-space-size=16', join(ROOT, 'bench/ingest/parse.ts'), report, '--runs', '1'],
  // DuckDB as the store opens it for a commit, and the store's own COPY options for a run part.
  write: script(
    WRITE_PROBE,
    part,
    join(written, 'part.parquet'),
    JSON.stringify({ threads: '1', memory_limit: '256MB', preserve_insertion_order: 'false' }),
    parquetOptions({ rowGroupSize: 4096 }),
  ),
};
console.log(
  `dmarcops ingest floor: ${process.version}, ${cpus().length} cores, ${runs} run(s) each, load average ${loadavg()
    .map((n) => n.toFixed(2))
    .join(' ')}`,
);
const results: Record<string, Run[]> = {};
for (let i = 0; i < runs; i++) for (const [name, args] of Object.entries(probes)) (results[name] ??= []).push(measure(args));

const wall = (name: string): number => medianOf(results[name] ?? [], (run) => run.seconds);
const peak = (name: string): number => medianOf(results[name] ?? [], (run) => run.peakMiB);
const inner = (name: string, field: string): number => medianOf(results[name] ?? [], (run) => json(run)[field] ?? Number.NaN);
const parseSeconds = medianOf(results.parse ?? [], (run) => Number(/in ([\d.]+) s/.exec(run.out)?.[1] ?? Number.NaN));
const writeSeconds = inner('write', 'ms') / 1000;
const scanSeconds = inner('scan', 'ms') / 1000;
const startSeconds = wall('duckdb');
const fmt = (n: number, digits = 2): string => fixed(n, digits);
const rate = (seconds: number): string => Math.round(records / seconds).toLocaleString('en-US');

console.log('');
console.log('| probe | wall s (process) | work s (inside) | peak RSS MiB |');
console.log('|:--|--:|--:|--:|');
console.log(`| bare Node | ${fmt(wall('node'))} | — | ${fmt(peak('node'), 0)} |`);
console.log(
  `| Node + DuckDB connected | ${fmt(wall('duckdb'))} | import ${fmt(inner('duckdb', 'importMs') / 1000)} ` +
    `+ open ${fmt(inner('duckdb', 'connectMs') / 1000)} | ${fmt(peak('duckdb'), 0)} |`,
);
console.log(
  `| byte scan for \`<record>\` (${rate(scanSeconds)} records/s) | ${fmt(wall('scan'))} | ${fmt(scanSeconds)} | ${fmt(peak('scan'), 0)} |`,
);
console.log(
  `| parse stage alone (${rate(parseSeconds)} records/s) | ${fmt(wall('parse'))} | ${fmt(parseSeconds)} | ${fmt(peak('parse'), 0)} |`,
);
console.log(
  `| DuckDB Parquet writer alone, ${fmt(inner('write', 'rows'), 0)} rows | ${fmt(wall('write'))} ` +
    `| ${fmt(writeSeconds)} (+${fmt(inner('write', 'growthMiB'), 0)} MiB in the COPY) | ${fmt(peak('write'), 0)} |`,
);

const serial = startSeconds + parseSeconds + writeSeconds;
const overlapped = startSeconds + Math.max(parseSeconds, writeSeconds);
const memory = peak('duckdb') + inner('write', 'growthMiB') + (peak('parse') - peak('node'));
console.log('');
console.log(
  `One process that starts Node + DuckDB, parses, then writes: ≥ ${fmt(serial)} s → ` +
    `≤ ${rate(serial)} records/s (target ${TARGET_RECORDS_PER_SECOND.toLocaleString('en-US')}).`,
);
console.log(`Parse and write perfectly overlapped on the two cores: ≥ ${fmt(overlapped)} s → ≤ ${rate(overlapped)} records/s.`);
console.log(
  `Memory if parse and write share the process: ≥ ${fmt(memory, 0)} MiB (Node + ` +
    `DuckDB ${fmt(peak('duckdb'), 0)}, COPY +${fmt(inner('write', 'growthMiB'), 0)}, ` +
    `the parse's own ${fmt(peak('parse') - peak('node'), 0)}; target ${TARGET_PEAK_MIB}).`,
);
console.log("Nothing of dmarcops' own work (hashing, staging, alignment, enrichment, the ledger, fsyncs) is in these figures.");
