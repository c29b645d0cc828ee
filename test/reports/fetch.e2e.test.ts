/**
 * `dmarcops fetch` end to end against a real Dovecot (test/services/dovecot.ts; needs
 * dovecot-imapd and openssl): 20 report mails — gzip, zip, plain XML, a gzip labelled
 * application/octet-stream, forwarded mails (message/rfc822), two relayed duplicates, one report
 * for a foreign domain, one broken — go into the inbox; one `fetch` must leave the dataset holding
 * exactly the expected rows, the inbox empty, every message filed in Processed or Invalid, and a
 * second run must add nothing.
 *
 * The whole scenario runs twice on one server, each with its own folders and dataset: over plain
 * IMAP with the default folder names, and over implicit TLS checked against the server's CA.
 * The expected rows come from the report specs (mailbuilder.ts), not from the parser.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import type { IngestSummary } from '../../scripts/reports/pipeline.ts';
import { committedLedgerFiles, committedRecordsSql, findReports } from '../../scripts/reports/store/index.ts';
import { startDovecot } from '../services/dovecot.ts';
import type { DovecotServer } from '../services/dovecot.ts';
import {
  aggregateXml,
  attachment,
  expectedDmarcPass,
  forwardMail,
  makeRecords,
  reportMail,
  utcDay,
} from '../fixtures/reports/mailbuilder.ts';
import type { MailHeaders, Packaging, RecordSpec, ReportSpec } from '../fixtures/reports/mailbuilder.ts';
import { captureOutput } from '../helpers/output.ts';

const DOMAINS = fileURLToPath(new URL('../../domains', import.meta.url));
const TMP_PREFIX = join(tmpdir(), 'dmarcops-fetch-e2e-');

// ---------------------------------------------------------------------------------------------
// The 20 mails

type Expect = 'stored' | 'duplicate' | 'foreign' | 'invalid';

interface TestMail {
  /** What the mail is, for failure messages. */
  label: string;
  messageId: string;
  subject: string;
  bytes: Uint8Array;
  expect: Expect;
  /** The report it carries (absent for the broken one). */
  report?: ReportSpec;
}

function spec(
  n: number,
  org: string,
  email: string,
  reportId: string,
  domain: string,
  day: string,
  records: number,
  adkim: 'r' | 's' = 'r',
): ReportSpec {
  const headerFroms = domain === 'example.com' ? ['example.com', 'mail.example.com'] : [domain];
  return { org, email, reportId, domain, ...utcDay(day), adkim, aspf: 'r', records: makeRecords(n, records, headerFroms) };
}

function withRecord(report: ReportSpec, record: RecordSpec): ReportSpec {
  return { ...report, records: [...report.records, record] };
}

/** Signed by d=example.com for mail.example.com: aligned under relaxed DKIM alignment, not under strict. */
const STRICT_MISALIGNED: RecordSpec = {
  sourceIp: '203.0.113.77',
  count: 31,
  disposition: 'quarantine',
  headerFrom: 'mail.example.com',
  envelopeFrom: 'bounce.esp.example.net',
  dkim: [{ domain: 'example.com', selector: 'google', result: 'pass' }],
  spf: [{ domain: 'bounce.esp.example.net', result: 'pass' }],
};

