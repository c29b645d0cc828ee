/**
 * SMTP TLS reports (RFC 8460) through `dmarcops ingest`, beside DMARC aggregate reports: from plain
 * and gzipped JSON files, from mail (`application/tlsrpt+gzip` and `+json`), from mbox files and
 * Maildir folders. Stored as the rows docs/dataset.md documents in `tls/month=…` (read back by DuckDB
 * with hive partitioning and compared with rows worked out from the report specs, not by the parser);
 * duplicates by report id and organisation within a run and across runs; foreign reports kept and
 * brought back with --retry; malformed, wrong-version, huge and hostile inputs refused with reasons
 * that quote nothing of them, each with its ledger row; reports that an earlier dmarcops set aside as
 * unsupported read again; compaction of tls/; untrusted values escaped where the CLI prints them.
 */
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import type { IngestSummary } from '../../scripts/reports/pipeline.ts';
import { sha256Ref } from '../../scripts/reports/pipeline.ts';
import { committedRecordsSql, committedTlsSql, findReports, openDataset } from '../../scripts/reports/store/index.ts';
import { openDuck } from '../../scripts/reports/store/duck.ts';
import { enc, gzipBomb, mail, reportXml } from '../fixtures/unpack/make.ts';
import { expectedTlsRows, tlsMail, tlsReportJson, utcDay } from '../fixtures/reports/mailbuilder.ts';
import type { TlsReportSpec } from '../fixtures/reports/mailbuilder.ts';
import { captureOutput } from '../helpers/output.ts';

const PREFIX = join(tmpdir(), 'dmarcops-ingest-tls-');
const FIXTURES = 'test/fixtures/reports/tls';
/** Put into refused inputs: no reason, no printed line and no file of the dataset may repeat it. */
const SECRET = '078-05-1120-tls-secret';

let dir: string;

function spec(
  org: string,
  reportId: string,
  domain: string,
  day: string,
  failures: number,
  extra: Partial<TlsReportSpec> = {},
): TlsReportSpec {
  return {
    org,
    contact: `tls-reports@${org.toLowerCase().replace(/[^a-z]+/g, '')}.example`,
    reportId,
    domain,
    ...utcDay(day),
    policies: [
      {
        type: 'sts',
        policyString: ['version: STSv1', 'mode: testing', `mx: mx1.${domain}`, 'max_age: 86400'],
        mxHost: [`mx1.${domain}`],
        successful: 1000 + failures,
        failed: failures * 3,
        details: Array.from({ length: failures }, (_, i) => ({
          resultType: i % 2 === 0 ? 'certificate-expired' : 'starttls-not-supported',
          sendingMtaIp: `192.0.2.${10 + i}`,
          receivingMxHostname: `mx1.${domain}`,
          ...(i === 0 ? { receivingIp: '198.51.100.25', additionalInformation: 'https://reports.example/info?id=1' } : {}),
          failed: 3,
        })),
      },
      { type: 'no-policy-found', successful: 7, failed: 0, details: [] },
    ],
    ...extra,
  };
}

const GOOGLE = spec('Google Inc.', '2026-03-10T00:00:00Z_example.com', 'example.com', '2026-03-10', 2);
const MICROSOFT = spec('Microsoft Corporation', '134175168000000000+example.org', 'example.org', '2026-03-11', 1);
const MAILRU = spec('Mail.Ru', 'mailru-1', 'mail.example.com', '2026-04-02', 3);
const YAHOO = spec('Yahoo', 'yahoo-1', 'example.com', '2026-04-03', 0);
const COMCAST = spec('comcast.net', 'comcast-1', 'example.org', '2026-04-04', 1);
const STRANGER = spec('Google Inc.', 'stranger-1', 'stranger.example', '2026-03-10', 1);
/** Dated 2011: stored, flagged, in month=unknown. */
const ANCIENT = spec('Old Sender', 'ancient-1', 'example.com', '2011-06-01', 1);
const STORED = [GOOGLE, MICROSOFT, MAILRU, YAHOO, COMCAST, ANCIENT];

