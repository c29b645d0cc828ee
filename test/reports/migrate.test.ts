/**
 * `dmarcops migrate-quarantine`: a dataset written by an earlier dmarcops — raw invalid and
 * unsupported inputs in quarantine/, foreign reports kept with their mail, ledger rows with
 * addresses in subjects and quoted content in reasons — is brought to what is kept now. Each
 * removed file first gets a ledger row with the new fields; the marker its inputs carry is nowhere
 * afterwards; a second run changes nothing; and a migration SIGKILLed at any of its steps, then run
 * again, ends exactly like one that was not interrupted.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync as gzipNode } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { gzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import type { MigrationResult } from '../../scripts/reports/migrate.ts';
import { LEDGER_COLUMNS, findReports, ledgerGlob } from '../../scripts/reports/store/index.ts';
import { quarantineName } from '../../scripts/reports/store/quarantine.ts';
import { arfReport, enc, mail, reportXml } from '../fixtures/unpack/make.ts';
import { scanForMarker } from '../helpers/marker.ts';
import { captureOutput } from '../helpers/output.ts';

const PREFIX = join(tmpdir(), 'dmarcops-migrate-');
const MARKER = `078-05-1120-${randomUUID().slice(0, 8)}`;
const ADDRESS = 'jane.doe@example.net';
const MIGRATE = pathToFileURL(new URL('../../scripts/reports/migrate.ts', import.meta.url).pathname).href;

const dir = mkdtempSync(PREFIX);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

// ---------------------------------------------------------------------------------------------
// A dataset as an earlier dmarcops left it

const personal = mail(
  { From: ADDRESS, To: 'dmarc@example.com', Subject: `Re: lunch? write to ${ADDRESS}`, 'Message-ID': '<p1@example.net>' },
  [{ type: 'text/plain', body: `My number: ${MARKER}\n` }],
);
const note = enc(`${MARKER} note\n`);
const failure = arfReport(
  mail({ From: ADDRESS, Subject: 'original', 'Message-ID': '<o@example.net>' }, [{ type: 'text/plain', body: MARKER }]),
);
const foreignXml = reportXml('stranger-1', 2, 'stranger.example');
const foreignMail = mail({ From: ADDRESS, To: 'dmarc@example.com', Subject: 'Fwd: report', 'Message-ID': '<fwd@example.net>' }, [
  { type: 'text/plain', body: `see attached; ${MARKER}\n` },
  { type: 'application/gzip', filename: 'r.xml.gz', body: gzipNode(foreignXml), encoding: 'base64' },
]);
const keptXml = reportXml('stranger-2', 1, 'stranger.example');
/** Incompressible text in an XML report: its gzip is over a 4 KiB cap. */
const bigXml = reportXml('stranger-3', 1, 'stranger.example').replace(
  '<org_name>receiver.example</org_name>',
  `<org_name>${randomBytes(6000).toString('base64')}</org_name>`,
);

interface OldFile {
  bytes: Uint8Array;
  name: string;
  folder: 'invalid' | 'unsupported' | 'foreign';
  /** The earlier ledger row (none: a file left by a run that died). */
  row?: { kind: string; reason: string; subject?: string; messageId?: string };
}

const OLD: OldFile[] = [
  {
    bytes: personal,
    name: 'personal.eml',
    folder: 'invalid',
    row: {
      kind: 'other',
      reason: `personal.eml: no DMARC aggregate report in message "Re: lunch? write to ${ADDRESS}" <p1@example.net> (no attachments)`,
      subject: `Re: lunch? write to ${ADDRESS}`,
      messageId: '<p1@example.net>',
    },
  },
  {
    bytes: note,
    name: 'note.txt',
    folder: 'invalid',
    row: {
      kind: 'other',
      reason: `note.txt: is not XML, gzip, zip, zlib or a mail message (starts with ${JSON.stringify(`${MARKER} note\n`)})`,
    },
  },
  { bytes: failure, name: 'ruf.eml', folder: 'unsupported' },
  {
    bytes: foreignMail,
    name: 'fwd.eml',
    folder: 'foreign',
    row: {
      kind: 'aggregate',
      reason: 'policy domain stranger.example is not in domains/',
      subject: 'Fwd: report',
      messageId: '<fwd@example.net>',
    },
  },
  {
    bytes: enc(keptXml),
    name: 'kept.xml',
    folder: 'foreign',
    row: { kind: 'aggregate', reason: 'policy domain stranger.example is not in domains/' },
  },
  {
    bytes: enc(bigXml),
    name: 'big.xml',
    folder: 'foreign',
    row: { kind: 'aggregate', reason: 'policy domain stranger.example is not in domains/' },
  },
];

