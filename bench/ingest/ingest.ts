/**
 * Whole-ingest benchmark: a generated 100,000-record RFC 7489 report (~75 MB of XML, and the same
 * gzipped) → the Parquet dataset, through the real CLI (`dmarcops ingest … --offline`) in a child
 * process with a fresh dataset each time. Prints wall time, records/s and the child's peak RSS,
 * and compares them with the targets (≥ 200,000 records/s, ≤ 150 MiB peak RSS).
 *
 *   npx node bench/ingest/ingest.ts [--runs 3] [--records 100000] [--small-files 1000] [--node-option=--max-semi-space-size=32] [--keep]
 *   npx node bench/ingest/ingest.ts --variant worker: --variant 'in-thread:DMARCOPS_PARSE_WORKER=0'
 *   npx node bench/ingest/ingest.ts --variant now: --variant before:cli=/tmp/old-tree/bin/dmarcops.js
 *
 * A variant is `name:ENV=value,ENV=value,--node-flag,cli=PATH` (environment and node flags for the
 * child; `cli=` runs another tree's bin/dmarcops.js, e.g. a `git archive` of the previous commit);
 * several variants are run interleaved (run 1 of each, then run 2 of each…), so that a machine
 * busy with something else slows them alike. Each variant first ingests the 10-record report once,
 * unmeasured, so that its caches (compiled modules, ASN tables) exist as they would in daily use.
 *
 * The inputs are generated once into bench/.cache/ (gitignored) by generate.ts; `--small-files N`
 * adds a folder of N 20-record reports (every other one gzipped), where per-file costs dominate
 * (opening, hashing, sniffing, a decoder per file, garbage). A 10-record report
 * is ingested too: its time and memory are the fixed cost of a process (Node start, module loading,
 * domains/, DuckDB, the offline ASN database), so "net records/s" = records / (wall − fixed).
 * Peak RSS is the child's high-water mark: from /usr/bin/time when it exists, else sampled from
 * /proc/<pid>/status (VmHWM) every 5 ms.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { generateReport } from './generate.ts';
import { fixed as fmt, median } from '../figures.ts';

const TARGET_RECORDS_PER_SECOND = 200_000;
const TARGET_PEAK_MIB = 150;
/** The figures documented in bench/README.md, to see drift at a glance. */
const REFERENCE = {
  date: '2026-11-27, third pass',
  figures:
    '100k .xml 1.50 s / 217 MiB, 100k .xml.gz 1.63 s / 249 MiB, 10 records 0.28 s / 144 MiB, ' +
    '1000 small files 1.92 s / 223 MiB (medians; the floor of the parts: bench/ingest/floor.ts)',
};

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CACHE = join(ROOT, 'bench', '.cache');
const CLI = join(ROOT, 'bin', 'dmarcops.js');
const DOMAINS = join(ROOT, 'domains');
const TIME = '/usr/bin/time';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    records: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '1' },
    'node-option': { type: 'string', multiple: true, default: [] },
    variant: { type: 'string', multiple: true, default: [] },
    'no-fixed': { type: 'boolean', default: false },
    'small-files': { type: 'string', default: '0' },
    keep: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const records = Number(values.records);
const seed = Number(values.seed);

interface Variant {
  name: string;
  env: Record<string, string>;
  nodeOptions: string[];
  cli: string;
}
function parseVariant(spec: string): Variant {
  const colon = spec.indexOf(':');
  const variant: Variant = { name: colon === -1 ? spec : spec.slice(0, colon), env: {}, nodeOptions: [...values['node-option']], cli: CLI };
  for (const part of colon === -1
    ? []
    : spec
        .slice(colon + 1)
        .split(',')
        .filter(Boolean)) {
    if (part.startsWith('--')) variant.nodeOptions.push(part);
    else if (part.startsWith('cli=')) variant.cli = resolve(part.slice(4));
    else {
      const eq = part.indexOf('=');
      if (eq === -1) throw new Error(`variant ${spec}: expected ENV=value or --flag, not ${part}`);
      variant.env[part.slice(0, eq)] = part.slice(eq + 1);
    }
  }
  return variant;
}
const variants: Variant[] = values.variant.length > 0 ? values.variant.map(parseVariant) : [parseVariant('current')];

