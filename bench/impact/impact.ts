/**
 * Impact benchmark: `dmarcops impact` over the 10M-record, 90-day dataset bench/site/generate.ts
 * makes (cached in bench/.cache/site-10000000-90d-20dom-s1/, generated on first use), as a child
 * process from spawn to exit, against the target from the issue: ≤ 5 s on this 2-core machine.
 *
 *   npx node bench/impact/impact.ts [--records 10000000] [--days 90] [--windows 90,30] [--runs 3]
 *
 * Scenarios (the base is the generated domain files; each head is written next to them):
 *  - every domain: a `_defaults.yaml` that makes DKIM alignment strict reaches all 20 domains, so
 *    every record of the window is grouped and replayed (the worst case);
 *  - one domain: the biggest domain (d01, about a quarter of the records) makes DKIM alignment strict
 *    (the usual pull request: one domain file).
 * Windows: `--days` of the dataset (all of it) and the default 30.
 *
 * Per run: wall time of the process, CPU time (user + system: DuckDB's threads included) and peak RSS
 * from /usr/bin/time. One more run in-process prints where the time goes (computeImpact's steps).
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { computeImpact } from '../../scripts/impact/index.ts';
import { loadDomainDir } from '../../scripts/policy/load.ts';
import { median } from '../figures.ts';
import { SITE_GENERATOR_VERSION } from '../site/generate.ts';
import { ensureDataset } from '../site/build.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'bin', 'dmarcops.js');
const TIME = '/usr/bin/time';
const TARGET_SECONDS = 5;

interface Scenario {
  name: string;
  /** Writes the head's domain files into `dir` from the base's. */
  write(base: string, dir: string): void;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'every domain (_defaults.yaml: strict DKIM)',
    write(base, dir) {
      cpSync(base, dir, { recursive: true });
      writeFileSync(join(dir, '_defaults.yaml'), 'alignment:\n  dkim: strict\n');
    },
  },
  {
    name: 'one domain (d01.example: strict DKIM)',
    write(base, dir) {
      cpSync(base, dir, { recursive: true });
      const file = join(dir, 'd01.example.yaml');
      writeFileSync(file, `${readFileSync(file, 'utf8')}alignment:\n  dkim: strict\n`);
    },
  },
];

interface Run {
  wall: number;
  cpu: number;
  peakMiB: number;
  legitimateAffected: number;
}

async function runCli(args: string[], work: string): Promise<Run> {
  const out = join(work, 'impact.json');
  const timeFile = join(work, 'time.txt');
  const node = [process.execPath, CLI, 'impact', ...args, '--format', 'json', '--out', out];
  const useTime = existsSync(TIME);
  const [command, ...rest] = useTime ? [TIME, '-f', '%e %U %S %M', '-o', timeFile, ...node] : node;
  const started = performance.now();
  const child = spawn(command as string, rest, {
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', GITHUB_STEP_SUMMARY: '' },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  const wall = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`dmarcops impact failed (exit ${code}):\n${stderr.trim()}`);
  const report = JSON.parse(readFileSync(out, 'utf8')) as { legitimateAffected: number };
  const [, user, system, kib] = useTime ? (readFileSync(timeFile, 'utf8').trim().split('\n').at(-1) ?? '').split(' ').map(Number) : [];
  return { wall, cpu: (user ?? NaN) + (system ?? NaN), peakMiB: (kib ?? NaN) / 1024, legitimateAffected: report.legitimateAffected };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '10000000' },
      days: { type: 'string', default: '90' },
      windows: { type: 'string' },
      runs: { type: 'string', default: '3' },
    },
  });
  const records = Number(values.records.replace(/_/g, ''));
  const days = Number(values.days);
  const windows = (values.windows ?? `${days},30`).split(',').map(Number);
  const runs = Number(values.runs);
  const [load1] = loadavg();
  process.stdout.write(
    `impact benchmark: ${records.toLocaleString('en-US')} records over ${days} days, ` +
      `windows ${windows.join(', ')} days, ${runs} run(s) each; load average ${load1?.toFixed(2)}\n`,
  );
  const dataset = await ensureDataset({ records, days, domains: 20, seed: 1, version: SITE_GENERATOR_VERSION });
  process.stdout.write(
    `dataset ${dataset.cached ? 'cached' : 'generated'} in ${dataset.generateSeconds.toFixed(1)} s (${dataset.dataDir})\n`,
  );

  const work = mkdtempSync(join(tmpdir(), 'dmarcops-bench-impact-'));
  const rows: string[][] = [];
  try {
    for (const [index, scenario] of SCENARIOS.entries()) {
      const head = join(work, `head-${index}`);
      scenario.write(dataset.domainsDir, head);
      if (readdirSync(head).length === 0) throw new Error('no head domain files');
      for (const window of windows) {
        const args = ['--base-domains', dataset.domainsDir, '--domains', head, '--data', dataset.dataDir, '--days', String(window)];
        // Once unmeasured: the compile cache and the page cache as in daily use.
        await runCli(args, work);
        const measured: Run[] = [];
        for (let run = 0; run < runs; run++) measured.push(await runCli(args, work));
        const wall = median(measured.map((m) => m.wall));
        process.stdout.write(`${scenario.name}, ${window} days: ${measured.map((m) => `${m.wall.toFixed(2)} s`).join(', ')}\n`);

        const steps: string[] = [];
        const base = await loadDomainDir(dataset.domainsDir);
        const heads = await loadDomainDir(head);
        await computeImpact({
          base: { domains: base.domains },
          head: { domains: heads.domains },
          dataDir: dataset.dataDir,
          days: window,
          onStep: (name, ms) => steps.push(`${name} ${(ms / 1000).toFixed(2)}`),
        });
        process.stdout.write(`  in-process: ${steps.join(' · ')}\n`);
        rows.push([
          scenario.name,
          String(window),
          wall.toFixed(2),
          `${Math.min(...measured.map((m) => m.wall)).toFixed(2)}–${Math.max(...measured.map((m) => m.wall)).toFixed(2)}`,
          median(measured.map((m) => m.cpu)).toFixed(2),
          median(measured.map((m) => m.peakMiB)).toFixed(0),
          (measured[0]?.legitimateAffected ?? 0).toLocaleString('en-US'),
          `≤ ${TARGET_SECONDS} s: ${wall <= TARGET_SECONDS ? 'met' : 'NOT met'}`,
        ]);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const header = ['scenario', 'window days', 'wall s (median)', 'range', 'CPU s', 'peak RSS MiB', 'legitimate affected', 'target'];
  process.stdout.write(
    `\n| ${header.join(' | ')} |\n|:---|${header
      .slice(1)
      .map(() => '---:')
      .join('|')}|\n`,
  );
  for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
}

if (import.meta.main) await main();
