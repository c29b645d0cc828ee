/**
 * A real Dovecot mailbox (test/services/dovecot.ts) holding DMARC aggregate reports and SMTP TLS
 * reports (RFC 8460) side by side, as a rua mailbox shared by both does: one `dmarcops fetch` must fill
 * both datasets (records/ and tls/) with exactly the rows worked out from the report specs, file every
 * message (Processed: stored or duplicate; Invalid: foreign, unreadable, failure reports), and a rerun
 * must add nothing — also when mails come again. Then `fetch --retry-unsupported` brings back TLS
 * reports that an earlier dmarcops set aside as unsupported (their originals in the Invalid folder,
 * their ledger rows saying `kind tls, outcome unsupported`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import type { IngestSummary } from '../../scripts/reports/pipeline.ts';
import { sha256Ref } from '../../scripts/reports/pipeline.ts';
import { committedLedgerFiles, committedRecordsSql, committedTlsSql, findReports, openDataset } from '../../scripts/reports/store/index.ts';
import { startDovecot } from '../services/dovecot.ts';
import type { DovecotServer } from '../services/dovecot.ts';
import {
  attachment,
  expectedTlsRows,
  forwardMail,
  makeRecords,
  reportMail,
  tlsMail,
  tlsReportJson,
  utcDay,
} from '../fixtures/reports/mailbuilder.ts';
import type { ReportSpec, TlsReportSpec } from '../fixtures/reports/mailbuilder.ts';
import { arfReport, mail } from '../fixtures/unpack/make.ts';
import type { PartSpec } from '../fixtures/unpack/make.ts';
import { captureOutput } from '../helpers/output.ts';

const DOMAINS = fileURLToPath(new URL('../../domains', import.meta.url));
const TMP_PREFIX = join(tmpdir(), 'dmarcops-fetch-tls-e2e-');

// ---------------------------------------------------------------------------------------------
// The mailbox

type Expect = 'stored' | 'duplicate' | 'foreign' | 'invalid' | 'unsupported';

interface TestMail {
  label: string;
  messageId: string;
  bytes: Uint8Array;
  expect: Expect;
}

function dmarc(n: number, org: string, reportId: string, domain: string, day: string, records: number): ReportSpec {
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

function tls(org: string, reportId: string, domain: string, day: string, failures: number): TlsReportSpec {
  return {
    org,
    contact: 'tls-reporting@sender.example',
    reportId,
    domain,
    ...utcDay(day),
    policies: [
      {
        type: 'sts',
        policyString: ['version: STSv1', 'mode: testing', `mx: mx1.${domain}`, 'max_age: 86400'],
        mxHost: [`mx1.${domain}`],
        successful: 500 + failures,
        failed: failures * 2,
        details: Array.from({ length: failures }, (_, i) => ({
          resultType: ['certificate-expired', 'starttls-not-supported', 'validation-failure'][i % 3]!,
          sendingMtaIp: `2001:db8:${i + 1}::25`,
          receivingMxHostname: `mx1.${domain}`,
          receivingIp: '203.0.113.25',
          failed: 2,
          ...(i === 0 ? { additionalInformation: `https://${org.toLowerCase().replace(/\W+/g, '')}.example/tls?day=${day}` } : {}),
        })),
      },
      { type: 'no-policy-found', successful: 3, failed: 0, details: [] },
    ],
  };
}

const DMARC = {
  google: dmarc(1, 'google.com', 'dmarc-g-1', 'example.com', '2026-03-10', 5),
  yahoo: dmarc(2, 'Yahoo', 'dmarc-y-1', 'example.org', '2026-03-11', 3),
  outlook: dmarc(3, 'Outlook.com', 'dmarc-o-1', 'mail.example.com', '2026-04-01', 2),
};
const TLS = {
  google: tls('Google Inc.', '2026-03-10T00:00:00Z_example.com', 'example.com', '2026-03-10', 2),
  microsoft: tls('Microsoft Corporation', '134175168000000000+example.org', 'example.org', '2026-03-11', 1),
  mailru: tls('Mail.Ru', 'mailru-tls-1', 'mail.example.com', '2026-03-12', 3),
  yahoo: tls('Yahoo', 'yahoo-tls-1', 'example.com', '2026-04-01', 0),
};
const TLS_FOREIGN = tls('Google Inc.', 'stranger-tls-1', 'stranger.example', '2026-03-10', 1);
const TLS_BROKEN = tls('Comcast', 'comcast-tls-1', 'example.com', '2026-03-13', 1);

const at = (id: string) => ({ messageId: `<${id}@tls-e2e.test>`, from: 'reports@sender.example', date: new Date('2026-04-02T06:00:00Z') });
const dmarcSubject = (r: ReportSpec): string => `Report Domain: ${r.domain} Submitter: ${r.org} Report-ID: <${r.reportId}>`;

function buildMails(): TestMail[] {
  const d = (id: string, r: ReportSpec, packaging: 'gzip' | 'zip'): TestMail => ({
    label: `DMARC ${r.org}`,
    messageId: `<${id}@tls-e2e.test>`,
    bytes: reportMail({ ...at(id), subject: dmarcSubject(r) }, attachment(r, packaging)),
    expect: 'stored',
  });
  const t = (id: string, r: TlsReportSpec, packaging: 'gzip' | 'json', expect: Expect = 'stored'): TestMail => ({
    label: `TLS ${r.org} ${r.reportId}`,
    messageId: `<${id}@tls-e2e.test>`,
    bytes: tlsMail(at(id), r, packaging),
    expect,
  });
  const mailruOriginal = tlsMail(at('mailru-original'), TLS.mailru, 'gzip');
  const brokenJson = tlsReportJson(TLS_BROKEN);
  // One message carrying both kinds (a relay that bundles what it forwards).
  const bundleParts: PartSpec[] = [
    { type: 'text/plain', body: 'Two reports.\n' },
    attachment(DMARC.outlook, 'gzip'),
    {
      type: 'application/tlsrpt+gzip',
      filename: 'yahoo!example.com!1!2.json.gz',
      body: gzipSync(tlsReportJson(TLS.yahoo)),
      encoding: 'base64',
    },
  ];
  return [
    d('dmarc-google', DMARC.google, 'gzip'),
    t('tls-google', TLS.google, 'gzip'),
    d('dmarc-yahoo', DMARC.yahoo, 'zip'),
    t('tls-microsoft', TLS.microsoft, 'json'),
    {
      label: 'TLS Mail.Ru forwarded as message/rfc822',
      messageId: '<tls-mailru-fwd@tls-e2e.test>',
      bytes: forwardMail({ ...at('tls-mailru-fwd'), subject: 'Fwd: TLS report' }, mailruOriginal),
      expect: 'stored',
    },
    // Google's report relayed a second time: another message, the same report.
    {
      label: 'TLS Google relayed again',
      messageId: '<tls-google-relayed@tls-e2e.test>',
      bytes: tlsMail(
        { ...at('tls-google-relayed'), received: ['from relay.lists.example by mx.example.com; Thu, 2 Apr 2026 07:00:00 +0000'] },
        TLS.google,
        'json',
      ),
      expect: 'duplicate',
    },
    t('tls-foreign', TLS_FOREIGN, 'gzip', 'foreign'),
    {
      label: 'TLS report cut off',
      messageId: '<tls-broken@tls-e2e.test>',
      bytes: tlsMail(at('tls-broken'), TLS_BROKEN, 'gzip', brokenJson.slice(0, brokenJson.length - 40)),
      expect: 'invalid',
    },
    {
      label: 'DMARC and TLS in one message',
      messageId: '<bundle@tls-e2e.test>',
      bytes: mail(
        { From: 'relay@sender.example', To: 'rua@example.com', Subject: 'Reports', 'Message-ID': '<bundle@tls-e2e.test>' },
        bundleParts,
      ),
      expect: 'stored',
    },
    {
      label: 'a failure report',
      messageId: '<arf-1@receiver.example>',
      bytes: arfReport(
        mail({ From: 'x@example.net', Subject: 'original', 'Message-ID': '<o@example.net>' }, [{ type: 'text/plain', body: 'hi' }]),
      ),
      expect: 'unsupported',
    },
  ];
}

const MAILS = buildMails();
const STORED_DMARC = [DMARC.google, DMARC.yahoo, DMARC.outlook];
const STORED_TLS = [TLS.google, TLS.microsoft, TLS.mailru, TLS.yahoo];
const DMARC_ROWS = STORED_DMARC.reduce((sum, r) => sum + r.records.length, 0);
const TLS_ROWS = STORED_TLS.reduce((sum, r) => sum + expectedTlsRows(r).length, 0);
const ids = (entries: { messageId: string }[]): string[] => entries.map((e) => e.messageId).sort();
const idsOf = (...outcomes: Expect[]): string[] =>
  MAILS.filter((m) => outcomes.includes(m.expect))
    .map((m) => m.messageId)
    .sort();

// ---------------------------------------------------------------------------------------------

let server: DovecotServer;
let data: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  server = await startDovecot();
  data = await mkdtemp(TMP_PREFIX);
  env = {
    DMARCOPS_IMAP_HOST: server.host,
    DMARCOPS_IMAP_PORT: String(server.port),
    DMARCOPS_IMAP_TLS: 'none',
    DMARCOPS_IMAP_USER: server.user,
    DMARCOPS_IMAP_PASSWORD: server.password,
  };
  for (const m of MAILS) await server.appendMessage('INBOX', m.bytes);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  if (data?.startsWith(TMP_PREFIX)) await rm(data, { recursive: true, force: true });
});

async function fetch(
  ...extra: string[]
): Promise<IngestSummary & { mail?: { processed: { uids: number[] }; invalid: { uids: number[] } } }> {
  const output = captureOutput();
  const code = await main(['fetch', '--data', data, '--domains', DOMAINS, '--json', '--offline', ...extra], output, env);
  expect(code, output.stderr.join('\n')).toBe(0);
  return JSON.parse(output.text()) as IngestSummary;
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

const count = async (sql: string): Promise<number> =>
  (await query<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM (${sql})`))[0]?.n ?? -1;
const TLS_COLUMNS =
  'org_name, report_id, policy_index, policy_type, policy_domain, row_kind, detail_index, ' +
  'successful_sessions::INTEGER AS successful_sessions, failed_sessions::INTEGER AS failed_sessions, ' +
  'result_type, sending_mta_ip, receiving_mx_hostname, receiving_ip, additional_information';

describe('dmarcops fetch: DMARC and TLS reports side by side in one mailbox', () => {
  let first: IngestSummary;

  beforeAll(async () => {
    first = await fetch();
  }, 60_000);

  test('one run: both kinds stored, counted apart; the relayed TLS report a duplicate; foreign, cut-off and failure reports set aside', () => {
    expect(first.items).toBe(MAILS.length);
    expect(first.reports).toEqual({ stored: 3, duplicate: 0, foreign: 0, invalid: 0 });
    expect(first.records).toBe(DMARC_ROWS);
    expect(first.tls).toEqual({ stored: 4, duplicate: 1, foreign: 1, invalid: 1, rows: TLS_ROWS, earlierUnsupported: 0 });
    expect(first.unsupported).toBe(1);
    expect(first.foreign.map((entry) => [entry.kind, entry.policyDomain])).toEqual([['tls', 'stranger.example']]);
    expect(first.invalid.map((entry) => [entry.kind, entry.reason])).toEqual([
      ['tls', expect.stringMatching(/› Comcast!example\.com!\d+!\d+\.json: is not valid JSON: /)],
    ]);
  });

  test('both datasets hold exactly the rows of the reports: records/ per report, tls/ row by row', async () => {
    const perReport = await query<{ report_id: string; n: number }>(
      `SELECT report_id, count(*)::INTEGER AS n FROM (${committedRecordsSql(data)}) GROUP BY 1 ORDER BY 1`,
    );
    expect(perReport).toEqual(
      STORED_DMARC.map((r) => ({ report_id: r.reportId, n: r.records.length })).sort((a, b) => a.report_id.localeCompare(b.report_id)),
    );
    const rows = await query<Record<string, unknown>>(
      `SELECT ${TLS_COLUMNS} FROM read_parquet('${data}/tls/*/*.parquet', hive_partitioning = true) ORDER BY report_id, policy_index, detail_index NULLS FIRST`,
    );
    const expected = [...STORED_TLS].sort((a, b) => a.reportId.localeCompare(b.reportId)).flatMap(expectedTlsRows);
    expect(rows).toEqual(expected);
    // Each TLS report points at the message that carried it.
    const refs = await query<{ report_id: string; source_ref: string }>(
      `SELECT DISTINCT report_id, source_ref FROM (${committedTlsSql(data)})`,
    );
    expect(Object.fromEntries(refs.map((r) => [r.report_id, r.source_ref]))).toEqual({
      [TLS.google.reportId]: sha256Ref(MAILS[1]!.bytes),
      [TLS.microsoft.reportId]: sha256Ref(MAILS[3]!.bytes),
      [TLS.mailru.reportId]: sha256Ref(MAILS[4]!.bytes),
      [TLS.yahoo.reportId]: sha256Ref(MAILS[8]!.bytes),
    });
    expect(await query(`SELECT DISTINCT month FROM (${committedTlsSql(data)}) ORDER BY month`)).toEqual([
      { month: '2026-03' },
      { month: '2026-04' },
    ]);
  });

  test('the mail is filed: stored and duplicates in Processed; foreign, cut-off and failure reports in Invalid', async () => {
    expect(await server.listFolder('INBOX')).toEqual([]);
    expect(ids(await server.listFolder('Processed'))).toEqual(idsOf('stored', 'duplicate'));
    expect(ids(await server.listFolder('Invalid'))).toEqual(idsOf('foreign', 'invalid', 'unsupported'));
  });

  test('the ledger: every report with its kind; the forwarded TLS report reached through the attached message', async () => {
    const rows = await findReports(data);
    expect(rows.map((row) => `${row.kind} ${row.outcome}`).sort()).toEqual([
      'aggregate stored',
      'aggregate stored',
      'aggregate stored',
      'failure unsupported',
      'tls duplicate',
      'tls foreign',
      'tls invalid',
      'tls stored',
      'tls stored',
      'tls stored',
      'tls stored',
    ]);
    const mailru = rows.find((row) => row.reportId === TLS.mailru.reportId);
    const stem = `${TLS.mailru.org}!${TLS.mailru.domain}!${TLS.mailru.begin}!${TLS.mailru.end}`;
    expect(mailru?.sourceTrail).toEqual([mailru?.sourceName, 'attached message report.eml', `attachment ${stem}.json.gz`, `${stem}.json`]);
    expect(mailru).toMatchObject({ messageId: '<tls-mailru-fwd@tls-e2e.test>', records: expectedTlsRows(TLS.mailru).length });
  });

  test('a second run adds nothing', async () => {
    const parts = committedLedgerFiles(data).length;
    const again = await fetch();
    expect(again.items).toBe(0);
    expect([again.reports, again.tls]).toEqual([
      { stored: 0, duplicate: 0, foreign: 0, invalid: 0 },
      { stored: 0, duplicate: 0, foreign: 0, invalid: 0, rows: 0, earlierUnsupported: 0 },
    ]);
    expect(committedLedgerFiles(data)).toHaveLength(parts);
    expect(await count(committedTlsSql(data))).toBe(TLS_ROWS);
    expect(await count(committedRecordsSql(data))).toBe(DMARC_ROWS);
  });

  test('mails that come again add nothing either, and are filed', async () => {
    // The same TLS message once more, and Microsoft's report relayed in a new message.
    await server.appendMessage('INBOX', MAILS[1]!.bytes);
    await server.appendMessage(
      'INBOX',
      tlsMail(
        { ...at('tls-microsoft-relayed'), received: ['from relay2.example by mx.example.com; Fri, 3 Apr 2026 07:00:00 +0000'] },
        TLS.microsoft,
        'gzip',
      ),
    );
    const again = await fetch();
    expect([again.items, again.alreadyIngested]).toEqual([2, 1]);
    expect(again.tls).toMatchObject({ stored: 0, duplicate: 1, rows: 0 });
    expect(await count(committedTlsSql(data))).toBe(TLS_ROWS);
    expect(await server.listFolder('INBOX')).toEqual([]);
    expect(ids(await server.listFolder('Processed'))).toEqual(
      [...idsOf('stored', 'duplicate'), MAILS[1]!.messageId, '<tls-microsoft-relayed@tls-e2e.test>'].sort(),
    );
  });
});