const headers = (id: string) => ({ messageId: `<${id}@tls.test>`, from: 'noreply@sender.example', date: new Date('2026-04-05T06:00:00Z') });
const mboxOf = (...messages: Uint8Array[]): Uint8Array =>
  enc(
    messages.map((m) => `From MAILER-DAEMON Thu Jan  1 10:00:00 2026\n${new TextDecoder().decode(m).replace(/\r\n/g, '\n')}\n`).join('\n'),
  );

/** The inbox: DMARC and TLS reports side by side in every container the CLI reads. */
async function writeInbox(inbox: string): Promise<void> {
  await mkdir(inbox, { recursive: true });
  await writeFile(join(inbox, '01-dmarc.xml'), reportXml('dmarc-1', 3, 'example.com'));
  await writeFile(join(inbox, '02-google.json'), tlsReportJson(GOOGLE));
  await writeFile(join(inbox, '03-microsoft.json.gz'), gzipSync(tlsReportJson(MICROSOFT)));
  await writeFile(join(inbox, '04-mailru.eml'), tlsMail(headers('mailru'), MAILRU, 'gzip'));
  // The same report as 02 in another container (a mail, JSON not gzipped): a duplicate in this run.
  await writeFile(join(inbox, '05-google-again.eml'), tlsMail(headers('google-again'), GOOGLE, 'json'));
  await writeFile(join(inbox, '06-stranger.json'), tlsReportJson(STRANGER));
  // An mbox and a Maildir holding both kinds of report.
  const dmarcMail = mail({ Subject: 'Report Domain: example.org', 'Message-ID': '<dmarc-2@receiver.example>' }, [
    { type: 'application/gzip', filename: 'r.xml.gz', body: gzipSync(reportXml('dmarc-2', 2, 'example.org')), encoding: 'base64' },
  ]);
  await writeFile(join(inbox, '07-mixed.mbox'), mboxOf(dmarcMail, tlsMail(headers('yahoo'), YAHOO, 'gzip')));
  const maildir = join(inbox, '08-Maildir');
  for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(maildir, sub), { recursive: true });
  await writeFile(join(maildir, 'cur', '1.host:2,S'), tlsMail(headers('comcast'), COMCAST, 'gzip'));
  await writeFile(
    join(maildir, 'new', '2.host'),
    mail({ Subject: 'Report Domain: mail.example.com', 'Message-ID': '<dmarc-3@receiver.example>' }, [
      { type: 'text/xml', filename: 'r.xml', body: reportXml('dmarc-3', 4, 'mail.example.com') },
    ]),
  );
  await writeFile(join(inbox, '09-ancient.json'), tlsReportJson(ANCIENT));
}