/** The 16 distinct reports for our domains. Reused ids on purpose: Google reuses one across days, and two reporters share one. */
const REPORTS = {
  googleJan12: spec(1, 'google.com', 'noreply-dmarc-support@google.com', '5417738931196142592', 'example.com', '2026-01-12', 7),
  googleJan13: spec(2, 'google.com', 'noreply-dmarc-support@google.com', '5417738931196142592', 'example.com', '2026-01-13', 5),
  googleOrg: spec(3, 'google.com', 'noreply-dmarc-support@google.com', '9182736450192837465', 'example.org', '2026-01-12', 4),
  yahooCom: spec(4, 'Yahoo', 'dmarchelp@yahooinc.com', '1768176000.871211', 'example.com', '2026-01-12', 3),
  yahooOrg: spec(5, 'Yahoo', 'dmarchelp@yahooinc.com', '1768348800.112358', 'example.org', '2026-01-14', 6),
  outlookStrict: withRecord(
    spec(6, 'Enterprise Outlook', 'dmarcreport@microsoft.com', '3f1c2a9e0b7d4e6f8a5b1c3d2e4f6a8b', 'example.com', '2026-01-20', 12, 's'),
    STRICT_MISALIGNED,
  ),
  outlookMail: spec(7, 'Outlook.com', 'dmarcreport@microsoft.com', 'b7d4e6f8a5b1c3d2e4f6a8b3f1c2a9e0', 'mail.example.com', '2026-01-21', 2),
  mailru: spec(8, 'Mail.Ru', 'dmarc_support@corp.mail.ru', 'report-0001', 'example.com', '2026-01-31', 1),
  mimecast: spec(9, 'Mimecast', 'dmarc-reports@mimecast.org', 'MC-7a7d9d2c', 'example.org', '2026-02-01', 9),
  comcast: spec(10, 'comcast.net', 'dmarc_reports@comcast.net', 'comcast-20260202', 'example.com', '2026-02-02', 4),
  fastmail: spec(11, 'FastMail Pty Ltd', 'dmarc-reports@fastmail.com', '1770076800', 'mail.example.com', '2026-02-03', 8),
  tonline: spec(12, 't-online.de', 'dmarc@t-online.de', 'tonline-4711', 'example.com', '2026-02-03', 40),
  googleForwarded: spec(13, 'google.com', 'noreply-dmarc-support@google.com', '1122334455667788990', 'mail.example.com', '2026-02-05', 6),
  yahooForwarded: spec(14, 'Yahoo', 'dmarchelp@yahooinc.com', '1770336000.424242', 'example.com', '2026-02-06', 3),
  seznamForwarded: spec(15, 'seznam.cz', 'dmarc@seznam.cz', 'sz-20260207', 'example.org', '2026-02-07', 2),
  webde: spec(16, 'web.de', 'dmarc@web.de', 'report-0001', 'example.com', '2026-01-31', 5),
} satisfies Record<string, ReportSpec>;

const FOREIGN = spec(17, 'google.com', 'noreply-dmarc-support@google.com', '6655443322110099887', 'other.example', '2026-01-12', 3);
const BROKEN = spec(18, 'Yahoo', 'dmarchelp@yahooinc.com', '1768435200.999999', 'example.com', '2026-01-15', 6);

const subjectOf = (r: ReportSpec): string => `Report Domain: ${r.domain} Submitter: ${r.org} Report-ID: <${r.reportId}>`;
const relay = (host: string, day: string): string =>
  `from ${host} (${host} [192.0.2.25]) by mx.example.com with ESMTPS; ${new Date(`${day}T06:00:00Z`).toUTCString()}`;

function headers(id: string, r: ReportSpec, extra: Partial<MailHeaders> = {}): MailHeaders {
  return {
    messageId: `<${id}@e2e.test>`,
    subject: subjectOf(r),
    from: r.email,
    date: new Date((r.end + 3600) * 1000),
    received: [relay('mta.receiver.example', '2026-02-10')],
    ...extra,
  };
}

function direct(id: string, r: ReportSpec, packaging: Packaging, label: string, expect: Expect = 'stored'): TestMail {
  const h = headers(id, r);
  return { label, messageId: h.messageId, subject: h.subject, bytes: reportMail(h, attachment(r, packaging)), expect, report: r };
}

function forwarded(id: string, r: ReportSpec, packaging: Packaging, label: string): { mail: TestMail; original: Uint8Array } {
  const original = reportMail(headers(`${id}-original`, r), attachment(r, packaging));
  const h: MailHeaders = {
    messageId: `<${id}@e2e.test>`,
    subject: `Fwd: ${subjectOf(r)}`,
    from: 'Alice <alice@example.com>',
    date: new Date('2026-02-10T09:00:00Z'),
  };
  return {
    mail: { label, messageId: h.messageId, subject: h.subject, bytes: forwardMail(h, original), expect: 'stored', report: r },
    original,
  };
}

