/**
 * Site build benchmark: a generated dataset of 1M and of 10M records (bench/site/generate.ts,
 * cached in bench/.cache/site-<records>/), then `buildSite` (scripts/site/build.ts) over it in a
 * child process (bench/site/run-build.ts), fresh output folder each run. Prints records, reports,
 * generation time, build time, pages and the build's peak RSS against the targets
 * (≤ 30 s for 1M records, ≤ 120 s for 10M).
 *
 *   npx node bench/site/build.ts [--records 1000000,10000000] [--runs 1] [--days 365] [--domains 20] [--seed 1] [--no-tls] [--keep]
 *
 * Peak RSS: from /usr/bin/time when it exists (the child's high-water mark), else the child's own
 * process.resourceUsage().maxRSS. Build time is buildSite's figure (Astro build + budget check);
 * "wall" adds the child's start-up.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SITE_GENERATOR_VERSION, generateSiteDataset } from './generate.ts';
import type { BuildRunResult } from './run-build.ts';
import { median, mibOfKib } from '../figures.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CACHE = join(ROOT, 'bench', '.cache');
const RUNNER = join(ROOT, 'bench', 'site', 'run-build.ts');
const TIME = '/usr/bin/time';
/** Build time targets from the issue, by dataset size. */
const TARGET_SECONDS: Record<number, number> = { 1000000: 30, 10000000: 120 };

export interface DatasetKey {
  records: number;
  days: number;
  domains: number;
  seed: number;
  version: number;
  /** TLS reports in the dataset (generate.ts `tls`); left out: true. */
  tls?: boolean;
}

export interface CachedDataset {
  dataDir: string;
  domainsDir: string;
  records: number;
  reports: number;
  /** Time generation took (when it was generated). */
  generateSeconds: number;
  cached: boolean;
}

const STAMP = 'dataset.json';