/** Where the old quarantine put a file (the same naming as now: sha256 of the original, gzipped unless compressed). */
function oldPath(file: OldFile): string {
  return `quarantine/${file.folder}/${quarantineName(file.bytes, file.name).file}`;
}

/** Writes the old layout: quarantine files, and a ledger part with the old columns (no source_bytes) written by DuckDB. */
async function writeOldDataset(root: string): Promise<void> {
  const rows: Record<string, unknown>[] = [];
  for (const [seq, file] of OLD.entries()) {
    const { gzip } = quarantineName(file.bytes, file.name);
    const path = join(root, oldPath(file));
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, gzip ? gzipSync(file.bytes, { level: 6, mtime: 0 }) : file.bytes);
    if (file.row) {
      rows.push({
        seq,
        source_ref: `sha256:${sha(file.bytes)}`,
        kind: file.row.kind,
        outcome: file.folder,
        reason: file.row.reason,
        source_name: `/inbox/${file.name}`,
        message_id: file.row.messageId ?? null,
        subject: file.row.subject ?? null,
        quarantine_path: oldPath(file),
      });
    }
  }
  // And a stored report's row whose subject names someone.
  rows.push({
    seq: rows.length,
    source_ref: 'sha256:00',
    kind: 'aggregate',
    outcome: 'stored',
    reason: null,
    source_name: '/inbox/ok.eml',
    message_id: '<ok@x>',
    subject: `Report from bob@example.org`,
    quarantine_path: null,
  });
  mkdirSync(join(root, 'ledger'), { recursive: true });
  const ndjson = join(dir, `old-ledger-${randomUUID()}.ndjson`);
  writeFileSync(ndjson, rows.map((row) => JSON.stringify(row)).join('\n'));
  const old = LEDGER_COLUMNS.filter((c) => c.name !== 'source_bytes');
  const types = Object.fromEntries(
    old.filter((c) => !['ingest_run', 'ingested_at'].includes(c.name)).map((c) => [c.name, c.type === 'TIMESTAMP' ? 'BIGINT' : c.type]),
  );
  const select = old.map((c) =>
    c.name === 'ingest_run'
      ? `'old-run' AS ingest_run`
      : c.name === 'ingested_at'
        ? `TIMESTAMP '2026-01-01' AS ingested_at`
        : c.type === 'TIMESTAMP'
          ? `make_timestamp(${c.name} * 1000000) AS ${c.name}`
          : `CAST(${c.name} AS ${c.type}) AS ${c.name}`,
  );
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run(
    `COPY (SELECT ${select.join(', ')} FROM read_json('${ndjson}', columns = ${JSON.stringify(types).replaceAll('"', "'")})) ` +
      `TO '${join(root, 'ledger', 'run-old-run.parquet')}' (FORMAT parquet, COMPRESSION zstd)`,
  );
  conn.closeSync();
  instance.closeSync();
}

async function migrate(root: string, ...args: string[]): Promise<{ result: MigrationResult; text: string }> {
  const json = captureOutput();
  expect(
    await main(['migrate-quarantine', '--data', root, '--quarantine-max-report-bytes', '4096', '--json', ...args], json, {}),
    json.stderr.join('\n'),
  ).toBe(0);
  return { result: JSON.parse(json.text()) as MigrationResult, text: json.text() };
}

function filesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