function buildMails(): TestMail[] {
  const R = REPORTS;
  const googleFwd = forwarded('fwd-google', R.googleForwarded, 'gzip', 'eml-forward of a gzip report');
  const yahooFwd = forwarded('fwd-yahoo', R.yahooForwarded, 'zip', 'eml-forward of a zip report');
  const seznamFwd = forwarded('fwd-seznam', R.seznamForwarded, 'xml-base64', 'eml-forward of a plain XML report');

  // The same report relayed a second time: other Message-ID, another Received line, same attachment.
  const relayedH = headers('google-jan12-relayed', R.googleJan12, {
    received: [relay('relay.lists.example', '2026-02-11'), relay('mta.receiver.example', '2026-02-10')],
  });
  const relayed: TestMail = {
    label: 'duplicate: google Jan 12 relayed again',
    messageId: relayedH.messageId,
    subject: relayedH.subject,
    bytes: reportMail(relayedH, attachment(R.googleJan12, 'gzip')),
    expect: 'duplicate',
    report: R.googleJan12,
  };
  // The mail that a colleague also forwarded (googleFwd) arrives directly too.
  const directCopy: TestMail = {
    label: 'duplicate: the forwarded google report, delivered directly',
    messageId: `<fwd-google-original@e2e.test>`,
    subject: subjectOf(R.googleForwarded),
    bytes: googleFwd.original,
    expect: 'duplicate',
    report: R.googleForwarded,
  };

  const brokenXml = aggregateXml(BROKEN);
  const brokenH = headers('yahoo-broken', BROKEN);
  const broken: TestMail = {
    label: 'broken: truncated XML inside a gzip',
    messageId: brokenH.messageId,
    subject: brokenH.subject,
    bytes: reportMail(brokenH, { ...attachment(BROKEN, 'gzip'), body: gzipSync(brokenXml.slice(0, Math.floor(brokenXml.length * 0.6))) }),
    expect: 'invalid',
  };

  // Inbox order (UID order): originals come before their duplicates.
  return [
    direct('google-jan12', R.googleJan12, 'gzip', 'gzip (application/gzip)'),
    direct('yahoo-com', R.yahooCom, 'zip', 'zip (application/zip)'),
    direct('mailru', R.mailru, 'xml-base64', 'plain XML, base64 (text/xml)'),
    direct('google-foreign', FOREIGN, 'gzip', 'foreign: policy domain other.example', 'foreign'),
    direct('outlook-strict', R.outlookStrict, 'zip', 'zip, strict DKIM alignment'),
    direct('google-jan13', R.googleJan13, 'gzip', 'gzip, same report id as Jan 12, next day'),
    direct('fastmail', R.fastmail, 'octet-stream-gzip', 'gzip labelled application/octet-stream'),
    googleFwd.mail,
    direct('mimecast', R.mimecast, 'xml-qp', 'plain XML, quoted-printable'),
    relayed,
    direct('google-org', R.googleOrg, 'gzip', 'gzip for example.org'),
    broken,
    direct('tonline', R.tonline, 'octet-stream-gzip', 'gzip labelled application/octet-stream, 40 records'),
    direct('yahoo-org', R.yahooOrg, 'x-gzip', 'gzip (application/x-gzip)'),
    yahooFwd.mail,
    direct('outlook-mail', R.outlookMail, 'zip', 'zip for mail.example.com'),
    direct('comcast', R.comcast, 'xml-base64', 'plain XML, base64'),
    seznamFwd.mail,
    direct('webde', R.webde, 'gzip', 'gzip, same report id as Mail.Ru, other reporter'),
    directCopy,
  ];
}

const MAILS = buildMails();
const STORED = MAILS.filter((m) => m.expect === 'stored');
const dayOf = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString().slice(0, 10);
const reportLabel = (r: { org: string; reportId: string; day: string }): string => `${r.org} ${r.reportId} ${r.day}`;
const sha256Ref = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const EXPECTED_RECORDS = STORED.reduce((sum, m) => sum + (m.report?.records.length ?? 0), 0);

// ---------------------------------------------------------------------------------------------
// Harness

let server: DovecotServer;
const tempDirs: string[] = [];
/** Every line any fetch printed, checked for the password at the end. */
const printed: string[] = [];

beforeAll(async () => {
  server = await startDovecot();
});

afterAll(async () => {
  await server?.stop();
  // Only the directories this file created, and only if they are where it created them.
  for (const dir of tempDirs) if (dir.startsWith(TMP_PREFIX)) await rm(dir, { recursive: true, force: true });
});

interface Variant {
  name: string;
  transport: 'TLS' | 'cleartext';
  port(): number;
  mailbox: string;
  processed: string;
  invalid: string;
  env(): NodeJS.ProcessEnv;
}

const VARIANTS: Variant[] = [
  {
    name: 'plain IMAP, default folders',
    transport: 'cleartext',
    port: () => server.port,
    mailbox: 'INBOX',
    processed: 'Processed',
    invalid: 'Invalid',
    env: () => ({
      DMARCOPS_IMAP_HOST: server.host,
      DMARCOPS_IMAP_PORT: String(server.port),
      DMARCOPS_IMAP_TLS: 'none',
      DMARCOPS_IMAP_USER: server.user,
      DMARCOPS_IMAP_PASSWORD: server.password,
    }),
  },
  {
    name: 'implicit TLS with a private CA, configured folders',
    transport: 'TLS',
    port: () => server.tlsPort,
    mailbox: 'TlsInbox',
    processed: 'TlsProcessed',
    invalid: 'TlsInvalid',
    env: () => ({
      DMARCOPS_IMAP_HOST: server.host,
      DMARCOPS_IMAP_PORT: String(server.tlsPort),
      DMARCOPS_IMAP_TLS: 'implicit',
      DMARCOPS_IMAP_CA_FILE: server.caFile,
      DMARCOPS_IMAP_USER: server.user,
      DMARCOPS_IMAP_PASSWORD: server.password,
      DMARCOPS_IMAP_MAILBOX: 'TlsInbox',
      DMARCOPS_IMAP_PROCESSED_FOLDER: 'TlsProcessed',
      DMARCOPS_IMAP_INVALID_FOLDER: 'TlsInvalid',
    }),
  },
];

