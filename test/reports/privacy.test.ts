/**
 * No personal data at rest: anyone can mail the rua address, and what arrives that is not an
 * aggregate report (personal mail, a bounce quoting the original message, a failure report, a TLS
 * report mail whose report cannot be read, a text file) must leave nothing of its content under the
 * data folder. Each input holds a
 * unique marker (a fake social security number) in its body, in attachments, in a quoted message's
 * subject; after ingesting them through the CLI — from files, and from a real Dovecot over IMAP — the
 * marker must be in no file under the data folder: raw bytes, gunzipped bytes and every value of
 * every Parquet file (test/helpers/marker.ts). Each input still has its ledger row: hash, size,
 * Message-ID, subject with addresses removed, reason.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import type { IngestSummary } from '../../scripts/reports/pipeline.ts';
import { findReports } from '../../scripts/reports/store/index.ts';
import type { LedgerRow } from '../../scripts/reports/store/index.ts';
import { startDovecot } from '../services/dovecot.ts';
import type { DovecotServer } from '../services/dovecot.ts';
import { arfReport, enc, mail, reportXml } from '../fixtures/unpack/make.ts';
import { scanForMarker } from '../helpers/marker.ts';
import { captureOutput } from '../helpers/output.ts';

const PREFIX = join(tmpdir(), 'dmarcops-privacy-');
/** A fake SSN plus a random tail: found nowhere unless the test put it there. */
const MARKER = `078-05-1120-${randomUUID().slice(0, 8)}`;
const ADDRESS = 'jane.doe@example.net';

interface Input {
  file: string;
  bytes: Uint8Array;
  messageId: string | null;
  /** The subject as the ledger must keep it (address removed). */
  subject: string | null;
  outcome: 'invalid' | 'unsupported' | 'foreign';
}

function inputs(): Input[] {
  const plain = mail(
    {
      From: `Jane <${ADDRESS}>`,
      To: 'dmarc-reports@example.com',
      Subject: `Re: call me, ${ADDRESS}`,
      'Message-ID': '<plain-1@example.net>',
    },
    [{ type: 'text/plain; charset=utf-8', body: `Hi, my social security number is ${MARKER}. Please keep it safe.\n` }],
  );
  // A bounce quoting the original (personal) message: its subject and body hold the marker too.
  const original = mail(
    { From: ADDRESS, To: 'friend@example.org', Subject: `My number ${MARKER}`, 'Message-ID': '<original@example.net>' },
    [{ type: 'text/plain', body: `It is ${MARKER}.\n` }],
  );
  const multipart = mail(
    {
      From: 'MAILER-DAEMON@mx.example.com',
      To: 'dmarc-reports@example.com',
      Subject: `Undelivered Mail Returned to Sender (for ${ADDRESS})`,
      'Message-ID': '<bounce-1@mx.example.com>',
    },
    [
      { type: 'text/plain', body: `Delivery failed. Original text follows: ${MARKER}\n` },
      { type: 'text/html', body: `<html><body><p>${MARKER}</p></body></html>` },
      { type: 'text/plain', filename: 'notes.txt', body: `${MARKER} is in this attachment\n`, encoding: 'base64' },
      { type: 'application/octet-stream', filename: 'scan.bin', body: new Uint8Array([0, 1, 2, 3, ...enc(MARKER)]), encoding: 'base64' },
      { type: 'message/rfc822', body: new TextDecoder().decode(original) },
    ],
  );
  const failure = arfReport(original);
  const tls = mail(
    {
      From: 'tls@receiver.example',
      To: 'tls@example.com',
      Subject: 'Report Domain: example.com Submitter: receiver.example',
      'Message-ID': '<tls-1@receiver.example>',
    },
    [
      { type: 'text/plain', body: `TLS report. ${MARKER}` },
      {
        type: 'application/tlsrpt+gzip',
        filename: 'r.json.gz',
        body: gzipSync(enc(`{"organization-name":"receiver.example","policies":[],"note":"${MARKER}"}`)),
        encoding: 'base64',
      },
    ],
    'multipart/report; report-type=tlsrpt',
  );
  // A foreign report in a mail with a personal note: the report is kept, the mail is not.
  const foreign = mail(
    {
      From: `Jane <${ADDRESS}>`,
      To: 'dmarc-reports@example.com',
      Subject: 'Fwd: report for stranger.example',
      'Message-ID': '<fwd-1@example.net>',
    },
    [
      { type: 'text/plain', body: `FYI, and my number is ${MARKER}.\n` },
      {
        type: 'application/gzip',
        filename: 'r.xml.gz',
        body: gzipSync(reportXml('stranger-1', 2, 'stranger.example')),
        encoding: 'base64',
      },
    ],
  );
  return [
    { file: '01-plain.eml', bytes: plain, messageId: '<plain-1@example.net>', subject: 'Re: call me, [address]', outcome: 'invalid' },
    {
      file: '02-bounce.eml',
      bytes: multipart,
      messageId: '<bounce-1@mx.example.com>',
      subject: 'Undelivered Mail Returned to Sender (for [address])',
      outcome: 'invalid',
    },
    {
      file: '03-failure.eml',
      bytes: failure,
      messageId: '<arf-1@receiver.example>',
      subject: 'FW: Failure Report',
      outcome: 'unsupported',
    },
    // A TLS report mail whose report cannot be read (no date range): invalid, and nothing of it kept.
    {
      file: '04-tls.eml',
      bytes: tls,
      messageId: '<tls-1@receiver.example>',
      subject: 'Report Domain: example.com Submitter: receiver.example',
      outcome: 'invalid',
    },
    {
      file: '05-foreign.eml',
      bytes: foreign,
      messageId: '<fwd-1@example.net>',
      subject: 'Fwd: report for stranger.example',
      outcome: 'foreign',
    },
    // Not mail at all: text and gzipped text starting with the marker.
    { file: '06-note.txt', bytes: enc(`${MARKER}\nnote to self\n`), messageId: null, subject: null, outcome: 'invalid' },
    { file: '07-note.txt.gz', bytes: gzipSync(enc(`${MARKER}\n`)), messageId: null, subject: null, outcome: 'invalid' },
  ];
}

