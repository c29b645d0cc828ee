/**
 * The whole ingest, crashed for real: `dmarcops ingest` runs as a child process and is SIGKILLed
 * after a random delay, over and over, on one dataset; then it runs once more to the end. The
 * result must be exactly what one clean run produces: the same record rows, TLS report rows and
 * ledger rows (up to the run's own id and time), nothing twice, nothing lost, and no staging, temp
 * or lock files left. The inputs mix DMARC aggregate reports with SMTP TLS reports (JSON, gzip, mail),
 * so the kills land between the parts of both tables.
 *
 * The run commits all its inputs at once, so once a run outlives its timer there is nothing left to
 * interrupt on that dataset: it is compared with the clean one there and then, and the kills go on
 * against a fresh dataset (a new round) until KILLS kills have landed; the last round ends with an
 * uninterrupted run and the same comparison.
 *
 * The delays come from a seeded PRNG; the seed is logged with every delay. To replay a failure:
 * DMARCOPS_CRASH_SEED=<seed> npx vitest run test/reports/ingest.crash.test.ts
 * (kill points land where the timer says, so a replay hits the same neighbourhood, not the same instruction).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';
import { gzipSync, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateReport } from '../../bench/ingest/generate.ts';
import { lookupAsn } from '../../scripts/reports/enrich/index.ts';
import { committedRecordsSql, committedTlsSql, ledgerGlob } from '../../scripts/reports/store/index.ts';
import { enc, mail } from '../fixtures/unpack/make.ts';
import { tlsMail, tlsReportJson, utcDay } from '../fixtures/reports/mailbuilder.ts';
import type { TlsReportSpec } from '../fixtures/reports/mailbuilder.ts';
import { prng } from '../../scripts/lib/random.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO, 'bin', 'dmarcops.js');
const KILLS = 20;
const REPORTS = 36;
const TLS_REPORTS = 12;

const temp = mkdtempSync(join(tmpdir(), 'dmarcops-ingest-crash-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));
const inputs = join(temp, 'inputs');
const domains = join(temp, 'domains');
const cleanRoot = join(temp, 'clean');
const crashedRoot = join(temp, 'crashed');

// ---------------------------------------------------------------------------------------------
// Inputs: generated reports in every container the CLI reads, plus the awkward cases.

const ORGS = ['google.com', 'Outlook.com', 'Yahoo', 'Mail.Ru', 'receiver.example'];
const BEGINS = [Date.UTC(2025, 10, 3), Date.UTC(2025, 11, 15), Date.UTC(2026, 0, 20), Date.UTC(2026, 1, 1)].map((ms) => ms / 1000);

/** One generated report with its own identity, month and policy domain (the generator's header, rewritten). */
function reportText(i: number, records: number, policyDomain: string): string {
  const begin = (BEGINS[i % BEGINS.length] as number) + 86_400 * (i % 7);
  const org = ORGS[i % ORGS.length] as string;
  let first = true;
  let text = '';
  for (const chunk of generateReport({ records, seed: 1000 + i })) {
    if (first) {
      first = false;
      text += chunk
        .replace('<org_name>bench.example</org_name>', `<org_name>${org}</org_name>`)
        .replace(/<report_id>[^<]*<\/report_id>/, `<report_id>crash-${i}</report_id>`)
        .replace(/<begin>\d+<\/begin>/, `<begin>${begin}</begin>`)
        .replace(/<end>\d+<\/end>/, `<end>${begin + 86_399}</end>`)
        .replace('<domain>example.com</domain>', `<domain>${policyDomain}</domain>`);
    } else text += chunk;
  }
  return text;
}

