/**
 * Alerts and digest benchmark: `dmarcops alerts --dry-run --json` and `dmarcops digest` on the site
 * benchmark's datasets (bench/site/generate.ts, cached in bench/.cache/site-<records>/: 365 days,
 * 20 domains), each run as the real CLI in a child process (wall time from spawn to exit; CPU time
 * and peak RSS from /usr/bin/time), with the clock set to the morning after the dataset's last day.
 * On a shared 2-core machine the wall time follows the other processes' load; the CPU time does not.
 *
 *   npx node bench/alerts/run.ts [--records 10000000] [--runs 3]
 *
 * Target (issue 12): each ≤ 10 s on the 10M-record dataset.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { addDays } from '../../scripts/alerts/window.ts';
import { openDuck } from '../../scripts/reports/store/duck.ts';
import { committedLedgerFiles } from '../../scripts/reports/store/index.ts';
import { sqlList } from '../../scripts/reports/store/layout.ts';
import { formatBytes } from '../../scripts/lib/text.ts';
import { median, mibOfKib } from '../figures.ts';
import { ensureDataset } from '../site/build.ts';
import { SITE_GENERATOR_VERSION } from '../site/generate.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'bin', 'dmarcops.js');
const TIME = '/usr/bin/time';
const TARGET_SECONDS = 10;

interface Measurement {
  seconds: number;
  /** User + system CPU seconds of the child: what the work costs, whatever else the machine runs. */
  cpuSeconds: number;
  peakKiB: number;
  stdoutBytes: number;
  stdout: string;
}

async function runCli(args: string[]): Promise<Measurement> {
  const work = mkdtempSync(join(tmpdir(), 'dmarcops-bench-alerts-'));
  try {
    const timeFile = join(work, 'time.txt');
    const useTime = existsSync(TIME);
    const node = [process.execPath, CLI, ...args];
    const [command, ...rest] = useTime ? [TIME, '-f', '%M %U %S', '-o', timeFile, ...node] : node;
    const started = performance.now();
    const child = spawn(command as string, rest, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', GITHUB_TOKEN: '', GITHUB_STEP_SUMMARY: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    const seconds = (performance.now() - started) / 1000;
    if (code !== 0) throw new Error(`dmarcops ${args[0]} failed (exit ${code}):\n${stderr.trim()}`);
    const [peak, user, system] = useTime ? (readFileSync(timeFile, 'utf8').trim().split('\n').at(-1) ?? '').split(' ').map(Number) : [];
    return { seconds, cpuSeconds: (user ?? NaN) + (system ?? NaN), peakKiB: peak ?? NaN, stdoutBytes: Buffer.byteLength(stdout), stdout };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The last day with reports, from the ledger. */
async function lastDay(dataDir: string): Promise<string> {
  const duck = await openDuck({ threads: 1, memoryLimit: '256MB' });
  try {
    const [row] = await duck.rows<{ day: string }>(
      `SELECT strftime(max(date_begin), '%Y-%m-%d') AS day FROM read_parquet(${sqlList(committedLedgerFiles(dataDir))}, union_by_name = true)`,
    );
    if (row?.day == null) throw new Error(`no reports in ${dataDir}`);
    return row.day;
  } finally {
    duck.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { records: { type: 'string', default: '10000000' }, runs: { type: 'string', default: '3' } } });
  const sizes = values.records.split(',').map((text) => Number(text.replace(/_/g, '').trim()));
  const runs = Number(values.runs);
  process.stdout.write(
    `alerts/digest benchmark: ${sizes.map((n) => n.toLocaleString('en-US')).join(', ')} ` +
      `records, ${runs} run(s) each; load average ${loadavg()[0]?.toFixed(2)}\n`,
  );
  const rows: string[][] = [];
  for (const records of sizes) {
    const dataset = await ensureDataset({ records, days: 365, domains: 20, seed: 1, version: SITE_GENERATOR_VERSION });
    const end = await lastDay(dataset.dataDir);
    const now = `${addDays(end, 1)}T06:30:00Z`;
    process.stdout.write(
      `${records.toLocaleString('en-US')} records: ` +
        `dataset ${dataset.cached ? 'cached' : `generated in ${dataset.generateSeconds.toFixed(1)} s`}, ` +
        `last day ${end}, --now ${now}\n`,
    );
    const common = ['--domains', dataset.domainsDir, '--data', dataset.dataDir, '--now', now];
    const commands: [string, string[]][] = [
      ['alerts --dry-run --json', ['alerts', '--dry-run', '--json', ...common]],
      ['digest', ['digest', ...common]],
    ];
    for (const [label, args] of commands) {
      const measured: Measurement[] = [];
      for (let run = 0; run < runs; run++) {
        const m = await runCli(args);
        measured.push(m);
        process.stdout.write(
          `  ${label}: run ${run + 1} ${m.seconds.toFixed(2)} s (CPU ${m.cpuSeconds.toFixed(2)} s), ` +
            `peak ${mibOfKib(m.peakKiB)} MiB, output ${formatBytes(m.stdoutBytes)}, load ${loadavg()[0]?.toFixed(1)}\n`,
        );
      }
      const seconds = median(measured.map((m) => m.seconds));
      const found = label.startsWith('alerts')
        ? `${(JSON.parse(measured[0]!.stdout) as { alerts: unknown[] }).alerts.length} alerts`
        : `${measured[0]!.stdout.split('\n').length} lines`;
      rows.push([
        records.toLocaleString('en-US'),
        `\`dmarcops ${label}\``,
        `${seconds.toFixed(2)} (${Math.min(...measured.map((m) => m.seconds)).toFixed(2)}–${Math.max(...measured.map((m) => m.seconds)).toFixed(2)})`,
        median(measured.map((m) => m.cpuSeconds)).toFixed(2),
        mibOfKib(median(measured.map((m) => m.peakKiB))),
        found,
        records === 10_000_000 ? `≤ ${TARGET_SECONDS} s: ${seconds <= TARGET_SECONDS ? 'met' : 'NOT met'}` : '-',
      ]);
    }
  }
  const header = ['records', 'command', 'wall s, median (range)', 'CPU s (user + sys)', 'peak RSS MiB', 'output', 'target'];
  process.stdout.write(`\n| ${header.join(' | ')} |\n|${header.map((_, i) => (i === 1 || i === 5 ? ':---' : '---:')).join('|')}|\n`);
  for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
}

if (import.meta.main) await main();