let dir: string;
const INPUTS = inputs();
const sha256Ref = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

beforeAll(async () => {
  dir = await mkdtemp(PREFIX);
});

afterAll(async () => {
  if (dir?.startsWith(PREFIX)) await rm(dir, { recursive: true, force: true });
});

/** Checks a data folder: the marker nowhere, the scan not vacuous, the foreign report kept as its XML alone. */
async function expectNoMarker(data: string, inputCount: number): Promise<void> {
  const scan = await scanForMarker(data, MARKER);
  expect(scan.hits).toEqual([]);
  // Not vacuous: the ledger part was read row by row, and the marker would have been found in it.
  expect(scan.parquetFiles.some((file) => file.startsWith('ledger/'))).toBe(true);
  expect(scan.parquetRows).toBeGreaterThanOrEqual(inputCount);
  expect(await readdir(join(data, 'quarantine'))).toEqual(['foreign']);
  const kept = await readdir(join(data, 'quarantine', 'foreign'));
  expect(kept).toEqual([
    `${createHash('sha256')
      .update(reportXml('stranger-1', 2, 'stranger.example'))
      .digest('hex')}.xml.gz`,
  ]);
}

describe('ingesting mail that is not a report, from files', () => {
  let data: string;
  let summary: IngestSummary;
  let printed: string;

  beforeAll(async () => {
    const inbox = join(dir, 'inbox');
    data = join(dir, 'files-data');
    await mkdir(inbox);
    for (const input of INPUTS) await writeFile(join(inbox, input.file), input.bytes);
    const json = captureOutput();
    expect(
      await main(['ingest', inbox, '--data', data, '--domains', 'domains', '--offline', '--json'], json, {}),
      json.stderr.join('\n'),
    ).toBe(0);
    summary = JSON.parse(json.text()) as IngestSummary;
    // The text summary and the Markdown one for $GITHUB_STEP_SUMMARY too (a retry: the same inputs again).
    const text = captureOutput();
    const summaryFile = join(dir, 'summary.md');
    expect(
      await main(
        [
          'ingest',
          '--retry',
          inbox,
          '--data',
          join(dir, 'files-data-2'),
          '--domains',
          'domains',
          '--offline',
          '--summary-file',
          summaryFile,
        ],
        text,
        {},
      ),
    ).toBe(0);
    printed = `${json.text()}\n${text.text()}\n${await readFile(summaryFile, 'utf8')}`;
  });

  test('each input got its outcome', () => {
    expect(summary.items).toBe(INPUTS.length);
    expect(summary.reports).toEqual({ stored: 0, duplicate: 0, foreign: 1, invalid: 4 });
    expect(summary.tls).toMatchObject({ stored: 0, invalid: 1 });
    expect(summary.unsupported).toBe(1);
  });

  test('the marker is in no file under the data folder: raw bytes, gunzipped bytes, every Parquet value', async () => {
    await expectNoMarker(data, INPUTS.length);
    await expectNoMarker(join(dir, 'files-data-2'), INPUTS.length);
  });

  test('nor in what the run printed (terminal, JSON, the Markdown step summary)', () => {
    expect(printed.length).toBeGreaterThan(500);
    expect(printed).not.toContain(MARKER);
    expect(printed).not.toContain(ADDRESS);
  });

  test('each input has its ledger row: hash, size, Message-ID, subject without addresses, reason', async () => {
    const rows = await findReports(data);
    for (const input of INPUTS) {
      const row = rows.find((r) => r.sourceName === join(dir, 'inbox', input.file));
      expect(row, input.file).toMatchObject({
        sourceRef: sha256Ref(input.bytes),
        sourceBytes: input.bytes.length,
        messageId: input.messageId,
        subject: input.subject,
        outcome: input.outcome,
        reason: expect.any(String),
      } satisfies Partial<LedgerRow>);
      expect(row!.reason).not.toContain(ADDRESS);
      if (input.outcome !== 'foreign') expect(row!.quarantinePath, input.file).toBeNull();
    }
  });
});