/** A TLS report of its own identity, month and domain, with a few failure details. */
function tlsSpec(i: number, policyDomain: string): TlsReportSpec {
  const day = new Date((BEGINS[i % BEGINS.length] as number) * 1000 + 86_400_000 * (i % 5)).toISOString().slice(0, 10);
  return {
    org: ORGS[i % ORGS.length] as string,
    contact: 'tls-reports@receiver.example',
    reportId: `tls-crash-${i}`,
    domain: policyDomain,
    ...utcDay(day),
    policies: [
      {
        type: 'sts',
        policyString: ['version: STSv1', 'mode: testing', `mx: mx1.${policyDomain}`, 'max_age: 86400'],
        successful: 100 * i,
        failed: i,
        details: Array.from({ length: i % 4 }, (_, d) => ({
          resultType: 'certificate-expired',
          sendingMtaIp: `2001:db8:${i}::${d + 1}`,
          receivingMxHostname: `mx1.${policyDomain}`,
          failed: 1,
        })),
      },
    ],
  };
}

function reportMail(i: number, attachment: { name: string; type: string; body: Uint8Array }): Uint8Array {
  const id = `crash-${i}@receiver.example`;
  return mail(
    {
      From: 'noreply-dmarc@receiver.example',
      To: 'rua@example.com',
      Subject: `Report domain: example.com Submitter: receiver.example Report-ID: crash-${i}`,
      'Message-ID': `<${id}>`,
      Date: 'Thu, 1 Jan 2026 10:00:00 +0000',
    },
    [
      { type: 'text/plain', body: 'This is an aggregate report from receiver.example.' },
      { type: attachment.type, filename: attachment.name, body: attachment.body, encoding: 'base64' },
    ],
  );
}

/** Writes the input folder; returns the number of files. */
function writeInputs(): number {
  mkdirSync(inputs);
  const rand = prng(7);
  const files = new Map<string, Uint8Array>();
  for (let i = 0; i < REPORTS; i++) {
    const records = 200 + Math.floor(rand() * 1800);
    const xml = enc(reportText(i, records, i % 5 === 4 ? 'example.org' : 'example.com'));
    const base = `r${String(i).padStart(2, '0')}`;
    switch (i % 4) {
      case 0:
        files.set(`${base}.xml`, xml);
        break;
      case 1:
        files.set(`${base}.xml.gz`, gzipSync(xml, { filename: `${base}.xml`, mtime: 0 }));
        break;
      case 2:
        files.set(`${base}.zip`, zipSync({ [`receiver.example!example.com!${base}.xml`]: xml }));
        break;
      default: {
        const zipped = i % 8 === 3;
        const body = zipped ? zipSync({ [`${base}.xml`]: xml }) : gzipSync(xml, { mtime: 0 });
        files.set(
          `${base}.eml`,
          reportMail(i, { name: `${base}.xml.${zipped ? 'zip' : 'gz'}`, type: zipped ? 'application/zip' : 'application/gzip', body }),
        );
      }
    }
  }
  // The same bytes under another name: one ledger row, the second item is "already ingested".
  files.set('zz-copy-of-r05.xml.gz', files.get('r05.xml.gz') as Uint8Array);
  // The same report in another container: a "duplicate" ledger row, no rows stored twice.
  files.set('zz-r04-again.xml.gz', gzipSync(files.get('r04.xml') as Uint8Array, { mtime: 0 }));
  // A zip holding two reports: two ledger rows for one input.
  files.set(
    'zz-two-reports.zip',
    zipSync({ 'a.xml': enc(reportText(90, 700, 'example.com')), 'b.xml': enc(reportText(91, 300, 'example.org')) }),
  );
  // Not ours: kept aside as foreign.
  files.set('zz-foreign.xml', enc(reportText(92, 400, 'not-ours.example.net')));
  // Cut off in the middle of a record after ~1,300 of its 2,000 records: invalid, and whatever the
  // store staged of it must go.
  const whole = reportText(93, 2000, 'example.com');
  files.set('zz-truncated.xml', enc(whole.slice(0, Math.floor(whole.length * 0.65))));
  // TLS reports, as JSON files, gzip files and mails; one of them twice (another container), one
  // foreign, one cut off.
  for (let i = 0; i < TLS_REPORTS; i++) {
    const spec = tlsSpec(i, i % 3 === 2 ? 'example.org' : 'example.com');
    const json = tlsReportJson(spec);
    const base = `t${String(i).padStart(2, '0')}`;
    if (i % 3 === 0) files.set(`${base}.json`, enc(json));
    else if (i % 3 === 1) files.set(`${base}.json.gz`, gzipSync(enc(json), { mtime: 0 }));
    else
      files.set(
        `${base}.eml`,
        tlsMail(
          { messageId: `<${base}@receiver.example>`, from: 'tls@receiver.example', date: new Date('2026-02-02T00:00:00Z') },
          spec,
          'gzip',
        ),
      );
  }
  files.set('zz-t03-again.json.gz', gzipSync(enc(tlsReportJson(tlsSpec(3, 'example.com'))), { mtime: 0, level: 9 }));
  files.set('zz-tls-foreign.json', enc(tlsReportJson(tlsSpec(50, 'not-ours.example.net'))));
  const tlsWhole = tlsReportJson(tlsSpec(51, 'example.com'));
  files.set('zz-tls-truncated.json', enc(tlsWhole.slice(0, Math.floor(tlsWhole.length / 2))));
  for (const [name, bytes] of files) writeFileSync(join(inputs, name), bytes);
  return files.size;
}