describe('dmarcops fetch --retry-unsupported', () => {
  const waiting = tls('Google Inc.', 'waiting-1', 'example.com', '2026-02-20', 1);
  const waitingForeign = tls('Google Inc.', 'waiting-2', 'stranger.example', '2026-02-20', 0);
  const earlier = { ours: tlsMail(at('earlier-ours'), waiting, 'gzip'), foreign: tlsMail(at('earlier-foreign'), waitingForeign, 'json') };
  const unrelated = mail({ From: 'someone@example.net', Subject: 'hello', 'Message-ID': '<unrelated@example.net>' }, [
    { type: 'text/plain', body: 'not a report' },
  ]);
  let retried: IngestSummary & { mail?: { processed: { uids: number[] }; invalid: { uids: number[] } } };

  beforeAll(async () => {
    // What an earlier dmarcops did with two TLS report mails: filed them in Invalid, and wrote ledger
    // rows saying they were unsupported TLS reports (their content was not kept).
    for (const bytes of [earlier.ours, earlier.foreign, unrelated]) await server.appendMessage('Invalid', bytes);
    const ds = await openDataset({ root: data });
    const run = await ds.beginRun({ runId: 'earlier-version', ingestedAt: new Date('2026-02-21T00:00:00Z') });
    for (const [bytes, id] of [
      [earlier.ours, '<earlier-ours@tls-e2e.test>'],
      [earlier.foreign, '<earlier-foreign@tls-e2e.test>'],
    ] as const) {
      run.addLedgerEntry({
        sourceRef: sha256Ref(bytes),
        sourceBytes: bytes.length,
        sourceName: 'imap:INBOX/99',
        messageId: id,
        kind: 'tls',
        outcome: 'unsupported',
        reason: 'an SMTP TLS report (RFC 8460); dmarcops does not ingest TLS reports',
      });
    }
    await run.commit();
    await ds.close();
  }, 60_000);

  test('a plain run names them and says how to read them', async () => {
    const output = captureOutput();
    expect(await main(['fetch', '--data', data, '--domains', DOMAINS, '--offline'], output, env)).toBe(0);
    expect(output.text()).toContain(
      '(2 TLS reports that an earlier dmarcops set aside as unsupported wait to be read: dmarcops fetch --retry-unsupported',
    );
  });

  test('reads exactly those messages of the Invalid folder: ours stored and moved to Processed, the foreign one stays', async () => {
    retried = await fetch('--retry-unsupported');
    expect(retried.items).toBe(2);
    expect(retried.tls).toEqual({
      stored: 1,
      duplicate: 0,
      foreign: 1,
      invalid: 0,
      rows: expectedTlsRows(waiting).length,
      earlierUnsupported: 0,
    });
    expect(retried.mail?.processed.uids).toHaveLength(1);
    expect(
      await query(
        `SELECT ${TLS_COLUMNS} FROM (${committedTlsSql(data)}) WHERE report_id = 'waiting-1' ORDER BY policy_index, detail_index NULLS FIRST`,
      ),
    ).toEqual(expectedTlsRows(waiting));
    const processed = ids(await server.listFolder('Processed'));
    expect(processed).toContain('<earlier-ours@tls-e2e.test>');
    const invalid = ids(await server.listFolder('Invalid'));
    expect(invalid).toContain('<earlier-foreign@tls-e2e.test>');
    expect(invalid).toContain('<unrelated@example.net>');
    expect(invalid).not.toContain('<earlier-ours@tls-e2e.test>');
  });

  test('run again, it finds nothing left to read and changes nothing', async () => {
    const parts = committedLedgerFiles(data).length;
    const output = captureOutput();
    expect(await main(['fetch', '--retry-unsupported', '--data', data, '--domains', DOMAINS, '--offline'], output, env)).toBe(0);
    expect(output.text()).toContain('the ledger names no TLS report set aside as unsupported; nothing to read');
    expect(committedLedgerFiles(data)).toHaveLength(parts);
    const usage = captureOutput();
    expect(await main(['fetch', '--retry-unsupported', '--keep-mail', '--data', data], usage, env)).toBe(2);
  });
});