async function fetchRun(data: string, env: NodeJS.ProcessEnv): Promise<{ code: number; summary: IngestSummary; stderr: string }> {
  const output = captureOutput();
  const code = await main(['fetch', '--data', data, '--domains', DOMAINS, '--json', '--offline'], output, env);
  printed.push(...output.stdout, ...output.stderr);
  expect(code, output.stderr.join('\n')).toBe(0);
  return { code, summary: JSON.parse(output.text()) as IngestSummary, stderr: output.stderr.join('\n') };
}

async function query<T>(sql: string): Promise<T[]> {
  const instance = await DuckDBInstance.create();
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as T[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function rowCount(data: string): Promise<number> {
  const [row] = await query<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM (${committedRecordsSql(data)})`);
  return row?.n ?? -1;
}

const ids = (entries: { messageId: string }[]): string[] => entries.map((e) => e.messageId).sort();

// ---------------------------------------------------------------------------------------------

describe.each(VARIANTS)('dmarcops fetch over $name', (variant) => {
  let data: string;
  let first: IngestSummary;
  /** UID in the read mailbox → mail (UIDs start at 1 in a fresh folder). */
  const byUid = new Map<number, TestMail>();

  beforeAll(async () => {
    data = await mkdtemp(TMP_PREFIX);
    tempDirs.push(data);
    for (const [i, mail] of MAILS.entries()) {
      await server.appendMessage(variant.mailbox, mail.bytes);
      byUid.set(i + 1, mail);
    }
    const inbox = await server.listFolder(variant.mailbox);
    expect(inbox.map((m) => m.uid)).toEqual([...byUid.keys()]);
    expect(inbox.map((m) => m.messageId)).toEqual(MAILS.map((m) => m.messageId));
  });

  test('one run: 16 stored, 2 duplicates, 1 foreign, 1 invalid; records as generated', async () => {
    let stderr: string;
    ({ summary: first, stderr } = await fetchRun(data, variant.env()));
    expect(stderr).toContain(`IMAP connected to 127.0.0.1:${variant.port()} (${variant.transport}) as ${server.user}`);
    expect(stderr).toMatch(new RegExp(`moved 18 message\\(s\\) from "${variant.mailbox}" to "${variant.processed}"`));
    expect(stderr).toMatch(new RegExp(`moved 2 message\\(s\\) from "${variant.mailbox}" to "${variant.invalid}"`));

    expect(first.items).toBe(20);
    expect(first.reports).toEqual({ stored: 16, duplicate: 2, foreign: 1, invalid: 1 });
    expect(first.records).toBe(EXPECTED_RECORDS);
    expect(first.alreadyIngested).toBe(0);
    expect(first.unsupported).toBe(0);

    const uidOf = (outcome: Expect): number => [...byUid].find(([, m]) => m.expect === outcome)?.[0] ?? -1;
    expect(first.foreign).toEqual([
      { source: `imap:${variant.mailbox}/${uidOf('foreign')}`, policyDomain: 'other.example', kind: 'aggregate' },
    ]);
    expect(first.invalid).toHaveLength(1);
    expect(first.invalid[0]?.source).toMatch(new RegExp(`^imap:${variant.mailbox}/${uidOf('invalid')} › `));
    expect(first.invalid[0]?.reason).toMatch(/truncated/);
  });

  test('the dataset holds exactly the expected rows, per report', async () => {
    const perReport = await query<{
      org: string;
      reportId: string;
      day: string;
      domain: string;
      month: string;
      rows: number;
      messages: number;
      runs: number;
    }>(`
      SELECT org_name AS org, report_id AS reportId, strftime(date_begin, '%Y-%m-%d') AS day, policy_domain AS domain, month,
             count(*)::INTEGER AS rows, sum(message_count)::INTEGER AS messages, count(DISTINCT ingest_run)::INTEGER AS runs
      FROM (${committedRecordsSql(data)}) GROUP BY ALL`);
    const expected = STORED.map(({ report: r }) => {
      const day = dayOf(r!.begin);
      return {
        org: r!.org,
        reportId: r!.reportId,
        day,
        domain: r!.domain,
        month: day.slice(0, 7),
        rows: r!.records.length,
        messages: r!.records.reduce((s, x) => s + x.count, 0),
        runs: 1,
      };
    });
    const byLabel = (a: { org: string; reportId: string; day: string }, b: { org: string; reportId: string; day: string }) =>
      reportLabel(a).localeCompare(reportLabel(b));
    expect(perReport.sort(byLabel)).toEqual(expected.sort(byLabel));
    expect(await rowCount(data)).toBe(EXPECTED_RECORDS);
    // Two months, one part each.
    expect(readdirSync(join(data, 'records')).sort()).toEqual(['month=2026-01', 'month=2026-02']);
  });

  test('every row matches its record: source_ip, message_count, header_from, DKIM results, dmarc_pass', async () => {
    const rows = await query<{
      org: string;
      reportId: string;
      day: string;
      i: number;
      source_ip: string;
      message_count: number;
      disposition: string;
      header_from: string;
      envelope_from: string;
      dkim_results: { domain: string; selector: string; result: string }[];
      dkim_count: number;
      spf_result: string;
      dmarc_pass: boolean;
      ingest_run: string;
    }>(`
      SELECT org_name AS org, report_id AS reportId, strftime(date_begin, '%Y-%m-%d') AS day, record_index AS i,
             source_ip, message_count::INTEGER AS message_count, disposition, header_from, envelope_from,
             dkim_results, len(dkim_results)::INTEGER AS dkim_count, spf_results[1].result AS spf_result, dmarc_pass, ingest_run
      FROM (${committedRecordsSql(data)})`);
    const actual = new Map(rows.map((row) => [`${reportLabel(row)} #${row.i}`, row]));
    expect(actual.size).toBe(EXPECTED_RECORDS);
    let passing = 0;
    for (const { report: r } of STORED) {
      for (const [i, record] of r!.records.entries()) {
        const key = `${reportLabel({ org: r!.org, reportId: r!.reportId, day: dayOf(r!.begin) })} #${i}`;
        const row = actual.get(key);
        expect(row, key).toBeDefined();
        const pass = expectedDmarcPass(record, r!);
        if (pass) passing++;
        expect(
          { ...row, dkim_results: row?.dkim_results.map(({ domain, selector, result }) => ({ domain, selector, result })) },
          key,
        ).toEqual({
          ...row,
          source_ip: record.sourceIp,
          message_count: record.count,
          disposition: record.disposition,
          header_from: record.headerFrom,
          envelope_from: record.envelopeFrom,
          dkim_results: record.dkim,
          dkim_count: record.dkim.length,
          spf_result: record.spf[0]?.result,
          dmarc_pass: pass,
          ingest_run: first.runId,
        });
      }
    }
    // The data are varied enough for the check to mean something.
    expect(passing).toBeGreaterThan(10);
    expect(EXPECTED_RECORDS - passing).toBeGreaterThan(10);
    expect(new Set(rows.map((row) => row.dkim_count))).toEqual(new Set([0, 1, 2]));
    // Strict DKIM alignment (adkim=s) is honoured: d=example.com does not align with mail.example.com.
    expect(expectedDmarcPass(STRICT_MISALIGNED, { adkim: 'r', aspf: 'r' })).toBe(true);
    const strictIndex = REPORTS.outlookStrict.records.length - 1;
    expect(rows.find((row) => row.org === 'Enterprise Outlook' && row.i === strictIndex)).toMatchObject({
      source_ip: '203.0.113.77',
      dkim_count: 1,
      dmarc_pass: false,
    });
  });

  test('each stored report points at the mail that carried it (source_ref = sha256 of the message)', async () => {
    const refs = await query<{ org: string; reportId: string; day: string; source_ref: string }>(`
      SELECT DISTINCT org_name AS org, report_id AS reportId, strftime(date_begin, '%Y-%m-%d') AS day, source_ref FROM (${committedRecordsSql(data)})`);
    const actual = Object.fromEntries(refs.map((r) => [reportLabel(r), r.source_ref]));
    const expected = Object.fromEntries(
      STORED.map((m) => [
        reportLabel({ org: m.report!.org, reportId: m.report!.reportId, day: dayOf(m.report!.begin) }),
        sha256Ref(m.bytes),
      ]),
    );
    expect(actual).toEqual(expected);
  });

  test('the mailbox: read folder empty, 18 messages in Processed, the foreign and the broken one in Invalid', async () => {
    expect(await server.listFolder(variant.mailbox)).toEqual([]);
    const processed = await server.listFolder(variant.processed);
    const invalid = await server.listFolder(variant.invalid);
    expect(ids(processed)).toEqual(ids(MAILS.filter((m) => m.expect === 'stored' || m.expect === 'duplicate')));
    expect(ids(invalid)).toEqual(ids(MAILS.filter((m) => m.expect === 'foreign' || m.expect === 'invalid')));
    expect(invalid.map((m) => m.subject).sort()).toEqual([subjectOf(BROKEN), subjectOf(FOREIGN)].sort());
  });

  test('the foreign report is kept in quarantine/ (its XML alone); the broken mail only has its ledger row', async () => {
    expect(readdirSync(join(data, 'quarantine'))).toEqual(['foreign']);
    const xml = aggregateXml(FOREIGN);
    const files = readdirSync(join(data, 'quarantine', 'foreign'));
    expect(files).toEqual([`${createHash('sha256').update(xml).digest('hex')}.xml.gz`]);
    expect(gunzipSync(await readFile(join(data, 'quarantine', 'foreign', files[0]!))).toString()).toBe(xml);

    for (const [outcome, mail] of [
      ['foreign', MAILS.find((m) => m.expect === 'foreign')!],
      ['invalid', MAILS.find((m) => m.expect === 'invalid')!],
    ] as const) {
      const [row, ...rest] = await findReports(data, { outcome });
      expect(rest).toEqual([]);
      expect(row).toMatchObject({
        ingestRun: first.runId,
        sourceRef: sha256Ref(mail.bytes),
        sourceBytes: mail.bytes.length,
        messageId: mail.messageId,
        subject: mail.subject,
        sourceName: expect.stringMatching(new RegExp(`^imap:${variant.mailbox}/\\d+$`)),
      });
      if (outcome === 'foreign') {
        expect(row).toMatchObject({
          kind: 'aggregate',
          policyDomain: 'other.example',
          orgName: 'google.com',
          reportId: FOREIGN.reportId,
          records: FOREIGN.records.length,
        });
        expect(row?.quarantinePath).toBe(`quarantine/foreign/${files[0]}`);
      } else {
        expect(row?.reason).toMatch(/truncated/);
        expect(row?.quarantinePath).toBeNull();
        const stem = `${BROKEN.org}!${BROKEN.domain}!${BROKEN.begin}!${BROKEN.end}`;
        expect(row?.sourceTrail).toEqual([row?.sourceName, `attachment ${stem}.xml.gz`, `${stem}.xml`]);
      }
    }
  });

  test('the ledger answers "did we get <reporter>\'s report for day X?"', async () => {
    // Google's Jan 12 report for example.com arrived twice: stored once, the relayed copy a duplicate.
    const google12 = await findReports(data, { org: 'google', domain: 'example.com', day: '2026-01-12' });
    expect(google12.map((r) => [r.outcome, r.reportId, r.records, r.messageId])).toEqual([
      ['stored', REPORTS.googleJan12.reportId, 7, '<google-jan12@e2e.test>'],
      ['duplicate', REPORTS.googleJan12.reportId, null, '<google-jan12-relayed@e2e.test>'],
    ]);
    expect(google12[1]?.reason).toBe('report already stored by this run');
    expect(google12[0]?.reportKey).toBe(google12[1]?.reportKey);
    // The same report id on the next day is another report.
    expect((await findReports(data, { org: 'google', domain: 'example.com', day: '2026-01-13' })).map((r) => r.outcome)).toEqual([
      'stored',
    ]);
    // Nothing from Google for example.com on the 16th, and nothing usable from Yahoo on the 15th (that one was broken).
    expect(await findReports(data, { org: 'google', domain: 'example.com', day: '2026-01-16' })).toEqual([]);
    expect(await findReports(data, { org: 'yahoo', domain: 'example.com', day: '2026-01-15' })).toEqual([]);
    // Each row says which containers were opened to reach the report: here a forward, its attached mail, the gzip.
    const forwardedRow = (await findReports(data, { org: 'google', domain: 'mail.example.com', outcome: 'stored' }))[0];
    const stem = `google.com!mail.example.com!${REPORTS.googleForwarded.begin}!${REPORTS.googleForwarded.end}`;
    expect(forwardedRow?.messageId).toBe('<fwd-google@e2e.test>');
    expect(forwardedRow?.sourceTrail).toEqual([
      forwardedRow?.sourceName,
      'attached message report.eml',
      `attachment ${stem}.xml.gz`,
      `${stem}.xml`,
    ]);
    // Mail.Ru and web.de use the same report id for the same day and domain: two reports.
    expect((await findReports(data, { domain: 'example.com', day: '2026-01-31' })).map((r) => [r.orgName, r.outcome]).sort()).toEqual([
      ['Mail.Ru', 'stored'],
      ['web.de', 'stored'],
    ]);
    // One ledger row per report or failed input: 16 stored + 2 duplicates + 1 foreign + 1 invalid.
    expect(await findReports(data)).toHaveLength(20);
  });

  test('a second run finds nothing new and changes nothing', async () => {
    const ledgerParts = committedLedgerFiles(data).length;
    const { summary } = await fetchRun(data, variant.env());
    expect(summary.items).toBe(0);
    expect(summary.reports).toEqual({ stored: 0, duplicate: 0, foreign: 0, invalid: 0 });
    expect(summary.records).toBe(0);
    expect(await rowCount(data)).toBe(EXPECTED_RECORDS);
    expect(committedLedgerFiles(data)).toHaveLength(ledgerParts);
    expect(await server.listFolder(variant.processed)).toHaveLength(18);
    expect(await server.listFolder(variant.invalid)).toHaveLength(2);
  });

  test('mails that come again are recognised and filed, without new rows', async () => {
    const yahoo = MAILS.find((m) => m.messageId === '<yahoo-com@e2e.test>')!;
    // (a) the very same message once more; (b) the t-online report relayed again in a new message.
    const relayedH = headers('tonline-relayed-again', REPORTS.tonline, { received: [relay('relay2.lists.example', '2026-02-12')] });
    const relayed = reportMail(relayedH, attachment(REPORTS.tonline, 'zip'));
    await server.appendMessage(variant.mailbox, yahoo.bytes);
    await server.appendMessage(variant.mailbox, relayed);

    const { summary } = await fetchRun(data, variant.env());
    expect(summary.items).toBe(2);
    expect(summary.alreadyIngested).toBe(1);
    expect(summary.reports).toEqual({ stored: 0, duplicate: 1, foreign: 0, invalid: 0 });
    expect(await rowCount(data)).toBe(EXPECTED_RECORDS);

    expect(await server.listFolder(variant.mailbox)).toEqual([]);
    const processed = ids(await server.listFolder(variant.processed));
    expect(processed).toHaveLength(20);
    expect(processed.filter((id) => id === yahoo.messageId)).toHaveLength(2);
    expect(processed).toContain(relayedH.messageId);
    expect(await server.listFolder(variant.invalid)).toHaveLength(2);

    const again = await findReports(data, { org: 't-online', outcome: 'duplicate' });
    expect(again.map((r) => [r.messageId, r.reason])).toEqual([[relayedH.messageId, 'report already stored by an earlier run']]);
  });

  test('a copy of a mail that was filed as Invalid goes to Invalid again', async () => {
    const broken = MAILS.find((m) => m.expect === 'invalid')!;
    await server.appendMessage(variant.mailbox, broken.bytes);
    const { summary } = await fetchRun(data, variant.env());
    expect(summary.items).toBe(1);
    expect(summary.alreadyIngested).toBe(1);
    expect(await server.listFolder(variant.mailbox)).toEqual([]);
    expect(ids(await server.listFolder(variant.invalid)).filter((id) => id === broken.messageId)).toHaveLength(2);
    expect(await server.listFolder(variant.processed)).toHaveLength(20);
  });
});