/** Inputs that must be refused, each with the reason code its ledger row must start with. */
async function writeHostile(folder: string): Promise<Record<string, RegExp>> {
  await mkdir(folder, { recursive: true });
  for (const name of ['malformed.json', 'wrong-version.json', 'proto.json', 'proto-escaped.json'])
    await cp(join(FIXTURES, name), join(folder, name));
  // biome-ignore lint/suspicious/noExplicitAny: a report changed freely, path by path, to make it hostile
  type LooseJson = Record<string, any>;
  const base = JSON.parse(tlsReportJson(spec('Hostile', 'h-1', 'example.com', '2026-03-12', 1))) as LooseJson;
  const variant = (change: (report: LooseJson) => void): string => {
    const copy = structuredClone(base);
    change(copy);
    return JSON.stringify(copy);
  };
  await writeFile(join(folder, 'deep.json'), `{"policies":${'['.repeat(5000)}${']'.repeat(5000)}}`);
  // Over the parser's 32 MiB for one report.
  await writeFile(join(folder, 'huge.json'), `{"organization-name":"x","policies":[],"pad":"${'a'.repeat(33 * 1024 * 1024)}"}`);
  const bomb = gzipBomb(512 * 1024 * 1024, enc('{"organization-name":"x","policies":['));
  await writeFile(
    join(folder, 'bomb.eml'),
    mail(
      { Subject: 'Report Domain: example.com Submitter: x', 'Message-ID': '<bomb@sender.example>' },
      [{ type: 'application/tlsrpt+gzip', filename: 'x!example.com!1!2.json.gz', body: bomb, encoding: 'base64' }],
      'multipart/report; report-type=tlsrpt',
    ),
  );
  // Its one policy string would be repeated on every row: more than a row may take.
  await writeFile(
    join(folder, 'wide.json'),
    variant(
      (report) =>
        (report.policies[0].policy['policy-string'] = Array.from({ length: 1000 }, (_, i) => `mx: ${'m'.repeat(90)}${i}.example.com`)),
    ),
  );
  // Private-looking values where the parser wants something else: refused, and the reason says what without repeating them.
  await writeFile(
    join(folder, 'secret-date.json'),
    variant((report) => (report['date-range']['start-datetime'] = SECRET)),
  );
  await writeFile(
    join(folder, 'secret-version.json'),
    variant((report) => (report.version = SECRET)),
  );
  await writeFile(join(folder, 'secret-syntax.json'), `{"organization-name": "x", "policies": [], "${SECRET}" 1}`);
  await writeFile(
    join(folder, 'tls-mail-without-report.eml'),
    mail(
      { Subject: 'Report Domain: example.com Submitter: x', 'Message-ID': '<empty-tls@sender.example>' },
      [{ type: 'text/plain', body: `nothing attached ${SECRET}` }],
      'multipart/report; report-type=tlsrpt',
    ),
  );
  return {
    'malformed.json': /^malformed-json: .*is not valid JSON/,
    'wrong-version.json': /^unsupported-version: .*declares a version other than TLSRPTv1/,
    'proto.json': /^forbidden-key: .*"__proto__"/,
    'proto-escaped.json': /^forbidden-key: /,
    'deep.json': /^too-deep: /,
    'huge.json': /^too-large: .*more than 33554432 bytes/,
    'bomb.eml': /ratio 2\d\d:1 > maxRatio 200\); refused/,
    'wide.json': /^rows-too-large: .*more than 65536/,
    'secret-date.json': /^invalid-date: .*start-datetime \(a string of 22 characters\) is not an RFC 3339 date-time/,
    'secret-version.json': /^unsupported-version: /,
    'secret-syntax.json': /^malformed-json: .*at line 1, column \d+/,
    'tls-mail-without-report.eml': /no TLS report \(RFC 8460\) in message/,
  };
}

async function ingest(args: string[], domains = 'domains'): Promise<IngestSummary> {
  const output = captureOutput();
  const code = await main(['ingest', ...args, '--domains', domains, '--offline', '--json'], output, {});
  expect(code, output.stderr.join('\n')).toBe(0);
  return JSON.parse(output.text()) as IngestSummary;
}

async function cli(...args: string[]): Promise<{ code: number; text: string }> {
  const output = captureOutput();
  const code = await main(args, output, {});
  return { code, text: [...output.stdout, ...output.stderr].join('\n') };
}

async function query<T>(sql: string): Promise<T[]> {
  const duck = await openDuck();
  try {
    return await duck.rows<T>(sql);
  } finally {
    duck.close();
  }
}

const ROW_COLUMNS =
  'org_name, report_id, policy_index, policy_type, policy_domain, row_kind, detail_index, ' +
  'successful_sessions::INTEGER AS successful_sessions, failed_sessions::INTEGER AS failed_sessions, ' +
  'result_type, sending_mta_ip, receiving_mx_hostname, receiving_ip, additional_information';
const ROW_ORDER = 'report_id, policy_index, detail_index NULLS FIRST';
const sortRows = (rows: Record<string, unknown>[]): Record<string, unknown>[] =>
  [...rows].sort(
    (a, b) =>
      String(a.report_id).localeCompare(String(b.report_id)) ||
      Number(a.policy_index) - Number(b.policy_index) ||
      Number(a.detail_index ?? -1) - Number(b.detail_index ?? -1),
  );

beforeAll(async () => {
  dir = await mkdtemp(PREFIX);
});