// ---------------------------------------------------------------------------------------------
// Running the CLI

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  stdout: string;
  stderr: string;
}

/**
 * `dmarcops ingest` into `root`, SIGKILLed after `killAfterMs` unless it ends first. The child is
 * a process group leader and the whole group is killed: nothing it started may outlive it.
 */
function ingest(root: string, killAfterMs?: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, 'ingest', inputs, '--data', root, '--domains', domains, '--offline', '--json'], {
      cwd: temp,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer =
      killAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            try {
              if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
            } catch {
              // Already gone.
            }
          }, killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, ms: performance.now() - started, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Reading a dataset

let instance: DuckDBInstance;
let conn: DuckDBConnection;

async function rows<T>(sql: string): Promise<T[]> {
  return (await conn.runAndReadAll(sql)).getRowObjectsJS() as T[];
}

/** Record rows without the run's own columns. */
const recordsOf = (root: string): string => `SELECT * EXCLUDE (ingest_run, ingested_at) FROM (${committedRecordsSql(root)})`;
/** TLS report rows without the run's own columns. */
const tlsOf = (root: string): string => `SELECT * EXCLUDE (ingest_run, ingested_at) FROM (${committedTlsSql(root)})`;
/** Ledger rows without the run's own columns (seq is the item's position within its run). */
const ledgerOf = (root: string): string =>
  `SELECT * EXCLUDE (ingest_run, ingested_at, seq) FROM read_parquet('${ledgerGlob(root)}', union_by_name = true, hive_partitioning = false)`;

async function count(sql: string): Promise<number> {
  const [row] = await rows<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM (${sql})`);
  return row?.n ?? -1;
}

/** Rows of `a` not matched one-for-one in `b` (multiset difference), as a count. */
const missingFrom = (a: string, b: string): Promise<number> => count(`(${a}) EXCEPT ALL (${b})`);

/** Files that are never data: staging, temp files, locks, compaction manifests. */
function debris(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .filter(
      (p) => p.startsWith('.staging') || p.endsWith('.tmp') || p.split('/').some((s) => s.startsWith('.lock')) || p.includes('_compact-'),
    );
}

/** Run parts whose run has no ledger part (uncommitted leftovers). */
function orphanParts(root: string): string[] {
  const ledger = new Set(existsSync(join(root, 'ledger')) ? readdirSync(join(root, 'ledger')) : []);
  if (!existsSync(join(root, 'records'))) return [];
  return readdirSync(join(root, 'records'), { recursive: true })
    .map(String)
    .filter((p) => /run-[^/]*\.parquet$/.test(p) && !ledger.has(p.slice(p.lastIndexOf('run-'))));
}

function quarantined(root: string): string[] {
  const dir = join(root, 'quarantine');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

const sha256 = (path: string): string => `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;

// ---------------------------------------------------------------------------------------------

let fileCount = 0;
let clean: Outcome;

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
  fileCount = writeInputs();
  cpSync(join(REPO, 'domains'), domains, { recursive: true });
  clean = await ingest(cleanRoot);
  expect(clean.stderr).toBe('');
  expect(clean.code).toBe(0);
}, 60_000);