describe('secrets', () => {
  test('a wrong password: exit 1, the error names host and user but no password, nothing is read or moved', async () => {
    const data = await mkdtemp(TMP_PREFIX);
    tempDirs.push(data);
    const wrong = 'Wrong-Pa55word-for-e2e';
    await server.appendMessage('INBOX', MAILS[0]!.bytes);
    const output = captureOutput();
    const env = { ...VARIANTS[0]!.env(), DMARCOPS_IMAP_PASSWORD: wrong };
    const code = await main(['fetch', '--data', data, '--domains', DOMAINS, '--json', '--offline'], output, env);
    printed.push(...output.stdout, ...output.stderr);
    expect(code).toBe(1);
    expect(output.stderr.join('\n')).toMatch(new RegExp(`login as ${server.user} at 127\\.0\\.0\\.1:${server.port} failed`));
    expect([...output.stdout, ...output.stderr].join('\n')).not.toContain(wrong);
    expect(await server.listFolder('INBOX')).toHaveLength(1);
    expect(existsSync(join(data, 'ledger'))).toBe(false);
  });

  test('the password never appears in anything fetch printed', () => {
    expect(printed.length).toBeGreaterThan(10);
    expect(printed.join('\n')).not.toContain(server.password);
    // It did log in under that password and say so.
    expect(printed.join('\n')).toContain(`as ${server.user}`);
  });
});