describe('ingesting the same mail over IMAP (a real Dovecot)', () => {
  let server: DovecotServer;
  let data: string;

  beforeAll(async () => {
    server = await startDovecot();
    data = join(dir, 'imap-data');
    for (const input of INPUTS.filter((i) => i.file.endsWith('.eml'))) await server.appendMessage('INBOX', input.bytes);
    const env = {
      DMARCOPS_IMAP_HOST: server.host,
      DMARCOPS_IMAP_PORT: String(server.port),
      DMARCOPS_IMAP_TLS: 'none',
      DMARCOPS_IMAP_USER: server.user,
      DMARCOPS_IMAP_PASSWORD: server.password,
    };
    const output = captureOutput();
    expect(await main(['fetch', '--data', data, '--domains', 'domains', '--offline'], output, env), output.stderr.join('\n')).toBe(0);
    expect(output.text()).not.toContain(MARKER);
    expect(output.text()).toContain("the messages go to the mailbox's Invalid folder");
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  test('the marker is in no file under the data folder', async () => {
    await expectNoMarker(data, INPUTS.filter((i) => i.file.endsWith('.eml')).length);
  });

  test('the originals are in the Invalid folder, and each has its ledger row', async () => {
    const mails = INPUTS.filter((i) => i.file.endsWith('.eml'));
    expect((await server.listFolder('Invalid')).map((m) => m.messageId).sort()).toEqual(mails.map((m) => m.messageId).sort());
    const rows = await findReports(data);
    for (const input of mails) {
      expect(
        rows.find((r) => r.sourceRef === sha256Ref(input.bytes)),
        input.file,
      ).toMatchObject({ sourceBytes: input.bytes.length, messageId: input.messageId, subject: input.subject, outcome: input.outcome });
    }
  });
});