/** The cached dataset for these options, generated first if it is missing or was made by other options. */
export async function ensureDataset(key: DatasetKey): Promise<CachedDataset> {
  const defaults = key.days === 365 && key.domains === 20 && key.seed === 1;
  const dir = join(
    CACHE,
    `site-${key.records}${defaults ? '' : `-${key.days}d-${key.domains}dom-s${key.seed}`}${key.tls === false ? '-notls' : ''}`,
  );
  const stampFile = join(dir, STAMP);
  if (existsSync(stampFile)) {
    const stamp = JSON.parse(readFileSync(stampFile, 'utf8')) as { key: DatasetKey; reports: number; seconds: number };
    if (JSON.stringify(stamp.key) === JSON.stringify(key)) {
      return {
        dataDir: join(dir, 'reports'),
        domainsDir: join(dir, 'domains'),
        records: key.records,
        reports: stamp.reports,
        generateSeconds: stamp.seconds,
        cached: true,
      };
    }
  }
  // Made again in a temporary folder and renamed, so an interrupted generation is never reused.
  rmSync(dir, { recursive: true, force: true });
  const work = `${dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const result = await generateSiteDataset(join(work, 'reports'), { ...key, domainsDir: join(work, 'domains') });
  writeFileSync(
    join(work, STAMP),
    `${JSON.stringify({ key, reports: result.reports, seconds: result.seconds, generatedAt: new Date().toISOString() }, null, 2)}\n`,
  );
  renameSync(work, dir);
  return {
    dataDir: join(dir, 'reports'),
    domainsDir: join(dir, 'domains'),
    records: key.records,
    reports: result.reports,
    generateSeconds: result.seconds,
    cached: false,
  };
}

interface BuildMeasurement extends BuildRunResult {
  wallSeconds: number;
  peakKiB: number;
}

/** One build in a child process, into a fresh temporary folder. */
async function buildOnce(dataset: CachedDataset, keep: boolean): Promise<BuildMeasurement> {
  const work = mkdtempSync(join(tmpdir(), 'dmarcops-bench-site-'));
  try {
    const resultFile = join(work, 'result.json');
    const timeFile = join(work, 'time.txt');
    const options = { dataDir: dataset.dataDir, domainsDir: dataset.domainsDir, outDir: join(work, 'dist'), base: '/', quiet: true };
    const node = [process.execPath, RUNNER, JSON.stringify(options), resultFile];
    const useTime = existsSync(TIME);
    const [command, ...args] = useTime ? [TIME, '-f', '%M', '-o', timeFile, ...node] : node;
    const started = performance.now();
    // From the repository root, as `dmarcops site` runs: the build's server-side chunks resolve packages from there.
    const child = spawn(command as string, args, {
      stdio: ['ignore', 'inherit', 'pipe'],
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    const wallSeconds = (performance.now() - started) / 1000;
    if (code !== 0 || !existsSync(resultFile)) throw new Error(`the site build failed (exit ${code}):\n${stderr.trim()}`);
    const result = JSON.parse(readFileSync(resultFile, 'utf8')) as BuildRunResult;
    const timed = useTime ? Number(readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)) : NaN;
    if (keep) process.stdout.write(`  site kept in ${options.outDir}\n`);
    return { ...result, wallSeconds, peakKiB: Number.isFinite(timed) && timed > 0 ? timed : result.maxRssKiB };
  } finally {
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '1000000,10000000' },
      runs: { type: 'string', default: '1' },
      days: { type: 'string', default: '365' },
      domains: { type: 'string', default: '20' },
      seed: { type: 'string', default: '1' },
      keep: { type: 'boolean', default: false },
      'no-tls': { type: 'boolean', default: false },
    },
  });
  const sizes = values.records.split(',').map((text) => Number(text.replace(/_/g, '').trim()));
  if (sizes.some((n) => !Number.isSafeInteger(n) || n < 1))
    throw new Error(`--records takes positive integers separated by commas, not ${values.records}`);
  const runs = Number(values.runs);
  const [load1] = loadavg();
  process.stdout.write(
    `site build benchmark: ${sizes.map((n) => n.toLocaleString('en-US')).join(', ')} records, ${runs} run(s) each; load average ${load1?.toFixed(2)}\n`,
  );

  const rows: string[][] = [];
  for (const records of sizes) {
    const dataset = await ensureDataset({
      records,
      days: Number(values.days),
      domains: Number(values.domains),
      seed: Number(values.seed),
      version: SITE_GENERATOR_VERSION,
      ...(values['no-tls'] ? { tls: false } : {}),
    });
    process.stdout.write(
      `${records.toLocaleString('en-US')} records: dataset ${dataset.cached ? 'cached' : 'generated'} ` +
        `in ${dataset.generateSeconds.toFixed(1)} s (${dataset.dataDir})\n`,
    );
    const measurements: BuildMeasurement[] = [];
    for (let run = 0; run < runs; run++) {
      const measured = await buildOnce(dataset, values.keep === true);
      measurements.push(measured);
      process.stdout.write(
        `  run ${run + 1}: build ${measured.seconds.toFixed(1)} s (wall ${measured.wallSeconds.toFixed(1)} ` +
          `s), ${measured.pages} pages, peak ${mibOfKib(measured.peakKiB)} MiB${measured.error ? ` — ${measured.error}` : ''}\n`,
      );
    }
    const build = median(measurements.map((m) => m.seconds));
    const peak = median(measurements.map((m) => m.peakKiB));
    const last = measurements.at(-1) as BuildMeasurement;
    const target = TARGET_SECONDS[records];
    rows.push([
      records.toLocaleString('en-US'),
      dataset.reports.toLocaleString('en-US'),
      `${dataset.generateSeconds.toFixed(1)}${dataset.cached ? ' (cached)' : ''}`,
      build.toFixed(1),
      String(last.pages),
      mibOfKib(peak),
      (last.totalBytes / 1024 / 1024).toFixed(1),
      last.heaviest ? `${last.heaviest.path} ${(last.heaviest.bytes / 1024).toFixed(0)} KB` : '-',
      target === undefined ? '-' : `≤ ${target} s: ${build <= target ? 'met' : 'NOT met'}`,
    ]);
  }
  const header = [
    'records',
    'reports',
    'generate s',
    'build s',
    'pages',
    'peak RSS MiB',
    'site MB',
    'heaviest page (compressed)',
    'target',
  ];
  process.stdout.write(`\n| ${header.join(' | ')} |\n|${header.map((_, i) => (i === 7 ? ':---' : '---:')).join('|')}|\n`);
  for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
}

if (import.meta.main) await main();