describe('a flood: --max-messages reads the oldest messages and leaves the rest for the next run', () => {
  const env = (): NodeJS.ProcessEnv => ({
    ...VARIANTS[0]!.env(),
    DMARCOPS_IMAP_MAILBOX: 'FloodInbox',
    DMARCOPS_IMAP_PROCESSED_FOLDER: 'FloodProcessed',
    DMARCOPS_IMAP_INVALID_FOLDER: 'FloodInvalid',
  });
  const five = MAILS.filter((m) => m.expect === 'stored').slice(0, 5);
  let data: string;

  async function run(...args: string[]): Promise<{ code: number; summary: IngestSummary | undefined; stderr: string }> {
    const output = captureOutput();
    const code = await main(['fetch', '--data', data, '--domains', DOMAINS, '--json', '--offline', ...args], output, env());
    printed.push(...output.stdout, ...output.stderr);
    const text = output.text();
    return { code, summary: code === 0 && text !== '' ? (JSON.parse(text) as IngestSummary) : undefined, stderr: output.stderr.join('\n') };
  }

  beforeAll(async () => {
    data = await mkdtemp(TMP_PREFIX);
    tempDirs.push(data);
    for (const mail of five) await server.appendMessage('FloodInbox', mail.bytes);
  });

  test('a run reads the two oldest; the three newer stay and the log says so', async () => {
    const { code, summary, stderr } = await run('--max-messages', '2');
    expect(code, stderr).toBe(0);
    expect(summary?.items).toBe(2);
    expect(summary?.reports.stored).toBe(2);
    expect(stderr).toContain('5 message(s); reading the oldest 2, 3 wait for the next run (--max-messages)');
    expect(ids(await server.listFolder('FloodProcessed'))).toEqual(ids(five.slice(0, 2)));
    expect(ids(await server.listFolder('FloodInbox'))).toEqual(ids(five.slice(2)));
  });

  test('the two phases read the same oldest messages: phase 2 files what phase 1 ingested', async () => {
    const keep = await run('--keep-mail', '--max-messages', '2');
    expect(keep.code, keep.stderr).toBe(0);
    expect(keep.summary?.reports.stored).toBe(2);
    expect(await server.listFolder('FloodInbox')).toHaveLength(3);
    const file = await run('--file-only', '--max-messages', '2');
    expect(file.code, file.stderr).toBe(0);
    expect(ids(await server.listFolder('FloodProcessed'))).toEqual(ids(five.slice(0, 4)));
    expect(ids(await server.listFolder('FloodInbox'))).toEqual(ids(five.slice(4)));
  });

  test('the default reads the rest; nothing is lost or doubled', async () => {
    const { code, summary, stderr } = await run();
    expect(code, stderr).toBe(0);
    expect(summary?.reports.stored).toBe(1);
    expect(await server.listFolder('FloodInbox')).toEqual([]);
    expect(ids(await server.listFolder('FloodProcessed'))).toEqual(ids(five));
    expect(await findReports(data, { outcome: 'stored' })).toHaveLength(5);
  });

  test('--max-mail-bytes stops before the message that would pass it; the first is always read', async () => {
    const three = MAILS.filter((m) => m.expect === 'stored').slice(5, 8);
    for (const mail of three) await server.appendMessage('FloodInbox', mail.bytes);
    const [a, b, c] = three.map((m) => m.bytes.length) as [number, number, number];
    const twoAndAHalf = await run('--max-mail-bytes', String(a + b + Math.floor(c / 2)));
    expect(twoAndAHalf.code, twoAndAHalf.stderr).toBe(0);
    expect(twoAndAHalf.summary?.reports.stored).toBe(2);
    expect(twoAndAHalf.stderr).toMatch(/read; 1 message\(s\) wait for the next run \(--max-mail-bytes /);
    expect(ids(await server.listFolder('FloodInbox'))).toEqual(ids(three.slice(2)));
    // A cap below the first message still reads it: every run makes progress.
    const one = await run('--max-mail-bytes', '1');
    expect(one.code, one.stderr).toBe(0);
    expect(one.summary?.reports.stored).toBe(1);
    expect(await server.listFolder('FloodInbox')).toEqual([]);
  });

  test('--max-messages must be a positive whole number', async () => {
    for (const bad of ['0', '1.5', 'many']) {
      const { code, stderr } = await run('--max-messages', bad);
      expect(code, bad).toBe(2);
      expect(stderr).toMatch(/--max-messages must be a (positive|whole) number/);
    }
  });
});