/** Ledger rows without the run's own columns, as sorted JSON lines: what must be equal across runs. */
async function ledgerLines(root: string): Promise<string[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const rows = (
      await conn.runAndReadAll(
        `SELECT * EXCLUDE (ingest_run, ingested_at, seq) FROM read_parquet('${ledgerGlob(root)}', union_by_name = true, hive_partitioning = false)`,
      )
    ).getRowObjectsJson();
    return rows.map((row) => JSON.stringify(row)).sort();
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

// ---------------------------------------------------------------------------------------------

describe('dmarcops migrate-quarantine', () => {
  const root = join(dir, 'reports');
  let before: string[];
  let first: MigrationResult;

  beforeAll(async () => {
    await writeOldDataset(root);
    before = filesUnder(root);
    // The old dataset does hold the marker (else the test below proves nothing).
    expect((await scanForMarker(root, MARKER)).hits.length).toBeGreaterThan(2);
  });

  test('--dry-run says what it would do and changes nothing', async () => {
    const { result } = await migrate(root, '--dry-run');
    expect(result.dryRun).toBe(true);
    const actions = ['removed', 'removed', 'removed', 'rewritten', 'kept', 'removed'];
    expect(Object.fromEntries(result.files.map((f) => [f.path, f.action]))).toEqual(
      Object.fromEntries(OLD.map((f, i) => [oldPath(f), actions[i]])),
    );
    expect(result.scrubbed.parts).toEqual(['run-old-run.parquet']);
    const text = captureOutput();
    expect(await main(['migrate-quarantine', '--data', root, '--dry-run', '--quarantine-max-report-bytes', '4096'], text, {})).toBe(0);
    expect(text.stdout[0]).toContain('dry run: nothing changed');
    expect(text.stdout).toContain(
      `  removed   ${oldPath(OLD[0]!)}: raw input removed from quarantine/invalid/ (only the ledger row is kept) (ledger row to add)`,
    );
    expect(text.stdout).toContain('  files    4 removed · 1 rewritten as their report · 1 kept');
    expect(filesUnder(root)).toEqual(before);
  });

  test('removes raw inputs, keeps foreign reports as their XML under the cap, cleans the old ledger part', async () => {
    ({ result: first } = await migrate(root));
    const foreign = readdirSync(join(root, 'quarantine', 'foreign')).sort();
    expect(readdirSync(join(root, 'quarantine'))).toEqual(['foreign']);
    expect(foreign).toEqual([`${sha(foreignXml)}.xml.gz`, `${sha(keptXml)}.xml.gz`].sort());
    expect(first.ledgerRows).toBe(5); // personal, note, ruf (no earlier row), fwd (rewritten), big (over the cap)
    expect(first.scrubbed).toEqual({ parts: ['run-old-run.parquet'], rows: 3 });
  });

  test('the marker and the addresses are nowhere under the data folder any more', async () => {
    const scan = await scanForMarker(root, MARKER);
    expect(scan.hits).toEqual([]);
    expect(scan.parquetRows).toBeGreaterThan(OLD.length);
    expect((await scanForMarker(root, ADDRESS)).hits).toEqual([]);
    expect((await scanForMarker(root, 'bob@example.org')).hits).toEqual([]);
  });

  test('each removed or rewritten file has a ledger row with what can be computed: hash and size of the original, Message-ID, subject', async () => {
    const rows = (await findReports(root)).filter((row) => row.ingestRun === first.runId);
    const of = (file: OldFile) => rows.filter((row) => row.sourceRef === `sha256:${sha(file.bytes)}`);
    expect(of(OLD[0]!)).toEqual([
      expect.objectContaining({
        outcome: 'invalid',
        kind: 'other',
        sourceBytes: personal.length,
        messageId: '<p1@example.net>',
        subject: 'Re: lunch? write to [address]',
        quarantinePath: null,
        sourceName: '/inbox/personal.eml',
      }),
    ]);
    expect(of(OLD[0]!)[0]!.reason).toMatch(
      /^personal\.eml: no DMARC aggregate report in message "Re: lunch\? write to \[address\]".*; migrated: raw input removed from quarantine\/invalid\//,
    );
    expect(of(OLD[1]!)[0]).toMatchObject({
      outcome: 'invalid',
      sourceBytes: note.length,
      reason: expect.stringMatching(/\(starts with text\); migrated: raw input removed/),
    });
    // No earlier row (a run that died): recorded now, with the headers read from the file.
    expect(of(OLD[2]!)[0]).toMatchObject({
      outcome: 'unsupported',
      kind: 'failure',
      sourceBytes: failure.length,
      messageId: '<arf-1@receiver.example>',
      subject: 'FW: Failure Report',
      sourceName: oldPath(OLD[2]!),
    });
    expect(of(OLD[3]!)[0]).toMatchObject({
      outcome: 'foreign',
      sourceBytes: foreignMail.length,
      quarantinePath: `quarantine/foreign/${sha(foreignXml)}.xml.gz`,
      reason: expect.stringMatching(/migrated: the report alone kept/),
    });
    expect(of(OLD[4]!)).toEqual([]);
    expect(of(OLD[5]!)[0]).toMatchObject({
      outcome: 'foreign',
      quarantinePath: null,
      reason: expect.stringMatching(/migrated: removed: over the cap of 4 KiB per report/),
    });
    // The earlier rows stay, cleaned.
    const old = (await findReports(root)).filter((row) => row.ingestRun === 'old-run');
    expect(old).toHaveLength(OLD.filter((f) => f.row).length + 1);
    expect(old.find((row) => row.outcome === 'stored')?.subject).toBe('Report from [address]');
  });

  test('a second run does nothing', async () => {
    const files = filesUnder(root);
    const ledger = await ledgerLines(root);
    const output = captureOutput();
    expect(await main(['migrate-quarantine', '--data', root, '--quarantine-max-report-bytes', '4096'], output, {})).toBe(0);
    expect(output.text()).toBe(`nothing to migrate in ${root}/`);
    expect(filesUnder(root)).toEqual(files);
    expect(await ledgerLines(root)).toEqual(ledger);
  });

  test('a retry of the quarantine after the migration reads the kept foreign reports', async () => {
    const json = captureOutput();
    expect(
      await main(['ingest', '--retry', join(root, 'quarantine'), '--data', root, '--domains', 'domains', '--offline', '--json'], json, {}),
    ).toBe(0);
    const summary = JSON.parse(json.text()) as { items: number; reports: Record<string, number> };
    expect(summary.items).toBe(2);
    expect(summary.reports).toMatchObject({ foreign: 2, invalid: 0 });
  });
});

// ---------------------------------------------------------------------------------------------
// SIGKILL at every step

/** The child: migrates with a hook that SIGKILLs itself when the target step comes (the n-th time). */
const CHILD = `
const [module, root, target, nth] = process.argv.slice(2);
const { migrateQuarantine } = await import(module);
let seen = 0;
await migrateQuarantine({ root, limits: { maxReportBytes: 4096 }, onStep: (step) => {
  if (step === target && ++seen === Number(nth)) process.kill(process.pid, 'SIGKILL');
} });
`;

function runChild(
  root: string,
  target: string,
  nth: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const script = join(dir, 'child.mjs');
  writeFileSync(script, CHILD);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, MIGRATE, root, target, String(nth)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe('a migration killed at any step, then run again, ends as one that was not', () => {
  const clean = join(dir, 'clean');
  let cleanFiles: string[];
  let cleanLedger: string[];

  beforeAll(async () => {
    await writeOldDataset(clean);
    await migrate(clean);
    cleanFiles = filesUnder(clean).filter((path) => !path.startsWith('ledger/'));
    cleanLedger = await ledgerLines(clean);
  });

  const STEPS: [string, number][] = [
    ['migrate:kept', 1],
    ['run:staged', 1],
    ['run:ledger-written', 1],
    ['run:committed', 1],
    ['migrate:removed', 1],
    ['migrate:removed', 3],
    ['scrub:written', 1],
    ['scrub:renamed', 1],
  ];

  test.each(STEPS)('killed at %s (#%i)', { timeout: 60_000 }, async (step, nth) => {
    const root = join(dir, `crash-${step.replace(':', '-')}-${nth}`);
    await writeOldDataset(root);
    const removedBefore = new Set(OLD.map(oldPath));
    const killed = await runChild(root, step, nth);
    expect(killed.signal, killed.stderr).toBe('SIGKILL');

    // At the kill: every old file already gone has a committed ledger row with its hash and size.
    const gone = [...removedBefore].filter((path) => !existsSync(join(root, path)));
    if (gone.length > 0) {
      const rows = await findReports(root);
      for (const file of OLD.filter((f) => gone.includes(oldPath(f)) && f !== OLD[4])) {
        expect(
          rows.some((row) => row.sourceRef === `sha256:${sha(file.bytes)}` && row.sourceBytes === file.bytes.length),
          `${file.name} removed without its row`,
        ).toBe(true);
      }
    }

    await migrate(root);
    expect(filesUnder(root).filter((path) => !path.startsWith('ledger/'))).toEqual(cleanFiles);
    expect(filesUnder(root).filter((path) => path.endsWith('.tmp') || path.startsWith('.staging') || path === '.lock')).toEqual([]);
    expect(await ledgerLines(root)).toEqual(cleanLedger);
    expect((await scanForMarker(root, MARKER)).hits).toEqual([]);
  });
});

describe('TLS reports in the quarantine (kept by this version)', () => {
  test('a kept foreign TLS report (its JSON, gzipped) stays as it is; one left without a ledger row by a run that died gets a row of kind tls', async () => {
    const root = join(dir, 'tls-kept');
    const folder = join(dir, 'tls-in');
    mkdirSync(folder, { recursive: true });
    const json = (id: string): string =>
      JSON.stringify({
        'organization-name': 'Google Inc.',
        'date-range': { 'start-datetime': '2026-03-10T00:00:00Z', 'end-datetime': '2026-03-10T23:59:59Z' },
        'contact-info': 'smtp-tls-reporting@google.com',
        'report-id': id,
        policies: [
          {
            policy: { 'policy-type': 'sts', 'policy-string': ['version: STSv1'], 'policy-domain': 'stranger.example' },
            summary: { 'total-successful-session-count': 5, 'total-failure-session-count': 0 },
          },
        ],
      });
    writeFileSync(join(folder, 'stranger.json'), json('tls-stranger-1'));
    const output = captureOutput();
    expect(
      await main(['ingest', folder, '--data', root, '--domains', 'domains', '--offline', '--json'], output, {}),
      output.stderr.join('\n'),
    ).toBe(0);
    const kept = `quarantine/foreign/${sha(json('tls-stranger-1'))}.json.gz`;
    expect(filesUnder(join(root, 'quarantine'))).toEqual([kept.slice('quarantine/'.length)]);
    // A run that died after keeping this one, before its commit.
    const orphan = `quarantine/foreign/${sha(json('tls-stranger-2'))}.json.gz`;
    writeFileSync(join(root, orphan), gzipNode(json('tls-stranger-2')));

    const { result } = await migrate(root);
    expect(result.files.map((file) => [file.path, file.action, file.ledgerRow])).toEqual(
      [
        [kept, 'kept', false],
        [orphan, 'kept', true],
      ].sort(),
    );
    expect(filesUnder(join(root, 'quarantine'))).toEqual([kept, orphan].map((path) => path.slice('quarantine/'.length)).sort());
    expect((await findReports(root)).filter((row) => row.ingestRun === result.runId)).toEqual([
      expect.objectContaining({
        kind: 'tls',
        outcome: 'foreign',
        quarantinePath: orphan,
        sourceRef: `sha256:${sha(json('tls-stranger-2'))}`,
      }),
    ]);
    // Nothing more to do the second time.
    expect((await migrate(root)).result).toMatchObject({ ledgerRows: 0, runId: null });
  });
});
