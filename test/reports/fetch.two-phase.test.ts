/**
 * The two-phase fetch of the scheduled workflow, against a real Dovecot (test/services/dovecot.ts):
 * `fetch --keep-mail` ingests and commits but moves no mail; only once the dataset is pushed does
 * `fetch --file-only` file each message by the committed ledger, leaving mail that came in between
 * for the next run. A push that fails in between therefore loses nothing: the mail is still there.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import { fetchMail, fileIngestedMail } from '../../scripts/cli/fetch.ts';
import type { MailFiling } from '../../scripts/cli/fetch.ts';
import { EXIT } from '../../scripts/cli/command.ts';
import type { IngestSummary } from '../../scripts/reports/pipeline.ts';
import { sha256Ref } from '../../scripts/reports/pipeline.ts';
import { openImapSource } from '../../scripts/reports/sources/imap.ts';
import type { ImapConfig, ImapSource } from '../../scripts/reports/sources/imap.ts';
import { committedLedgerFiles, committedRecordsSql, findReports } from '../../scripts/reports/store/index.ts';
import { startDovecot } from '../services/dovecot.ts';
import type { DovecotServer } from '../services/dovecot.ts';
import { aggregateXml, attachment, makeRecords, reportMail, utcDay } from '../fixtures/reports/mailbuilder.ts';
import type { MailHeaders, ReportSpec } from '../fixtures/reports/mailbuilder.ts';
import { captureOutput } from '../helpers/output.ts';

const DOMAINS = fileURLToPath(new URL('../../domains', import.meta.url));
const TMP_PREFIX = join(tmpdir(), 'dmarcops-fetch-2phase-');

function spec(n: number, org: string, reportId: string, domain: string, day: string, records: number): ReportSpec {
  return {
    org,
    email: `dmarc@${org}`,
    reportId,
    domain,
    ...utcDay(day),
    adkim: 'r',
    aspf: 'r',
    records: makeRecords(n, records, [domain]),
  };
}

function headers(id: string, r: ReportSpec): MailHeaders {
  return {
    messageId: `<${id}@two-phase.test>`,
    subject: `Report Domain: ${r.domain} Submitter: ${r.org} Report-ID: <${r.reportId}>`,
    from: r.email,
    date: new Date((r.end + 3600) * 1000),
  };
}

interface TestMail {
  messageId: string;
  bytes: Uint8Array;
  folder: 'Processed' | 'Invalid';
  records: number;
}

function mailOf(id: string, r: ReportSpec, folder: TestMail['folder'], records = r.records.length): TestMail {
  const h = headers(id, r);
  return { messageId: h.messageId, bytes: reportMail(h, attachment(r, 'gzip')), folder, records };
}

const GOOD_A = spec(1, 'google.com', 'two-phase-a', 'example.com', '2026-03-02', 4);
const GOOD_B = spec(2, 'yahoo.com', 'two-phase-b', 'example.org', '2026-03-02', 3);
const FOREIGN = spec(3, 'google.com', 'two-phase-foreign', 'other.example', '2026-03-02', 2);
const BROKEN = spec(4, 'yahoo.com', 'two-phase-broken', 'example.com', '2026-03-03', 5);
const LATE = spec(5, 'outlook.com', 'two-phase-late', 'mail.example.com', '2026-03-03', 6);

const brokenXml = aggregateXml(BROKEN);
const FIRST: TestMail[] = [
  mailOf('a', GOOD_A, 'Processed'),
  mailOf('b', GOOD_B, 'Processed'),
  mailOf('foreign', FOREIGN, 'Invalid', 0),
  // The same report as `a`, relayed in another message: a duplicate, so Processed.
  { ...mailOf('a-relayed', GOOD_A, 'Processed', 0), bytes: reportMail(headers('a-relayed', GOOD_A), attachment(GOOD_A, 'zip')) },
  {
    messageId: headers('broken', BROKEN).messageId,
    bytes: reportMail(headers('broken', BROKEN), {
      ...attachment(BROKEN, 'gzip'),
      body: gzipSync(brokenXml.slice(0, brokenXml.length / 2)),
    }),
    folder: 'Invalid',
    records: 0,
  },
];
const LATE_MAIL = mailOf('late', LATE, 'Processed');
const FIRST_RECORDS = FIRST.reduce((sum, mail) => sum + mail.records, 0);

let server: DovecotServer;
const tempDirs: string[] = [];

beforeAll(async () => {
  server = await startDovecot();
});

afterAll(async () => {
  await server?.stop();
  for (const dir of tempDirs) if (dir.startsWith(TMP_PREFIX)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(TMP_PREFIX);
  tempDirs.push(dir);
  return dir;
}

const env = (): NodeJS.ProcessEnv => ({
  DMARCOPS_IMAP_HOST: server.host,
  DMARCOPS_IMAP_PORT: String(server.port),
  DMARCOPS_IMAP_TLS: 'none',
  DMARCOPS_IMAP_USER: server.user,
  DMARCOPS_IMAP_PASSWORD: server.password,
});

async function fetch(data: string, ...flags: string[]): Promise<{ json: unknown; stdout: string[]; stderr: string }> {
  const output = captureOutput();
  const code = await main(['fetch', '--data', data, '--domains', DOMAINS, '--offline', ...flags], output, env());
  expect(code, output.stderr.join('\n')).toBe(EXIT.ok);
  return {
    json: flags.includes('--json') ? JSON.parse(output.text()) : undefined,
    stdout: output.stdout,
    stderr: output.stderr.join('\n'),
  };
}

async function rowCount(data: string): Promise<number> {
  const instance = await DuckDBInstance.create();
  const connection = await instance.connect();
  try {
    const rows = (
      await connection.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM (${committedRecordsSql(data)})`)
    ).getRowObjectsJS() as { n: number }[];
    return rows[0]?.n ?? -1;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Every file under the dataset with its size and mtime: phase 2 must not touch any of them. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    files[relative(root, path)] = `${info.size} ${info.mtimeMs}`;
  }
  return files;
}

const ids = (entries: { messageId: string }[]): string[] => entries.map((entry) => entry.messageId).sort();
const idsIn = (folder: TestMail['folder']): string[] => ids(FIRST.filter((mail) => mail.folder === folder));

describe('fetch --keep-mail, push, fetch --file-only', () => {
  let data: string;
  let uidOf: Map<string, number>;

  beforeAll(async () => {
    data = await tempDir();
    for (const mail of FIRST) await server.appendMessage('INBOX', mail.bytes);
    uidOf = new Map((await server.listFolder('INBOX')).map((entry) => [entry.messageId, entry.uid]));
    expect(uidOf.size).toBe(FIRST.length);
  });

  test('phase 1 ingests and commits the run, and every message stays in the inbox', async () => {
    const { json, stderr } = await fetch(data, '--keep-mail', '--json');
    const summary = json as IngestSummary & { mail: MailFiling };
    expect(summary.items).toBe(FIRST.length);
    expect(summary.reports).toEqual({ stored: 2, duplicate: 1, foreign: 1, invalid: 1 });
    expect(summary.records).toBe(FIRST_RECORDS);
    expect(await rowCount(data)).toBe(FIRST_RECORDS);
    expect(committedLedgerFiles(data)).toHaveLength(1);

    // What would be filed, by UID; nothing was.
    const uids = (folder: TestMail['folder']) =>
      FIRST.filter((mail) => mail.folder === folder)
        .map((mail) => uidOf.get(mail.messageId))
        .sort();
    expect(summary.mail).toEqual({
      mailbox: 'INBOX',
      moved: false,
      processed: { folder: 'Processed', uids: uids('Processed') },
      invalid: { folder: 'Invalid', uids: uids('Invalid') },
      left: [],
    });
    expect(stderr).not.toMatch(/IMAP moved/);
    expect(ids(await server.listFolder('INBOX'))).toEqual(ids(FIRST));
    expect(await server.listFolders()).toEqual(['INBOX']);
  });

  test('without --json it says the mail was kept and where it would go', async () => {
    // A second phase 1 (the push failed, the next scheduled run): everything is already ingested.
    const ledgerParts = committedLedgerFiles(data).length;
    const { stdout } = await fetch(data, '--keep-mail');
    expect(stdout.join('\n')).toMatch(/inputs {3}5 \(5 already ingested\)/);
    expect(stdout.join('\n')).toContain(
      'mail     5 kept in INBOX (--keep-mail): 3 → Processed, 2 → Invalid once `dmarcops fetch --file-only` runs',
    );
    expect(await rowCount(data)).toBe(FIRST_RECORDS);
    expect(committedLedgerFiles(data).length).toBeGreaterThanOrEqual(ledgerParts);
    expect(ids(await server.listFolder('INBOX'))).toEqual(ids(FIRST));
  });

  test('phase 2 files what the ledger has seen, leaves the late mail, and changes nothing in the dataset', async () => {
    await server.appendMessage('INBOX', LATE_MAIL.bytes);
    const before = await snapshot(data);
    const summaryFile = join(await tempDir(), 'summary.md');

    const { json, stderr } = await fetch(data, '--file-only', '--json', '--summary-file', summaryFile);
    const { mail } = json as { mail: MailFiling };
    const lateUid = (await server.listFolder('INBOX')).find((entry) => entry.messageId === LATE_MAIL.messageId)?.uid;
    expect(mail.left).toEqual([lateUid]);
    expect(mail.moved).toBe(true);
    expect(mail.processed.uids).toHaveLength(3);
    expect(mail.invalid.uids).toHaveLength(2);
    expect(stderr).toMatch(/moved 3 message\(s\) from "INBOX" to "Processed"/);
    expect(stderr).toMatch(/moved 2 message\(s\) from "INBOX" to "Invalid"/);

    expect(ids(await server.listFolder('INBOX'))).toEqual([LATE_MAIL.messageId]);
    expect(ids(await server.listFolder('Processed'))).toEqual(idsIn('Processed'));
    expect(ids(await server.listFolder('Invalid'))).toEqual(idsIn('Invalid'));

    expect(await snapshot(data)).toEqual(before);
    expect(await rowCount(data)).toBe(FIRST_RECORDS);
    const markdown = await readFile(summaryFile, 'utf8');
    expect(markdown).toContain('### dmarcops fetch --file-only');
    expect(markdown).toMatch(/\| 3 \| 2 \| 1 \|/);
  });

  test('phase 2 again moves nothing more; its text output counts what stays', async () => {
    const before = await snapshot(data);
    const { stdout } = await fetch(data, '--file-only');
    expect(stdout.join('\n')).toContain('mail     0 → Processed, 0 → Invalid, 1 left in INBOX (not ingested yet: the next run reads them)');
    expect(ids(await server.listFolder('INBOX'))).toEqual([LATE_MAIL.messageId]);
    expect(await snapshot(data)).toEqual(before);
  });

  test('a plain fetch ingests the late mail and files it', async () => {
    const { json } = await fetch(data, '--json');
    const summary = json as IngestSummary;
    expect(summary.items).toBe(1);
    expect(summary.reports).toEqual({ stored: 1, duplicate: 0, foreign: 0, invalid: 0 });
    // The plain fetch's JSON is the run summary as before, without `mail`.
    expect(summary).not.toHaveProperty('mail');
    expect(await rowCount(data)).toBe(FIRST_RECORDS + LATE.records.length);
    expect(await server.listFolder('INBOX')).toEqual([]);
    expect(ids(await server.listFolder('Processed'))).toEqual([...idsIn('Processed'), LATE_MAIL.messageId].sort());
    expect(ids(await server.listFolder('Invalid'))).toEqual(idsIn('Invalid'));
  });
});

describe('fetch --file-only with another dataset', () => {
  test('against a dataset with no committed run, every message stays (and it says so)', async () => {
    const data = await tempDir();
    const other = mailOf('unseen', spec(6, 'google.com', 'two-phase-unseen', 'example.com', '2026-03-04', 2), 'Processed');
    await server.appendMessage('Unseen', other.bytes);
    const output = captureOutput();
    const code = await main(['fetch', '--data', data, '--file-only'], output, { ...env(), DMARCOPS_IMAP_MAILBOX: 'Unseen' });
    expect(code, output.stderr.join('\n')).toBe(EXIT.ok);
    expect(output.text()).toContain('0 committed runs in the ledger');
    expect(output.text()).toContain('no committed run in');
    expect(ids(await server.listFolder('Unseen'))).toEqual([other.messageId]);
  });
});

describe('mail too big to download', () => {
  const LIMIT = 64 * 1024;
  const BIG = spec(7, 'google.com', 'two-phase-big', 'example.com', '2026-03-05', 900);
  const SMALL = mailOf('small', spec(8, 'google.com', 'two-phase-small', 'example.com', '2026-03-05', 2), 'Processed');
  const big = { ...mailOf('big', BIG, 'Invalid', 0), bytes: reportMail(headers('big', BIG), attachment(BIG, 'xml-base64')) };
  const config = (): ImapConfig => ({
    host: server.host,
    port: server.port,
    secure: false,
    starttls: false,
    user: server.user,
    password: server.password,
    mailbox: 'BigInbox',
    processedFolder: 'BigProcessed',
    invalidFolder: 'BigInvalid',
    rejectUnauthorized: true,
  });

  /** The real source, with a small per-message limit, recording which UIDs it downloads. */
  async function limited(downloaded: number[]): Promise<ImapSource> {
    const source = await openImapSource(config());
    return {
      messages: (options) => source.messages({ ...options, maxMessageBytes: LIMIT, onFetch: (uids) => downloaded.push(...uids) }),
      moveTo: (uids, folder) => source.moveTo(uids, folder),
      close: () => source.close(),
    };
  }

  test('is filed as Invalid by both phases alike, and phase 2 does not download it either', async () => {
    expect(big.bytes.length).toBeGreaterThan(LIMIT);
    expect(SMALL.bytes.length).toBeLessThan(LIMIT);
    const data = await tempDir();
    await server.appendMessage('BigInbox', big.bytes);
    await server.appendMessage('BigInbox', SMALL.bytes);
    const uidOf = new Map((await server.listFolder('BigInbox')).map((entry) => [entry.messageId, entry.uid]));
    const bigUid = uidOf.get(big.messageId)!;
    const smallUid = uidOf.get(SMALL.messageId)!;
    const values = { data, domains: DOMAINS, json: true, offline: true };

    const phase1Downloads: number[] = [];
    let source = await limited(phase1Downloads);
    let filing: MailFiling;
    try {
      filing = await fetchMail(
        source,
        config(),
        values,
        { args: [], output: captureOutput(), env: {}, cwd: process.cwd() },
        { move: false },
      );
    } finally {
      await source.close();
    }
    expect(phase1Downloads).toEqual([smallUid]);
    expect(filing.processed.uids).toEqual([smallUid]);
    expect(filing.invalid.uids).toEqual([bigUid]);
    // Its ledger row names it by the sha256 of its IMAP URL (it has no bytes here).
    const [row] = await findReports(data, { outcome: 'invalid' });
    expect(row?.sourceRef).not.toBe(sha256Ref(big.bytes));
    expect(row?.reason).toMatch(/over the .* limit for one message; not downloaded/);
    expect(ids(await server.listFolder('BigInbox'))).toEqual(ids([big, SMALL]));

    const phase2Downloads: number[] = [];
    source = await limited(phase2Downloads);
    try {
      filing = await fileIngestedMail(source, config(), values, { args: [], output: captureOutput(), env: {}, cwd: process.cwd() });
    } finally {
      await source.close();
    }
    expect(phase2Downloads).toEqual([smallUid]);
    expect(filing).toMatchObject({ processed: { uids: [smallUid] }, invalid: { uids: [bigUid] }, left: [] });
    expect(await server.listFolder('BigInbox')).toEqual([]);
    expect(ids(await server.listFolder('BigInvalid'))).toEqual([big.messageId]);
    expect(ids(await server.listFolder('BigProcessed'))).toEqual([SMALL.messageId]);
  });
});

describe('usage', () => {
  test('--keep-mail with --file-only is a usage error, before any connection', async () => {
    const output = captureOutput();
    // No IMAP settings at all: had it got as far as connecting, it would fail with exit 1.
    const code = await main(['fetch', '--keep-mail', '--file-only'], output, {});
    expect(code).toBe(EXIT.usage);
    expect(output.stderr.join('\n')).toMatch(/dmarcops fetch: --keep-mail and --file-only exclude each other: give one \[usage\]/);
  });

  test('the help explains both phases', async () => {
    const output = captureOutput();
    expect(await main(['fetch', '--help'], output, {})).toBe(EXIT.ok);
    expect(output.text()).toContain('--keep-mail');
    expect(output.text()).toContain('--file-only');
    expect(output.text()).toMatch(/usage: dmarcops fetch \[--keep-mail \| --file-only \| --retry-unsupported\]/);
  });
});
