/**
 * Report-level text at the store: the store repeats a report's header on every record row, so the
 * header's size counts once per record. Generates aggregate reports with a given header (error
 * elements, a long `fo`, a long reporter name) over N records and ingests each with the real command
 * in a child process, as the ingest workflow runs it (DuckDB's memory limit 256 MB). Prints the
 * outcome, the wall time and the child's peak RSS (GNU time).
 *
 *   node bench/ingest/header.ts [--records 100000] [--case errors-1mb]…
 *
 * Cases: plain (no header text), errors-16k (16 errors × 1,000), errors-1mb (18 × 55,000: clipped),
 * fo-40k (a 40,000-character `fo`: the largest header stored as sent), name-60k (refused).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mibOfKib } from '../figures.ts';

const { values } = parseArgs({
  options: { records: { type: 'string', default: '100000' }, case: { type: 'string', multiple: true } },
});
const RECORDS = Number(values.records);

interface HeaderCase {
  errors?: { count: number; chars: number };
  fo?: number;
  name?: number;
}
const CASES: Record<string, HeaderCase> = {
  plain: {},
  'errors-16k': { errors: { count: 16, chars: 1000 } },
  'errors-1mb': { errors: { count: 18, chars: 55_000 } },
  'fo-40k': { fo: 40_000 },
  'name-60k': { name: 60_000 },
};

async function writeReport(path: string, name: string, spec: HeaderCase, records: number): Promise<void> {
  const out = createWriteStream(path);
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await once(out, 'drain');
  };
  const org = spec.name === undefined ? 'forger.example' : 'y'.repeat(spec.name);
  const errors =
    spec.errors === undefined
      ? ''
      : Array.from({ length: spec.errors.count }, (_, i) => `<error>${i} ${'x'.repeat(spec.errors!.chars)}</error>`).join('');
  const fo = spec.fo === undefined ? '' : `<fo>${'1'.repeat(spec.fo)}</fo>`;
  await write(
    `<?xml version="1.0"?><feedback><report_metadata><org_name>${org}</org_name><email>f@forger.example</email>` +
      `<report_id>${name}</report_id><date_range><begin>1764547200</begin><end>1764633599</end></date_range>${errors}</report_metadata>` +
      `<policy_published><domain>example.com</domain><p>none</p>${fo}</policy_published>`,
  );
  for (let i = 0; i < records; i++) {
    await write(
      `<record><row><source_ip>10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}</source_ip><count>1</count>` +
        '<policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>' +
        '<identifiers><header_from>example.com</header_from></identifiers>' +
        '<auth_results><spf><domain>example.com</domain><result>fail</result></spf></auth_results></record>',
    );
  }
  out.end('</feedback>');
  await once(out, 'finish');
}

const root = mkdtempSync(join(tmpdir(), 'dmarcops-bench-header-'));
try {
  mkdirSync(join(root, 'domains'));
  writeFileSync(join(root, 'domains', 'example.com.yaml'), 'policy: none\n');
  const revision = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  console.log(`${RECORDS.toLocaleString('en')} records a report, dmarcops ${revision}`);
  console.log('case         outcome                       wall s   peak RSS MiB');
  for (const name of values.case ?? Object.keys(CASES)) {
    const spec = CASES[name];
    if (spec === undefined) throw new Error(`unknown case ${name}: one of ${Object.keys(CASES).join(', ')}`);
    const file = join(root, `${name}.xml`);
    const data = join(root, `data-${name}`);
    await writeReport(file, name, spec, RECORDS);
    const run = spawnSync(
      '/usr/bin/time',
      [
        '-f',
        '%e %M',
        process.execPath,
        'bin/dmarcops.js',
        'ingest',
        file,
        '--data',
        data,
        '--domains',
        join(root, 'domains'),
        '--offline',
        '--json',
      ],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    const [seconds, kib] = (run.stderr.trim().split('\n').at(-1) ?? '').split(' ');
    let outcome: string;
    try {
      const summary = JSON.parse(run.stdout) as { reports: Record<string, number> };
      outcome = `stored ${summary.reports.stored ?? 0}, invalid ${summary.reports.invalid ?? 0}`;
    } catch {
      outcome = /Out of Memory/.test(run.stderr) ? 'out of memory: the run failed' : `failed (${run.status})`;
    }
    console.log(`${name.padEnd(12)} ${outcome.padEnd(29)} ${seconds?.padStart(6)}   ${mibOfKib(Number(kib)).padStart(6)}`);
    rmSync(file);
    rmSync(data, { recursive: true, force: true });
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
