/**
 * The TLS report parser (RFC 8460) over the fixtures in test/fixtures/reports/tls (see its README):
 * the RFC's example and reports in the shapes Google and Microsoft send become the documented rows
 * (golden files in test/golden/tls/), every quirk leaves a warning and the raw value, and malformed,
 * wrong-version, huge and hostile inputs are refused with a code and a reason.
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseTlsReport, parseTlsReportStream, TlsParseError, tlsReportKey, tlsReportRows } from '../../scripts/reports/parse/tls/index.ts';
import type { TlsParseErrorCode, TlsParseOptions } from '../../scripts/reports/parse/tls/index.ts';

const DIR = 'test/fixtures/reports/tls';
const fixture = (name: string): Buffer => readFileSync(`${DIR}/${name}`);
const GOOD = [
  'rfc8460-example.json',
  'google-shaped.json',
  'google-failures.json',
  'microsoft-shaped.json',
  'microsoft-no-policy.json',
  'quirks.json',
];

function refusal(input: Uint8Array | string, options: TlsParseOptions = {}): { code: TlsParseErrorCode; message: string } {
  try {
    parseTlsReport(input, options);
  } catch (error) {
    if (error instanceof TlsParseError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('the input was accepted');
}

describe('reports become the documented rows', () => {
  test.each(GOOD)('%s (golden)', async (name) => {
    const report = parseTlsReport(fixture(name), { name });
    await expect(`${JSON.stringify({ report, rows: tlsReportRows(report) }, null, 2)}\n`).toMatchFileSnapshot(`../golden/tls/${name}`);
  });

  test('the RFC 8460 example: one summary row and one row per failure detail, with counts, MX, type, sending IP, information', () => {
    const report = parseTlsReport(fixture('rfc8460-example.json'));
    expect(report.warnings).toEqual([]);
    expect(report.header).toMatchObject({
      orgName: 'Company-X',
      reportId: '5065427c-23d3-47ca-b6e0-946ea0e8c4be',
      contactInfo: 'sts-reporting@company-x.example',
      dateBegin: Date.UTC(2016, 3, 1) / 1000,
      dateEnd: Date.UTC(2016, 3, 1, 23, 59, 59) / 1000,
    });
    expect(report.policyDomains).toEqual(['company-y.example']);
    const rows = tlsReportRows(report);
    expect(
      rows.map((row) => [
        row.row_kind,
        row.policy_type,
        row.policy_domain,
        row.successful_sessions,
        row.failed_sessions,
        row.result_type,
        row.sending_mta_ip,
        row.receiving_mx_hostname,
        row.receiving_ip,
      ]),
    ).toEqual([
      ['summary', 'sts', 'company-y.example', 5326, 303, null, null, null, null],
      ['failure', 'sts', 'company-y.example', null, 100, 'certificate-expired', '2001:db8:abcd:12::1', 'mx1.mail.company-y.example', null],
      [
        'failure',
        'sts',
        'company-y.example',
        null,
        200,
        'starttls-not-supported',
        '2001:db8:abcd:13::1',
        'mx2.mail.company-y.example',
        '203.0.113.56',
      ],
      [
        'failure',
        'sts',
        'company-y.example',
        null,
        3,
        'validation-failure',
        '198.51.100.62',
        'mx-backup.mail.company-y.example',
        '203.0.113.58',
      ],
    ]);
    expect(rows[2]?.additional_information).toBe('https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported');
    expect(rows[3]?.failure_reason_code).toBe('X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED');
    expect(rows[0]?.policy_string).toEqual(['version: STSv1', 'mode: testing', 'mx: *.mail.company-y.example', 'max_age: 86400']);
    expect(rows[0]?.mx_host).toEqual(['*.mail.company-y.example']);
    // The failure rows add up to the summary's total: summing either gives the same failures per day.
    expect(rows.filter((row) => row.row_kind === 'failure').reduce((sum, row) => sum + (row.failed_sessions ?? 0), 0)).toBe(
      rows[0]?.failed_sessions,
    );
    expect(report.header.raw).toEqual({
      'policies[0]/failure-details[0]/sending-mta-ip': '2001:db8:abcd:0012::1',
      'policies[0]/failure-details[1]/sending-mta-ip': '2001:db8:abcd:0013::1',
    });
    // Each row carries the raw values of the report, its policy and its own failure detail, not the other details'.
    expect(rows.map((row) => row.report_raw)).toEqual([
      {},
      { 'policies[0]/failure-details[0]/sending-mta-ip': '2001:db8:abcd:0012::1' },
      { 'policies[0]/failure-details[1]/sending-mta-ip': '2001:db8:abcd:0013::1' },
      {},
    ]);
  });

  test('Google-shaped: no mx-host, no failure-details when nothing failed, no-policy-found without policy-string: read, each gap a warning', () => {
    const report = parseTlsReport(fixture('google-shaped.json'));
    expect(
      tlsReportRows(report).map((row) => [
        row.row_kind,
        row.policy_type,
        row.successful_sessions,
        row.failed_sessions,
        row.policy_string === null,
      ]),
    ).toEqual([
      ['summary', 'sts', 1842, 0, false],
      ['summary', 'no-policy-found', 12, 0, true],
    ]);
    expect(report.warnings.map((warning) => [warning.code, warning.policy])).toEqual([
      ['missing-field', 0],
      ['missing-field', 1],
    ]);
  });

  test('Microsoft-shaped: an empty failure-details list, a policy with 0 successes, receiving IP and additional information', () => {
    const rows = tlsReportRows(parseTlsReport(fixture('microsoft-shaped.json')));
    expect(rows.map((row) => [row.policy_index, row.row_kind, row.successful_sessions, row.failed_sessions, row.result_type])).toEqual([
      [0, 'summary', 310, 0, null],
      [1, 'summary', 0, 7, null],
      [1, 'failure', null, 7, 'certificate-host-mismatch'],
    ]);
    expect(rows[2]).toMatchObject({
      sending_mta_ip: '2001:db8:7::25',
      receiving_ip: '198.51.100.25',
      additional_information: 'the certificate names mail.example.net',
    });
    const empty = parseTlsReport(fixture('microsoft-no-policy.json'));
    expect(empty.warnings.map((warning) => warning.code)).toEqual(['missing-field', 'zero-sessions']);
    expect(tlsReportRows(empty)).toHaveLength(1);
  });

  test('quirks: every normalisation is a warning and keeps the value as written; nothing is dropped', () => {
    const report = parseTlsReport(fixture('quirks.json'));
    expect(report.warnings.map((warning) => warning.code).sort()).toEqual([
      'count-mismatch',
      'date-range-reversed',
      'date-without-zone',
      'duplicate-key',
      'invalid-ip',
      'nonstandard-value',
      'unknown-field',
      'value-case',
      'value-case',
      'value-shape',
      'value-shape',
      'value-shape',
      'value-shape',
      'zero-sessions',
    ]);
    expect(report.header).toMatchObject({
      orgName: 'Mail Provider Example',
      reportId: 'quirks-2',
      dateBegin: Date.UTC(2026, 2, 10) / 1000,
      dateEnd: Date.UTC(2026, 2, 11) / 1000,
    });
    expect(report.header.raw).toMatchObject({
      'date-range/start-datetime': '2026-03-11T00:00:00',
      'policies[0]/policy/policy-type': 'STS',
      'policies[0]/summary/total-successful-session-count': '120',
      'policies[0]/policy/mx-host': 'MX1.Example.COM',
    });
    const [policy] = report.policies;
    expect(policy).toMatchObject({
      policyType: 'sts',
      policyDomain: 'example.com',
      mxHost: ['mx1.example.com'],
      successfulSessions: 120,
      failedSessions: 9,
    });
    expect(policy?.failureDetails).toEqual([
      { resultType: 'certificate-expired', sendingMtaIp: '2001:db8::25', receivingMxHostname: 'mx1.example.com', failedSessions: 4 },
      { resultType: 'tls-version-too-old', sendingMtaIp: 'mail.provider.example', failedSessions: 0 },
    ]);
  });

  test('gzip (application/tlsrpt+gzip) and chunks as the unpack stage streams them give the same report', async () => {
    const plain = parseTlsReport(fixture('rfc8460-example.json'));
    const zipped = parseTlsReport(gzipSync(fixture('rfc8460-example.json')));
    expect(zipped.stats.gzip).toBe(true);
    expect({ ...zipped, stats: { ...zipped.stats, gzip: false } }).toEqual(plain);
    const bytes = fixture('google-failures.json');
    const chunks = [bytes.subarray(0, 100), bytes.subarray(100, 101), bytes.subarray(101)];
    expect(
      await parseTlsReportStream(
        (async function* () {
          yield* chunks;
        })(),
      ),
    ).toEqual(parseTlsReport(bytes));
  });
});

describe('report_key', () => {
  test('the same report in another copy (gzip, whitespace, another org-name case) has the same key; another report another key', () => {
    const bytes = fixture('google-failures.json');
    const key = tlsReportKey(parseTlsReport(bytes));
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(tlsReportKey(parseTlsReport(gzipSync(bytes)))).toBe(key);
    expect(tlsReportKey(parseTlsReport(JSON.stringify(JSON.parse(bytes.toString()), null, 4).replace('Google Inc.', 'GOOGLE INC.')))).toBe(
      key,
    );
    expect(tlsReportKey(parseTlsReport(fixture('google-shaped.json')))).not.toBe(key);
    expect(new Set(tlsReportRows(parseTlsReport(bytes)).map((row) => row.report_key))).toEqual(new Set([key]));
  });
});

describe('refused with a reason', () => {
  // biome-ignore lint/suspicious/noExplicitAny: a report changed freely, path by path, to make it hostile
  type LooseJson = Record<string, any>;
  const base = JSON.parse(fixture('google-failures.json').toString()) as Record<string, unknown>;
  const variant = (change: (report: LooseJson) => void): string => {
    const copy = structuredClone(base) as LooseJson;
    change(copy);
    return JSON.stringify(copy);
  };

  test.each([
    ['malformed.json', 'malformed-json', /is not valid JSON/],
    ['wrong-version.json', 'unsupported-version', /declares a version other than TLSRPTv1 \(a string of 8 characters\)/],
    ['not-a-report.json', 'not-a-report', /not an RFC 8460 TLS report/],
    ['proto.json', 'forbidden-key', /key "__proto__" in policies\[0\]\/policy/],
    ['proto-escaped.json', 'forbidden-key', /key "__proto__" in \(top level\)/],
  ] as const)('%s: %s', (name, code, message) => {
    expect(refusal(fixture(name), { name })).toEqual({ code, message: expect.stringMatching(message) });
    expect(refusal(fixture(name), { name }).message.startsWith(`${name}: `)).toBe(true);
  });

  test('prototype keys never reach an object: refused, and Object.prototype is untouched', () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      expect(refusal(`{"policies":[],"${key}":{"polluted":true}}`).code).toBe('forbidden-key');
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  test('deep nesting, giant strings, too many keys, policies or details, huge and gzip-bomb inputs', () => {
    expect(refusal(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toEqual({
      code: 'too-deep',
      message: expect.stringContaining('more than 16 levels'),
    });
    const nested = Array.from({ length: 14 }).reduce<Record<string, unknown>>((inner) => ({ a: inner }), {});
    expect(refusal(variant((report) => (report.policies[0].policy.x = nested)))).toMatchObject({ code: 'too-deep' });
    expect(refusal(variant((report) => (report['organization-name'] = 'x'.repeat(20_000))))).toEqual({
      code: 'string-too-long',
      message: expect.stringContaining('a string at organization-name is 20000 characters long'),
    });
    expect(
      refusal(variant((report) => (report.policies[0]['failure-details'][1]['additional-information'] = 'y'.repeat(17_000)))).message,
    ).toContain('policies[0]/failure-details[1]/additional-information');
    expect(refusal(`{"policies":[],${Array.from({ length: 300 }, (_, index) => `"k${index}":1`).join(',')}}`).code).toBe('too-many-items');
    expect(
      refusal(
        variant((report) => (report.policies = Array.from({ length: 11 }, () => report.policies[0]))),
        { maxPolicies: 10 },
      ),
    ).toEqual({ code: 'too-many-items', message: expect.stringContaining('11 policies, more than 10') });
    expect(
      refusal(
        variant(
          (report) => (report.policies[0]['failure-details'] = Array.from({ length: 30 }, () => report.policies[0]['failure-details'][0])),
        ),
        { maxFailureDetails: 20 },
      ).code,
    ).toBe('too-many-items');
    expect(refusal(Buffer.alloc(2 * 1024 * 1024, 0x20), { maxBytes: 1024 * 1024 })).toEqual({
      code: 'too-large',
      message: expect.stringContaining('more than 1048576'),
    });
    expect(refusal(gzipSync(Buffer.alloc(40 * 1024 * 1024, 0x20)))).toEqual({
      code: 'too-large',
      message: expect.stringContaining('decompresses to more than'),
    });
    expect(refusal(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02])).code).toBe('corrupt-gzip');
  });

  test('bytes that are not UTF-8, empty input, a number where a string belongs, unusable counts and dates', () => {
    expect(refusal(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])).code).toBe('invalid-utf8');
    expect(refusal('   ').code).toBe('empty');
    expect(refusal(variant((report) => (report.policies[0].policy['policy-domain'] = 42)))).toEqual({
      code: 'invalid-field',
      message: expect.stringContaining('policies[0]/policy/policy-domain is a number, not a string'),
    });
    expect(refusal(variant((report) => (report.policies[0].summary['total-failure-session-count'] = -1))).message).toContain(
      'total-failure-session-count is negative, not a whole number of sessions ≥ 0',
    );
    expect(refusal(variant((report) => (report.policies[0]['failure-details'][0]['failed-session-count'] = 1.5))).code).toBe(
      'invalid-count',
    );
    expect(refusal(variant((report) => (report.policies[0]['failure-details'][0]['failed-session-count'] = 'many'))).code).toBe(
      'invalid-count',
    );
    expect(refusal(variant((report) => delete report['date-range'])).code).toBe('invalid-date');
    expect(refusal(variant((report) => (report['date-range']['start-datetime'] = '2026-02-30T00:00:00Z')))).toEqual({
      code: 'invalid-date',
      message: expect.stringContaining('is not a real date-time'),
    });
    expect(refusal(variant((report) => (report['date-range']['end-datetime'] = 'yesterday'))).message).toContain(
      'is not an RFC 3339 date-time',
    );
    expect(refusal(variant((report) => (report.policies[0].policy['policy-domain'] = '')))).toMatchObject({ code: 'invalid-field' });
    expect(refusal('[1, 2, 3]')).toMatchObject({ code: 'not-a-report', message: expect.stringContaining('is JSON a list') });
  });

  test('a refusal quotes nothing of the document: values, unknown keys and JSON syntax errors are described, not repeated', () => {
    // A refused input may be anyone's JSON, and its reason goes into the ledger (docs/dataset.md, Quarantine).
    const secret = '078-05-1120-secret';
    const refusals = [
      refusal(`{"organization-name": ${secret}}`),
      refusal(`{"organization-name": "x", "${secret}" 1}`),
      refusal(`{"policies": [], "${secret}": "${'y'.repeat(20_000)}"}`),
      refusal(`{"${secret}": {${Array.from({ length: 300 }, (_, index) => `"k${index}":1`).join(',')}}}`),
      refusal(variant((report) => (report.version = secret))),
      refusal(variant((report) => (report['date-range']['start-datetime'] = secret))),
      refusal(variant((report) => (report.policies[0].policy['policy-domain'] = [secret]))),
      refusal(variant((report) => (report.policies[0].policy['policy-domain'] = 78051120))),
      refusal(variant((report) => (report.policies[0].summary['total-failure-session-count'] = secret))),
      refusal(variant((report) => (report.policies[0]['failure-details'][0]['failed-session-count'] = -78051120))),
    ];
    expect(refusals.map((entry) => entry.code)).toEqual([
      'malformed-json',
      'malformed-json',
      'string-too-long',
      'too-many-items',
      'unsupported-version',
      'invalid-date',
      'invalid-field',
      'invalid-field',
      'invalid-count',
      'invalid-count',
    ]);
    for (const { message } of refusals) {
      expect(message).not.toContain('078');
      expect(message).not.toContain('secret');
    }
    expect(refusals[1]?.message).toMatch(/at line 1, column \d+$/);
    expect(refusals[2]?.message).toContain('a string at (other key) is 20000 characters long');
  });

  test('whatever the input, the parser returns a report or throws TlsParseError: nothing else escapes', () => {
    const reportish = fc.dictionary(
      fc.constantFrom('organization-name', 'date-range', 'report-id', 'policies', 'contact-info', 'version', 'x'),
      fc.jsonValue({ maxDepth: 4 }),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          reportish.map((value) => JSON.stringify(value)),
        ),
        (text) => {
          try {
            parseTlsReport(text);
          } catch (error) {
            expect(error).toBeInstanceOf(TlsParseError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