/** Writes the generated report to `path` (via a temp name) unless it is already there. */
async function ensureInput(path: string, count: number, gzip: boolean, reportSeed = seed): Promise<void> {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const source = Readable.from(generateReport({ records: count, seed: reportSeed }));
  if (gzip) await pipeline(source, createGzip(), createWriteStream(tmp));
  else await pipeline(source, createWriteStream(tmp));
  renameSync(tmp, path);
}

interface Measurement {
  seconds: number;
  peakKiB: number;
  records: number;
  stored: number;
}

/** VmHWM of a live process in KiB, or 0 once it is gone. */
function vmHwm(pid: number): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** One `dmarcops ingest` of `file` into a fresh dataset, in a child process. */
async function ingestOnce(file: string, variant: Variant): Promise<Measurement> {
  const work = mkdtempSync(join(tmpdir(), 'dmarcops-bench-ingest-'));
  try {
    const useTime = existsSync(TIME);
    const timeFile = join(work, 'time.txt');
    const node = [
      process.execPath,
      ...variant.nodeOptions,
      variant.cli,
      'ingest',
      file,
      '--data',
      join(work, 'data'),
      '--domains',
      DOMAINS,
      '--offline',
      '--json',
    ];
    const [command, ...args] = useTime ? [TIME, '-f', '%M', '-o', timeFile, ...node] : node;
    const started = performance.now();
    const child = spawn(command as string, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', ...variant.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let sampled = 0;
    const sampler = useTime ? undefined : setInterval(() => (sampled = Math.max(sampled, vmHwm(child.pid ?? 0))), 5);
    const code = await new Promise<number | null>((done, fail) => {
      child.on('error', fail);
      child.on('close', (exit) => done(exit));
    });
    const seconds = (performance.now() - started) / 1000;
    if (sampler) clearInterval(sampler);
    if (code !== 0) throw new Error(`ingest of ${file} exited with ${code}: ${stderr}`);
    const summary = JSON.parse(stdout) as { records: number; reports: { stored: number } };
    const peakKiB = useTime ? Number((await readFile(timeFile, 'utf8')).trim().split('\n').at(-1)) : sampled;
    return { seconds, peakKiB, records: summary.records, stored: summary.reports.stored };
  } finally {
    if (!values.keep) rmSync(work, { recursive: true, force: true });
  }
}

const mib = (kib: number): number => kib / 1024;

const xml = join(CACHE, `report-${records}-seed${seed}.xml`);
const gz = `${xml}.gz`;
const tiny = join(CACHE, `report-10-seed${seed}.xml`);
await ensureInput(xml, records, false);
await ensureInput(gz, records, true);
await ensureInput(tiny, 10, false);
const smallFiles = Number(values['small-files']);
const smallDir = join(CACHE, `small-${smallFiles}-seed${seed}`);
if (smallFiles > 0 && !existsSync(smallDir)) {
  const tmp = `${smallDir}.${process.pid}.tmp`;
  mkdirSync(tmp, { recursive: true });
  for (let i = 1; i <= smallFiles; i++)
    await ensureInput(join(tmp, `r${String(i).padStart(5, '0')}.xml${i % 2 === 0 ? '.gz' : ''}`), 20, i % 2 === 0, seed * 100_000 + i);
  renameSync(tmp, smallDir);
}

const describe = (v: Variant): string =>
  [...Object.entries(v.env).map(([k, val]) => `${k}=${val}`), ...v.nodeOptions, ...(v.cli === CLI ? [] : [v.cli])].join(' ') ||
  '(defaults)';
console.log(
  `dmarcops ingest bench: ${process.version}, ${cpus().length} cores, ${runs} run(s) per file and variant, load average ${loadText()}`,
);
for (const v of variants) console.log(`  variant ${v.name}: ${describe(v)}`);
console.log(`peak RSS from ${existsSync(TIME) ? TIME : '/proc/<pid>/status VmHWM (sampled)'}\n`);

interface Row {
  label: string;
  variant: string;
  records: number;
  seconds: number;
  peakMiB: number;
  all: Measurement[];
}
// Warm-up, unmeasured: the first process after a change compiles the modules and may build caches.
for (const variant of variants) await ingestOnce(tiny, variant);
const rows: Row[] = [];
/** Label, path, reports it holds. */
const inputs: [string, string, number][] = [
  [`${records / 1000}k .xml`, xml, 1],
  [`${records / 1000}k .xml.gz`, gz, 1],
];
if (!values['no-fixed']) inputs.unshift(['10-record .xml (fixed cost)', tiny, 1]);
if (smallFiles > 0) inputs.push([`${smallFiles} small files`, smallDir, smallFiles]);
for (const [label, file, reports] of inputs) {
  const all = variants.map((): Measurement[] => []);
  for (let i = 0; i < runs; i++) {
    for (const [v, variant] of variants.entries()) {
      const m = await ingestOnce(file, variant);
      all[v]?.push(m);
      process.stderr.write(
        `  ${label} [${variant.name}] run ${i + 1}: ${m.seconds.toFixed(2)} s, ${fmt(mib(m.peakKiB))} MiB, ${m.records} records\n`,
      );
    }
  }
  for (const [v, variant] of variants.entries()) {
    const ms = all[v] as Measurement[];
    const first = ms[0] as Measurement;
    if (first.stored !== reports) throw new Error(`${label}: expected ${reports} stored report(s), got ${first.stored}`);
    rows.push({
      label,
      variant: variant.name,
      records: first.records,
      seconds: median(ms.map((m) => m.seconds)),
      peakMiB: mib(median(ms.map((m) => m.peakKiB))),
      all: ms,
    });
  }
}

const fixedOf = (row: Row): Row | undefined => rows.find((r) => r.records < 100 && r.variant === row.variant);
const header = [
  'input',
  'variant',
  'records',
  'wall s (median)',
  'records/s',
  'net records/s',
  'peak RSS MiB (median)',
  'range s',
  'range MiB',
];
const table = rows.map((r) => {
  const fixed = fixedOf(r);
  const net = fixed && r !== fixed ? r.records / Math.max(1e-9, r.seconds - fixed.seconds) : NaN;
  const secs = r.all.map((m) => m.seconds);
  const peaks = r.all.map((m) => mib(m.peakKiB));
  return [
    r.label,
    r.variant,
    fmt(r.records),
    r.seconds.toFixed(2),
    fmt(r.records / r.seconds),
    Number.isNaN(net) ? '—' : fmt(net),
    fmt(r.peakMiB),
    `${Math.min(...secs).toFixed(2)}–${Math.max(...secs).toFixed(2)}`,
    `${fmt(Math.min(...peaks))}–${fmt(Math.max(...peaks))}`,
  ];
});
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => (row[i] as string).length)));
const left = (i: number): boolean => i < 2;
const line = (cells: string[]): string =>
  `| ${cells.map((c, i) => (left(i) ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w, i) => (left(i) ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
for (const row of table) console.log(line(row));

console.log('');
for (const r of rows.filter((row) => row.records >= 100)) {
  const fixed = fixedOf(r);
  const rate = r.records / r.seconds;
  const net = fixed ? r.records / (r.seconds - fixed.seconds) : NaN;
  const ok = (good: boolean): string => (good ? 'met' : 'NOT met');
  console.log(
    `${r.label} [${r.variant}]: ${fmt(rate)} records/s whole process ` +
      `(${ok(rate >= TARGET_RECORDS_PER_SECOND)}: target ≥ ${fmt(TARGET_RECORDS_PER_SECOND)}),` +
      `${Number.isNaN(net) ? '' : ` ${fmt(net)} net of the fixed cost (${ok(net >= TARGET_RECORDS_PER_SECOND)}),`}` +
      ` peak ${fmt(r.peakMiB)} MiB (${ok(r.peakMiB <= TARGET_PEAK_MIB)}: target ≤ ${TARGET_PEAK_MIB} MiB)`,
  );
}
console.log(`recorded in bench/README.md (${REFERENCE.date}, 3 interleaved runs): ${REFERENCE.figures}`);
for (const fixed of rows.filter((row) => row.records < 100)) {
  console.log(`fixed cost of one ingest process (10 records) [${fixed.variant}]: ${fixed.seconds.toFixed(2)} s, ${fmt(fixed.peakMiB)} MiB`);
}
console.log(`load average at the end: ${loadText()}`);

function loadText(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}