afterAll(() => {
  conn?.closeSync();
  instance?.closeSync();
});

describe('dmarcops ingest killed with SIGKILL at random points', () => {
  it('the clean run stored, deduplicated and set aside what it should', async () => {
    const summary = JSON.parse(clean.stdout) as {
      items: number;
      reports: Record<string, number>;
      tls: Record<string, number>;
      alreadyIngested: number;
      records: number;
    };
    expect(summary.items).toBe(fileCount);
    expect(summary.reports).toEqual({ stored: REPORTS + 2, duplicate: 1, foreign: 1, invalid: 1 });
    expect(summary.tls).toMatchObject({ stored: TLS_REPORTS, duplicate: 1, foreign: 1, invalid: 1 });
    expect(summary.alreadyIngested).toBe(1);
    expect(await count(recordsOf(cleanRoot))).toBe(summary.records);
    expect(await count(tlsOf(cleanRoot))).toBe(summary.tls.rows);
    // The foreign reports are kept (the XML, the JSON, gzipped); the truncated inputs have their ledger rows only.
    expect(quarantined(cleanRoot)).toEqual([
      expect.stringMatching(/^foreign\/[0-9a-f]{64}\.(xml|json)\.gz$/),
      expect.stringMatching(/^foreign\/[0-9a-f]{64}\.(xml|json)\.gz$/),
    ]);
    expect(
      quarantined(cleanRoot)
        .map((path) => path.split('.').slice(1).join('.'))
        .sort(),
    ).toEqual(['json.gz', 'xml.gz']);
    // Every source IP got its enrichment (the run looks them up in chunks as it goes).
    const ips = await rows<{ ip: string; asn: number | null }>(
      `SELECT DISTINCT source_ip AS ip, source_asn::INTEGER AS asn FROM (${recordsOf(cleanRoot)})`,
    );
    const wrong = ips.filter(({ ip, asn }) => (lookupAsn(ip)?.asn ?? null) !== asn);
    expect(wrong.slice(0, 5)).toEqual([]);
    // Not vacuous: the generated 198.51.x.y addresses are partly announced (2001:db8:: never is).
    expect(ips.filter((r) => r.asn !== null).length).toBeGreaterThan(1000);
  });

  it(`${KILLS} kills at random points, then a full run: the same dataset as one clean run`, async () => {
    const seed = Number(process.env.DMARCOPS_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const rand = prng(seed);
    const cleanRows = await count(recordsOf(cleanRoot));
    const cleanTlsRows = await count(tlsOf(cleanRoot));
    const log: string[] = [];
    const say = (line: string): void => void log.push(line);
    say(`ingest crash test: seed ${seed} (DMARCOPS_CRASH_SEED=${seed} to replay); clean run ${clean.ms.toFixed(0)} ms, ${cleanRows} rows`);

    /** The dataset at `root` must be the clean run's, up to the run columns, with nothing else left. */
    const expectSameAsClean = async (root: string): Promise<void> => {
      const context = log.join('\n');
      // Records: the same multiset of rows, all columns but the run's id and time.
      expect(await count(recordsOf(root)), context).toBe(cleanRows);
      expect(await missingFrom(recordsOf(cleanRoot), recordsOf(root)), context).toBe(0);
      expect(await missingFrom(recordsOf(root), recordsOf(cleanRoot)), context).toBe(0);
      expect(await count(`SELECT report_key, record_index FROM (${recordsOf(root)}) GROUP BY ALL HAVING count(*) > 1`), context).toBe(0);
      // TLS rows: the same multiset, each (report, policy, detail) once.
      expect(await count(tlsOf(root)), context).toBe(cleanTlsRows);
      expect(await missingFrom(tlsOf(cleanRoot), tlsOf(root)), context).toBe(0);
      expect(await missingFrom(tlsOf(root), tlsOf(cleanRoot)), context).toBe(0);
      expect(
        await count(`SELECT report_key, policy_index, detail_index FROM (${tlsOf(root)}) GROUP BY ALL HAVING count(*) > 1`),
        context,
      ).toBe(0);
      // Ledger: every input once, with the same outcome (and everything else but the run columns).
      expect(await count(ledgerOf(root)), context).toBe(await count(ledgerOf(cleanRoot)));
      expect(await missingFrom(ledgerOf(cleanRoot), ledgerOf(root)), context).toBe(0);
      expect(await missingFrom(ledgerOf(root), ledgerOf(cleanRoot)), context).toBe(0);
      expect(await count(`SELECT source_ref, report_key FROM (${ledgerOf(root)}) GROUP BY ALL HAVING count(*) > 1`), context).toBe(0);
      const refs = new Set(
        (await rows<{ source_ref: string }>(`SELECT DISTINCT source_ref FROM (${ledgerOf(root)})`)).map((r) => r.source_ref),
      );
      expect(
        readdirSync(inputs).filter((name) => !refs.has(sha256(join(inputs, name)))),
        context,
      ).toEqual([]);
      // Nothing left that is not data, nothing uncommitted, the same inputs kept aside.
      expect(debris(root), context).toEqual([]);
      expect(orphanParts(root), context).toEqual([]);
      expect(quarantined(root), context).toEqual(quarantined(cleanRoot));
    };

    // The run commits all of its inputs at once, so a run that outlives its timer leaves nothing to
    // interrupt on that dataset: it is checked, and the kills go on against a fresh one. The kills
    // that land are counted until there are KILLS of them.
    let round = 1;
    let root = join(crashedRoot, `round-${round}`);
    let kills = 0;
    let killsThisRound = 0;
    let attempts = 0;
    while (kills < KILLS) {
      attempts++;
      expect(attempts, log.join('\n')).toBeLessThan(KILLS * 3);
      const delay = Math.round(rand() * 1.2 * clean.ms);
      const result = await ingest(root, delay);
      const killed = result.signal === 'SIGKILL';
      // A reader between two crashes sees either nothing or the clean dataset's rows, never rows it would not have.
      const visible = await count(recordsOf(root));
      const extra = visible === 0 ? 0 : await missingFrom(recordsOf(root), recordsOf(cleanRoot));
      const visibleTls = await count(tlsOf(root));
      const extraTls = visibleTls === 0 ? 0 : await missingFrom(tlsOf(root), tlsOf(cleanRoot));
      // A run commits both tables at once: nothing of either, or all of both.
      expect(visibleTls, log.join('\n')).toBe(visible === 0 ? 0 : cleanTlsRows);
      say(
        `  round ${round}, after ${String(delay).padStart(5)} ms: ${killed ? 'killed' : `exited ${result.code}`} ` +
          `at ${result.ms.toFixed(0)} ms; ${visible} rows visible`,
      );
      expect(killed || result.code === 0, `${log.join('\n')}\n${result.stderr}`).toBe(true);
      expect(extra, log.join('\n')).toBe(0);
      expect(extraTls, log.join('\n')).toBe(0);
      if (killed) {
        kills++;
        killsThisRound++;
        continue;
      }
      // It ran to the end after `killsThisRound` kills: that is a rerun after crashes too.
      say(`  round ${round}: ran to the end after ${killsThisRound} kill(s)`);
      await expectSameAsClean(root);
      round++;
      root = join(crashedRoot, `round-${round}`);
      killsThisRound = 0;
    }

    const final = await ingest(root);
    say(
      `  round ${round}: final run after ${killsThisRound} kill(s) exited ${final.code} after ${final.ms.toFixed(0)} ms (${kills} kills in all)`,
    );
    expect(final.code, `${log.join('\n')}\n${final.stderr}`).toBe(0);
    await expectSameAsClean(root);
    console.log(log.join('\n'));
  }, 180_000);
});