afterAll(async () => {
  if (dir?.startsWith(PREFIX)) await rm(dir, { recursive: true, force: true });
});

describe('DMARC and TLS reports side by side, from files, mail, mbox and Maildir', () => {
  let inbox: string;
  let data: string;
  let first: IngestSummary;

  beforeAll(async () => {
    inbox = join(dir, 'inbox');
    data = join(dir, 'data');
    await writeInbox(inbox);
    first = await ingest([inbox, '--data', data]);
  });

  test('one run: both kinds counted apart; the same TLS report twice is a duplicate, the stranger foreign', () => {
    expect(first.items).toBe(11);
    expect(first.reports).toEqual({ stored: 3, duplicate: 0, foreign: 0, invalid: 0 });
    expect(first.tls).toEqual({
      stored: 6,
      duplicate: 1,
      foreign: 1,
      invalid: 0,
      rows: STORED.reduce((sum, s) => sum + expectedTlsRows(s).length, 0),
      earlierUnsupported: 0,
    });
    expect(first.foreign).toEqual([{ source: join(inbox, '06-stranger.json'), policyDomain: 'stranger.example', kind: 'tls' }]);
    expect(first.invalid).toEqual([]);
    expect(first.unsupported).toBe(0);
  });

  test('DuckDB reads reports/tls/*/*.parquet with hive partitioning: exactly the documented rows, by month', async () => {
    const rows = await query<Record<string, unknown>>(
      `SELECT ${ROW_COLUMNS} FROM read_parquet('${data}/tls/*/*.parquet', hive_partitioning = true) ORDER BY ${ROW_ORDER}`,
    );
    expect(rows).toEqual(sortRows(STORED.flatMap(expectedTlsRows)));
    const months = await query<{ month: string; reports: number }>(
      `SELECT month, count(DISTINCT report_key)::INTEGER AS reports
       FROM read_parquet('${data}/tls/*/*.parquet', hive_partitioning = true) GROUP BY month ORDER BY month`,
    );
    expect(months).toEqual([
      { month: '2026-03', reports: 2 },
      { month: '2026-04', reports: 3 },
      { month: 'unknown', reports: 1 },
    ]);
    // committedTlsSql reads the same; the DMARC records are where they were.
    expect(await query(`SELECT count(*)::INTEGER AS n FROM (${committedTlsSql(data)})`)).toEqual([{ n: rows.length }]);
    expect(await query(`SELECT count(*)::INTEGER AS n FROM (${committedRecordsSql(data)})`)).toEqual([{ n: 9 }]);
  });

  test('the report columns: key, contact, dates, warnings (date-implausible for the 2011 report), provenance', async () => {
    const [google] = await query<Record<string, unknown>>(
      `SELECT DISTINCT report_key, contact_info, strftime(date_begin, '%Y-%m-%dT%H:%M:%SZ') AS b,
         strftime(date_end, '%Y-%m-%dT%H:%M:%SZ') AS e, source_ref, policy_string, mx_host
       FROM (${committedTlsSql(data)}) WHERE report_id = '${GOOGLE.reportId}' AND policy_index = 0`,
    );
    expect(google).toMatchObject({
      contact_info: GOOGLE.contact,
      b: '2026-03-10T00:00:00Z',
      e: '2026-03-10T23:59:59Z',
      source_ref: sha256Ref(enc(tlsReportJson(GOOGLE))),
      policy_string: GOOGLE.policies[0]!.policyString,
      mx_host: ['mx1.example.com'],
    });
    expect(google!.report_key).toMatch(/^[0-9a-f]{32}$/);
    const warnings = await query<{ codes: string[] }>(
      `SELECT DISTINCT list_transform(report_warnings, w -> w.code) AS codes FROM (${committedTlsSql(data)}) WHERE report_id = 'ancient-1'`,
    );
    // A no-policy-found policy without policy-string is a warning of the parser; the store adds date-implausible.
    expect(warnings).toEqual([{ codes: ['missing-field', 'date-implausible'] }]);
    const runs = await query<{ n: number }>(
      `SELECT count(DISTINCT ingest_run)::INTEGER AS n FROM (${committedTlsSql(data)}) WHERE ingested_at IS NOT NULL`,
    );
    expect(runs).toEqual([{ n: 1 }]);
  });

  test('the ledger: one TLS row per report with its identity, month, rows and sessions; the foreign report kept as its JSON', async () => {
    const rows = await findReports(data, { kind: 'tls' });
    expect(rows.map((row) => [row.reportId, row.outcome]).sort()).toEqual(
      [
        [ANCIENT.reportId, 'stored'],
        [COMCAST.reportId, 'stored'],
        [GOOGLE.reportId, 'duplicate'],
        [GOOGLE.reportId, 'stored'],
        [MAILRU.reportId, 'stored'],
        [MICROSOFT.reportId, 'stored'],
        [STRANGER.reportId, 'foreign'],
        [YAHOO.reportId, 'stored'],
      ].sort(),
    );
    const google = rows.find((row) => row.reportId === GOOGLE.reportId && row.outcome === 'stored');
    expect(google).toMatchObject({
      kind: 'tls',
      orgName: 'Google Inc.',
      orgEmail: GOOGLE.contact,
      policyDomain: 'example.com',
      month: '2026-03',
      records: 4,
      messages: 1002 + 6 + 7,
      warningCount: 1,
    });
    expect(rows.find((row) => row.outcome === 'duplicate')).toMatchObject({
      reportKey: google!.reportKey,
      reason: 'report already stored by this run',
      records: null,
    });
    const foreign = rows.find((row) => row.outcome === 'foreign');
    expect(foreign).toMatchObject({
      policyDomain: 'stranger.example',
      reason: 'policy domain stranger.example is not in domains/',
      quarantinePath: expect.stringMatching(/^quarantine\/foreign\/[0-9a-f]{64}\.json\.gz$/),
    });
    expect(gunzipSync(await readFile(join(data, foreign!.quarantinePath!))).toString()).toBe(tlsReportJson(STRANGER));
    expect(await readdir(join(data, 'quarantine', 'foreign'))).toHaveLength(1);
    expect((await findReports(data, { kind: 'aggregate' })).every((row) => row.outcome === 'stored')).toBe(true);
  });

  test('dmarcops ledger --kind tls lists the TLS reports only, with rows and sessions', async () => {
    const listed = await cli('ledger', '--kind', 'tls', '--data', data);
    expect(listed.code).toBe(0);
    expect(listed.text.split('\n')).toHaveLength(8);
    expect(listed.text).toMatch(
      /^stored {6}TLS example\.com {2}Google Inc\. 2026-03-10T00:00:00Z_example\.com 2026-03-10 00:00 → 2026-03-10 23:59 UTC · 4 rows · 1015 sessions/m,
    );
    expect(listed.text).not.toContain('dmarc-1');
    expect((await cli('ledger', '--kind', 'tls', '--outcome', 'foreign', '--data', data)).text).toContain('stranger.example');
    expect((await cli('ledger', '--kind', 'nonsense', '--data', data)).code).toBe(2);
  });

  test('a rerun adds nothing; a new copy of a stored report in a later run is a duplicate', async () => {
    const again = await ingest([inbox, '--data', data]);
    expect(again.alreadyIngested).toBe(11);
    expect([again.reports, again.tls]).toEqual([
      { stored: 0, duplicate: 0, foreign: 0, invalid: 0 },
      { stored: 0, duplicate: 0, foreign: 0, invalid: 0, rows: 0, earlierUnsupported: 0 },
    ]);
    const copy = join(dir, 'copy');
    await mkdir(copy);
    // Other bytes, same report: pretty-printed, the organisation in capitals, gzipped.
    await writeFile(
      join(copy, 'google-pretty.json.gz'),
      gzipSync(JSON.stringify(JSON.parse(tlsReportJson(GOOGLE)), null, 2).replace('"Google Inc."', '"GOOGLE INC."')),
    );
    const later = await ingest([copy, '--data', data]);
    expect(later.tls).toMatchObject({ stored: 0, duplicate: 1, rows: 0 });
    expect((await findReports(data, { kind: 'tls', outcome: 'duplicate' })).map((row) => row.reason)).toContain(
      'report already stored by an earlier run',
    );
    expect(await query(`SELECT count(*)::INTEGER AS n FROM (${committedTlsSql(data)}) WHERE report_id = '${GOOGLE.reportId}'`)).toEqual([
      { n: 4 },
    ]);
  });

  test('compaction merges tls/ months too; rows and dedupe stay the same', async () => {
    const extra = join(dir, 'march');
    await mkdir(extra);
    const march = spec('Fastmail', 'fastmail-1', 'example.com', '2026-03-20', 1);
    await writeFile(join(extra, 'fastmail.json'), tlsReportJson(march));
    await ingest([extra, '--data', data]);
    const before = await query<Record<string, unknown>>(`SELECT * EXCLUDE (month) FROM (${committedTlsSql(data)}) ORDER BY ${ROW_ORDER}`);
    expect(await readdir(join(data, 'tls', 'month=2026-03'))).toHaveLength(2);
    const compacted = await cli('compact', '2026-03', '--data', data);
    expect(compacted.text).toMatch(/^month=2026-03: nothing to merge\ntls\/month=2026-03: 2 files → 1 \(\d+ rows/);
    expect(await readdir(join(data, 'tls', 'month=2026-03'))).toEqual([expect.stringMatching(/^compact-.*\.parquet$/)]);
    expect(await query(`SELECT * EXCLUDE (month) FROM (${committedTlsSql(data)}) ORDER BY ${ROW_ORDER}`)).toEqual(before);
    await writeFile(join(extra, 'fastmail-again.json'), JSON.stringify(JSON.parse(tlsReportJson(march)), null, 1));
    expect((await ingest([join(extra, 'fastmail-again.json'), '--data', data])).tls).toMatchObject({ duplicate: 1, stored: 0 });
  });
});

describe('malformed, wrong-version, huge and hostile TLS inputs', () => {
  let folder: string;
  let data: string;
  let expected: Record<string, RegExp>;
  let summary: IngestSummary;
  let printed: string;

  beforeAll(async () => {
    folder = join(dir, 'hostile');
    data = join(dir, 'hostile-data');
    expected = await writeHostile(folder);
    summary = await ingest([folder, '--data', data]);
    const text = captureOutput();
    const summaryFile = join(dir, 'hostile-summary.md');
    expect(
      await main(
        [
          'ingest',
          '--retry',
          folder,
          '--data',
          join(dir, 'hostile-data-2'),
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
    printed = `${JSON.stringify(summary)}\n${text.text()}\n${await readFile(summaryFile, 'utf8')}`;
  }, 120_000);

  test('each is refused with its reason and counted as an invalid TLS report; the run goes on and commits', () => {
    expect(summary.items).toBe(Object.keys(expected).length);
    expect(summary.tls).toEqual({
      stored: 0,
      duplicate: 0,
      foreign: 0,
      invalid: Object.keys(expected).length,
      rows: 0,
      earlierUnsupported: 0,
    });
    expect(summary.invalid.every((entry) => entry.kind === 'tls')).toBe(true);
  });

  test('nothing lost: every input has its ledger row (hash, size, reason with the code), and nothing of it is kept', async () => {
    const rows = await findReports(data);
    expect(rows).toHaveLength(Object.keys(expected).length);
    for (const [name, reason] of Object.entries(expected)) {
      const row = rows.find((r) => r.sourceName === join(folder, name));
      const bytes = await readFile(join(folder, name));
      expect(row, name).toMatchObject({
        kind: 'tls',
        outcome: 'invalid',
        sourceRef: sha256Ref(bytes),
        sourceBytes: bytes.length,
        quarantinePath: null,
      });
      expect(row!.reason, name).toMatch(reason);
    }
    expect(await readdir(data)).toEqual(['ledger']);
  });

  test('reasons, the printed summary and the Markdown summary quote nothing of the refused inputs', async () => {
    expect(printed).toContain('declares a version other than TLSRPTv1 (a string of 22 characters)');
    expect(printed).not.toContain(SECRET);
    expect(printed).not.toContain('078-05');
    for (const row of await findReports(data)) expect(row.reason).not.toContain('078-05');
  });
});

describe('foreign TLS reports, and --retry once the domain is added', () => {
  test('kept as JSON within the caps; stored by a retry of the quarantine; a second retry doubles nothing', async () => {
    const domains = join(dir, 'retry-domains');
    await cp('domains', domains, { recursive: true });
    const data = join(dir, 'retry-data');
    const folder = join(dir, 'retry-in');
    await mkdir(folder);
    await writeFile(join(folder, 'stranger.json'), tlsReportJson(STRANGER));
    expect((await ingest([folder, '--data', data], domains)).tls).toMatchObject({ foreign: 1 });
    const output = captureOutput();
    expect(await main(['new', 'stranger.example', '--domains', domains], output, {}), output.stderr.join('\n')).toBe(0);
    const retry = await ingest(['--retry', join(data, 'quarantine'), '--data', data], domains);
    expect(retry.tls).toMatchObject({ stored: 1, foreign: 0, rows: expectedTlsRows(STRANGER).length });
    expect((await ingest(['--retry', join(data, 'quarantine'), folder, '--data', data], domains)).tls).toMatchObject({
      stored: 0,
      duplicate: 2,
    });
    const rows = await query<Record<string, unknown>>(`SELECT ${ROW_COLUMNS} FROM (${committedTlsSql(data)}) ORDER BY ${ROW_ORDER}`);
    expect(rows).toEqual(expectedTlsRows(STRANGER));
    expect(await readdir(join(data, 'quarantine', 'foreign'))).toHaveLength(1);
  });

  test('over the cap per report: its ledger row only, with the reason', async () => {
    const data = join(dir, 'cap-data');
    const summary = await ingest([join(dir, 'retry-in'), '--data', data, '--quarantine-max-report-bytes', '100']);
    expect(summary.quarantine).toMatchObject({ added: 0, notKept: 1 });
    expect((await findReports(data, { kind: 'tls' }))[0]?.reason).toMatch(
      /^policy domain stranger\.example is not in domains\/; not kept: over the cap of 100 B per report \(gzipped\)$/,
    );
  });

  test('values from the report are escaped where the CLI prints them (terminal, Markdown)', async () => {
    const folder = join(dir, 'escape-in');
    await mkdir(folder);
    const evil = spec('Evil', 'evil-1', 'x.example', '2026-03-10', 0);
    await writeFile(
      join(folder, 'evil.json'),
      tlsReportJson(evil).replace('"policy-domain":"x.example"', '"policy-domain":"x\\u001b[2J @admins #1.example"'),
    );
    const text = captureOutput();
    const summaryFile = join(dir, 'escape.md');
    expect(
      await main(
        ['ingest', folder, '--data', join(dir, 'escape-data'), '--domains', 'domains', '--offline', '--summary-file', summaryFile],
        text,
        {},
      ),
    ).toBe(0);
    const line = text.stdout.find((entry) => entry.includes('TLS report for'));
    expect(line).toContain('x\\x1b[2j @admins #1.example');
    expect(text.text()).not.toContain('\u001b');
    const markdown = await readFile(summaryFile, 'utf8');
    expect(markdown).not.toContain('\u001b');
    expect(markdown).not.toMatch(/(^|\s)@admins/);
    expect(markdown).toContain('| TLS |');
  });
});

describe('identity', () => {
  test(
    'a report covering one of our domains and a foreign one is stored whole; ' +
      'a TLS report never dedupes an aggregate report with the same identity',
    async () => {
      const folder = join(dir, 'identity-in');
      const data = join(dir, 'identity-data');
      await mkdir(folder);
      const mixed = spec('Google Inc.', 'mixed-1', 'example.com', '2026-03-14', 1);
      mixed.policies[1] = { ...mixed.policies[1]!, domain: 'stranger.example' };
      await writeFile(join(folder, 'mixed.json'), tlsReportJson(mixed));
      // The same organisation, report id, domain and range as the aggregate report reportXml() writes.
      await writeFile(join(folder, 'dmarc.xml'), reportXml('same-id', 2, 'example.com'));
      const twin: TlsReportSpec = {
        ...spec('receiver.example', 'same-id', 'example.com', '2026-03-14', 0),
        begin: 1700000000,
        end: 1700086399,
      };
      await writeFile(join(folder, 'twin.json'), tlsReportJson(twin));
      const summary = await ingest([folder, '--data', data]);
      expect([summary.reports.stored, summary.tls.stored, summary.tls.duplicate]).toEqual([1, 2, 0]);
      const rows = await query<{ report_id: string; policy_domain: string }>(
        `SELECT report_id, policy_domain FROM (${committedTlsSql(data)}) WHERE row_kind = 'summary' ORDER BY report_id, policy_index`,
      );
      expect(rows).toEqual([
        { report_id: 'mixed-1', policy_domain: 'example.com' },
        { report_id: 'mixed-1', policy_domain: 'stranger.example' },
        { report_id: 'same-id', policy_domain: 'example.com' },
        { report_id: 'same-id', policy_domain: 'example.com' },
      ]);
      expect((await findReports(data, { kind: 'tls' })).find((row) => row.reportId === 'mixed-1')?.policyDomain).toBe(
        'example.com,stranger.example',
      );
    },
  );
});

describe('TLS reports an earlier dmarcops set aside as unsupported', () => {
  test('are read again by a plain run (their ledger rows do not make them already ingested), and the summary says how', async () => {
    const data = join(dir, 'earlier-data');
    const folder = join(dir, 'earlier-in');
    await mkdir(folder);
    const waiting = spec('Google Inc.', 'earlier-1', 'example.com', '2026-02-01', 1);
    const bytes = gzipSync(tlsReportJson(waiting));
    await writeFile(join(folder, 'earlier.json.gz'), bytes);
    const other = tlsMail(headers('earlier-mail'), spec('Yahoo', 'earlier-2', 'example.org', '2026-02-02', 0), 'gzip');
    // What earlier versions wrote for them: a ledger row with kind tls, outcome unsupported (the mail's
    // original went to the Invalid folder, and stays unread here).
    const ds = await openDataset({ root: data });
    const run = await ds.beginRun({ runId: 'earlier-version', ingestedAt: new Date('2026-02-03T00:00:00Z') });
    for (const [ref, size, name] of [
      [sha256Ref(bytes), bytes.length, join(folder, 'earlier.json.gz')],
      [sha256Ref(other), other.length, 'imap:INBOX/7'],
    ] as const) {
      run.addLedgerEntry({
        sourceRef: ref,
        sourceBytes: size,
        sourceName: name,
        kind: 'tls',
        outcome: 'unsupported',
        reason: `${name}: an SMTP TLS report (RFC 8460, JSON); dmarcops does not ingest TLS reports`,
      });
    }
    await run.commit();
    await ds.close();

    const text = captureOutput();
    expect(await main(['ingest', folder, '--data', data, '--domains', 'domains', '--offline'], text, {})).toBe(0);
    expect(text.text()).toMatch(/tls {6}1 new · 0 duplicate · 0 foreign · 0 invalid · 3 rows/);
    expect(text.text()).toContain(
      '(1 TLS report that an earlier dmarcops set aside as unsupported waits to be read: ' +
        `dmarcops fetch --retry-unsupported --data ${data} reads it from the mailbox's Invalid folder; ` +
        `files: dmarcops ingest <files> --data ${data} (see dmarcops ledger --kind tls --outcome unsupported))`,
    );
    expect(await query(`SELECT count(*)::INTEGER AS n FROM (${committedTlsSql(data)}) WHERE report_id = 'earlier-1'`)).toEqual([{ n: 3 }]);
    // Now it is seen: the next run skips it; the mail's row is still waiting.
    const again = await ingest([folder, '--data', data]);
    expect([again.alreadyIngested, again.tls.earlierUnsupported]).toEqual([1, 1]);
  });
});
