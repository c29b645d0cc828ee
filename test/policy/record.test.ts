import { describe, expect, test } from 'vitest';
import type { DomainPolicy } from '../../scripts/policy/model.ts';
import { makePolicy } from '../helpers/policy.ts';
import {
  externalReportDestinations,
  formatDmarcRecord,
  isDmarcRecord,
  managedRecords,
  parseDmarcRecord,
  policyRecord,
  reportUriHosts,
} from '../../scripts/policy/record.ts';

function policy(domain: string, fields: Partial<DomainPolicy> = {}): DomainPolicy {
  return makePolicy(domain, { file: 'domains/x.yaml', ...fields });
}

const codes = (input: string | string[]): string[] => parseDmarcRecord(input).problems.map((problem) => problem.code);

describe('formatDmarcRecord', () => {
  test('writes v first, then the tags in canonical order, without a trailing semicolon', () => {
    expect(
      formatDmarcRecord({
        ri: 3600,
        rua: [{ uri: 'mailto:a@example.com', size: { raw: '10m', bytes: 10485760n } }, { uri: 'mailto:b@example.net' }],
        p: 'reject',
        psd: 'n',
        adkim: 's',
        np: 'reject',
        sp: 'quarantine',
        t: 'y',
        pct: 50,
        aspf: 's',
        ruf: [{ uri: 'mailto:f@example.com' }],
        fo: '1:d',
        rf: 'afrf',
      }),
    ).toBe(
      'v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=s; pct=50; t=y; psd=n; ' +
        'rua=mailto:a@example.com!10m,mailto:b@example.net; ruf=mailto:f@example.com; fo=1:d; rf=afrf; ri=3600',
    );
  });

  test('an empty record is just the version, and an empty rua list is left out', () => {
    expect(formatDmarcRecord({})).toBe('v=DMARC1');
    expect(formatDmarcRecord({ p: 'none', rua: [] })).toBe('v=DMARC1; p=none');
  });

  test('percent-encodes characters that would break the URI list', () => {
    expect(formatDmarcRecord({ rua: [{ uri: 'mailto:a,b!c;d e@example.com' }] })).toBe(
      'v=DMARC1; rua=mailto:a%2Cb%21c%3Bd%20e@example.com',
    );
  });
});

describe('parseDmarcRecord', () => {
  test('joins several character-strings with no separator (RFC 7489 §6.1)', () => {
    const parsed = parseDmarcRecord(['v=DMARC1; p=rej', 'ect; rua=mailto:d@exam', 'ple.com']);
    expect(parsed.isDmarc).toBe(true);
    expect(parsed.text).toBe('v=DMARC1; p=reject; rua=mailto:d@example.com');
    expect(parsed.record).toStrictEqual({ p: 'reject', rua: [{ uri: 'mailto:d@example.com' }] });
    expect(parsed.problems).toStrictEqual([]);
  });

  test('accepts whitespace around ; = and , and a trailing semicolon', () => {
    const parsed = parseDmarcRecord('v = DMARC1 ;p =\tquarantine ;  rua = mailto:a@example.com , mailto:b@example.com ; ');
    expect(parsed.record).toStrictEqual({
      p: 'quarantine',
      rua: [{ uri: 'mailto:a@example.com' }, { uri: 'mailto:b@example.com' }],
    });
    expect(parsed.problems).toStrictEqual([]);
    expect(parseDmarcRecord('v=DMARC1;').problems).toStrictEqual([]);
  });

  test('reads tag names and keyword values in any case', () => {
    const parsed = parseDmarcRecord('V=DMARC1; P=Reject; SP=NONE; ADKIM=S; Aspf=s; T=Y; PSD=N; Fo=D:S; RF=AFRF');
    expect(parsed.record).toStrictEqual({ p: 'reject', sp: 'none', adkim: 's', aspf: 's', t: 'y', psd: 'n', fo: 'd:s', rf: 'afrf' });
    expect(parsed.tags.map((tag) => tag.tag)).toStrictEqual(['v', 'p', 'sp', 'adkim', 'aspf', 't', 'psd', 'fo', 'rf']);
  });

  test('keeps tags in written order so a linter can check that p follows v', () => {
    expect(parseDmarcRecord('v=DMARC1; rua=mailto:a@b.example; p=none').tags).toStrictEqual([
      { tag: 'v', value: 'DMARC1' },
      { tag: 'rua', value: 'mailto:a@b.example' },
      { tag: 'p', value: 'none' },
    ]);
  });

  test('the version is case-sensitive: v=dmarc1 is not a DMARC record', () => {
    const parsed = parseDmarcRecord('v=dmarc1; p=reject');
    expect(parsed.isDmarc).toBe(false);
    expect(parsed.record).toStrictEqual({});
    expect(parsed.problems).toMatchObject([{ code: 'version-invalid', tag: 'v', value: 'dmarc1' }]);
  });

  test('v must come first', () => {
    expect(parseDmarcRecord('p=reject; v=DMARC1')).toMatchObject({ isDmarc: false, problems: [{ code: 'version-missing' }] });
  });

  test('a missing separator after the version makes it invalid', () => {
    expect(parseDmarcRecord('v=DMARC1 p=reject').problems).toMatchObject([{ code: 'version-invalid', value: 'DMARC1 p=reject' }]);
  });

  test('leading whitespace makes receivers ignore the record', () => {
    expect(parseDmarcRecord(' v=DMARC1; p=reject')).toMatchObject({ isDmarc: false, problems: [{ code: 'leading-whitespace' }] });
  });

  test('an SPF record at _dmarc is not DMARC', () => {
    expect(parseDmarcRecord('v=spf1 include:_spf.google.com ~all')).toMatchObject({
      isDmarc: false,
      problems: [{ code: 'version-invalid' }],
    });
    expect(isDmarcRecord('v=spf1 -all')).toBe(false);
  });

  test('empty input is not DMARC', () => {
    expect(codes('')).toStrictEqual(['empty-record']);
    expect(codes([])).toStrictEqual(['empty-record']);
    expect(codes(['', ''])).toStrictEqual(['empty-record']);
  });

  test('isDmarcRecord tells DMARC TXT values from unrelated ones', () => {
    expect(isDmarcRecord('v=DMARC1')).toBe(true);
    expect(isDmarcRecord('v=DMARC1; p=none')).toBe(true);
    expect(isDmarcRecord(['v=DMA', 'RC1; p=none'])).toBe(true);
    expect(isDmarcRecord('v=DMARC1x; p=none')).toBe(false);
    expect(isDmarcRecord('google-site-verification=abc')).toBe(false);
    expect(isDmarcRecord('v=DMARC2; p=none')).toBe(false);
  });

  test('reports a duplicated tag and keeps the first value', () => {
    const parsed = parseDmarcRecord('v=DMARC1; p=reject; p=none');
    expect(parsed.record.p).toBe('reject');
    expect(parsed.problems).toMatchObject([{ code: 'duplicate-tag', tag: 'p', value: 'none' }]);
    expect(codes('v=DMARC1; P=none; v=DMARC1')).toStrictEqual(['duplicate-tag']);
  });

  test('reports invalid values with tag and value, and leaves them out of the record', () => {
    const parsed = parseDmarcRecord(
      'v=DMARC1; p=rejected; sp=; np=block; adkim=x; aspf=relaxed; pct=101; t=yes; psd=maybe; ri=-1; fo=2; rf=a f',
    );
    expect(parsed.isDmarc).toBe(true);
    expect(parsed.record).toStrictEqual({});
    expect(parsed.problems.map((problem) => [problem.code, problem.tag, problem.value])).toStrictEqual([
      ['invalid-value', 'p', 'rejected'],
      ['invalid-value', 'sp', ''],
      ['invalid-value', 'np', 'block'],
      ['invalid-value', 'adkim', 'x'],
      ['invalid-value', 'aspf', 'relaxed'],
      ['invalid-value', 'pct', '101'],
      ['invalid-value', 't', 'yes'],
      ['invalid-value', 'psd', 'maybe'],
      ['invalid-value', 'ri', '-1'],
      ['invalid-value', 'fo', '2'],
      ['invalid-value', 'rf', 'a f'],
    ]);
  });

  test('pct and ri bounds', () => {
    expect(parseDmarcRecord('v=DMARC1; pct=0').record).toStrictEqual({ pct: 0 });
    expect(parseDmarcRecord('v=DMARC1; pct=100').record).toStrictEqual({ pct: 100 });
    expect(codes('v=DMARC1; pct=50.5')).toStrictEqual(['invalid-value']);
    expect(parseDmarcRecord('v=DMARC1; ri=4294967295').record).toStrictEqual({ ri: 4294967295 });
    expect(codes('v=DMARC1; ri=4294967296')).toStrictEqual(['invalid-value']);
  });

  test('malformed pieces are reported and the rest is still read', () => {
    const parsed = parseDmarcRecord('v=DMARC1;; reject; p-x=1; p=none');
    expect(parsed.record).toStrictEqual({ p: 'none' });
    expect(parsed.problems.map((problem) => [problem.code, problem.value])).toStrictEqual([
      ['malformed-tag', ''],
      ['malformed-tag', 'reject'],
      ['malformed-tag', 'p-x=1'],
    ]);
  });

  test('keeps unknown tags without calling them an error', () => {
    const parsed = parseDmarcRecord('v=DMARC1; p=none; Foo=Bar baz; x=');
    expect(parsed.unknownTags).toStrictEqual([
      { tag: 'foo', value: 'Bar baz' },
      { tag: 'x', value: '' },
    ]);
    expect(parsed.problems).toStrictEqual([]);
  });

  test('reads size suffixes as powers of two, in any case', () => {
    const parsed = parseDmarcRecord(
      'v=DMARC1; rua=mailto:a@x.example!512,mailto:b@x.example!1k,mailto:c@x.example!10M,mailto:d@x.example!2g,mailto:e@x.example!3t',
    );
    expect(parsed.record.rua?.map((uri) => uri.size)).toStrictEqual([
      { raw: '512', bytes: 512n },
      { raw: '1k', bytes: 1024n },
      { raw: '10M', bytes: 10n * 2n ** 20n },
      { raw: '2g', bytes: 2n * 2n ** 30n },
      { raw: '3t', bytes: 3n * 2n ** 40n },
    ]);
    expect(parsed.problems).toStrictEqual([]);
  });

  test('a size that does not parse or overflows 64 bits gives bytes null and a problem', () => {
    const parsed = parseDmarcRecord(
      'v=DMARC1; rua=mailto:a@x.example!10x,mailto:b@x.example!18446744073709551615,' +
        'mailto:c@x.example!18446744073709551616,mailto:d@x.example!16777216t,mailto:e@x.example!',
    );
    expect(parsed.record.rua?.map((uri) => uri.size?.bytes)).toStrictEqual([null, 2n ** 64n - 1n, null, null, null]);
    expect(parsed.problems.map((problem) => [problem.code, problem.tag, problem.value])).toStrictEqual([
      ['invalid-size', 'rua', 'mailto:a@x.example!10x'],
      ['size-overflow', 'rua', 'mailto:c@x.example!18446744073709551616'],
      ['size-overflow', 'rua', 'mailto:d@x.example!16777216t'],
      ['invalid-size', 'rua', 'mailto:e@x.example!'],
    ]);
  });

  test('drops entries that are not URIs and reports them', () => {
    const parsed = parseDmarcRecord('v=DMARC1; rua=dmarc@example.com,,mailto:ok@example.com; ruf=');
    expect(parsed.record).toStrictEqual({ rua: [{ uri: 'mailto:ok@example.com' }] });
    expect(parsed.problems.map((problem) => [problem.code, problem.tag, problem.value])).toStrictEqual([
      ['invalid-uri', 'rua', 'dmarc@example.com'],
      ['invalid-uri', 'rua', ''],
      ['invalid-uri', 'ruf', ''],
    ]);
  });

  test('reads RFC 9989 and RFC 7489 tags side by side', () => {
    expect(parseDmarcRecord('v=DMARC1; p=reject; np=reject; psd=y; t=n; pct=100; ri=86400; rf=afrf').record).toStrictEqual({
      p: 'reject',
      np: 'reject',
      psd: 'y',
      t: 'n',
      pct: 100,
      ri: 86400,
      rf: 'afrf',
    });
  });
});

describe('policyRecord', () => {
  test('the minimal record is just p', () => {
    expect(policyRecord(policy('example.com', { p: 'none' }))).toStrictEqual({ p: 'none' });
  });

  test('omits what equals the receivers’ defaults', () => {
    const record = policyRecord(policy('example.com', { p: 'reject', sp: 'reject', np: 'reject', pct: 100, psd: 'u', ri: 86400 }));
    expect(record).toStrictEqual({ p: 'reject' });
  });

  test('sp only when it differs from p; np only when it differs from the effective sp', () => {
    expect(policyRecord(policy('example.com', { p: 'reject', sp: 'none' }))).toStrictEqual({ p: 'reject', sp: 'none' });
    expect(policyRecord(policy('example.com', { p: 'reject', sp: 'none', np: 'none' }))).toStrictEqual({
      p: 'reject',
      sp: 'none',
    });
    expect(policyRecord(policy('example.com', { p: 'reject', sp: 'none', np: 'reject' }))).toStrictEqual({
      p: 'reject',
      sp: 'none',
      np: 'reject',
    });
    expect(policyRecord(policy('example.com', { p: 'quarantine', np: 'reject' }))).toStrictEqual({
      p: 'quarantine',
      np: 'reject',
    });
  });

  test('writes the non-default choices', () => {
    const rua = [{ uri: 'mailto:d@example.com', size: { raw: '10m', bytes: 10485760n } }];
    const record = policyRecord(policy('example.com', { adkim: 's', aspf: 's', pct: 0, testing: true, psd: 'n', rua, ri: 3600 }));
    expect(record).toStrictEqual({ p: 'reject', adkim: 's', aspf: 's', pct: 0, t: 'y', psd: 'n', rua, ri: 3600 });
    expect(record.rua).not.toBe(rua);
  });

  test('never publishes failure reporting tags', () => {
    const record = policyRecord(policy('example.com'));
    expect(record.ruf).toBeUndefined();
    expect(record.fo).toBeUndefined();
    expect(record.rf).toBeUndefined();
  });
});

describe('reportUriHosts', () => {
  test('takes the domain of a mailto address, lower-cased and percent-decoded', () => {
    expect(reportUriHosts('mailto:DMARC@Reports.Example.NET')).toStrictEqual(['reports.example.net']);
    expect(reportUriHosts('mailto:dmarc%40example.org')).toStrictEqual(['example.org']);
    expect(reportUriHosts('mailto:dmarc@example.org?subject=dmarc')).toStrictEqual(['example.org']);
    expect(reportUriHosts('mailto:a@one.example%2Cb@two.example')).toStrictEqual(['one.example', 'two.example']);
  });

  test('converts internationalised names to A-labels and drops a trailing dot', () => {
    expect(reportUriHosts('mailto:dmarc@bücher.example.')).toStrictEqual(['xn--bcher-kva.example']);
  });

  test('takes the host of other URIs, and nothing from junk or IP literals', () => {
    expect(reportUriHosts('https://Reports.example.net/dmarc')).toStrictEqual(['reports.example.net']);
    expect(reportUriHosts('mailto:no-at-sign')).toStrictEqual([]);
    expect(reportUriHosts('mailto:d@192.0.2.1')).toStrictEqual([]);
    expect(reportUriHosts('not a uri')).toStrictEqual([]);
  });

  test('a host DNS cannot hold is no destination: no authorisation record is made for it', () => {
    expect(reportUriHosts('mailto:d@exa*mple.com')).toStrictEqual([]);
    expect(reportUriHosts(`mailto:d@${'a'.repeat(64)}.example`)).toStrictEqual([]);
    expect(reportUriHosts('https://[2001:db8::1]/dmarc')).toStrictEqual([]);
  });
});

describe('externalReportDestinations and managedRecords', () => {
  const mailto = (address: string) => ({ uri: `mailto:${address}` });

  test('a rua host in the same organizational domain needs no authorisation', () => {
    const example = policy('example.com', { rua: [mailto('dmarc@reports.example.com'), mailto('d@example.com')] });
    expect(externalReportDestinations(example)).toStrictEqual([]);
    expect(managedRecords([example]).map((record) => record.purpose)).toStrictEqual(['policy']);
  });

  test('a subdomain policy reporting to its organizational domain needs no authorisation', () => {
    expect(externalReportDestinations(policy('mail.example.co.uk', { rua: [mailto('d@example.co.uk')] }))).toStrictEqual([]);
  });

  test('an external rua host lists its authorisation record name, once per host', () => {
    const example = policy('example.com', {
      rua: [mailto('a@dmarc.example.net'), mailto('b@dmarc.example.net'), mailto('c@vendor.example')],
    });
    expect(externalReportDestinations(example)).toStrictEqual([
      {
        host: 'dmarc.example.net',
        recordName: 'example.com._report._dmarc.dmarc.example.net',
        uris: ['mailto:a@dmarc.example.net', 'mailto:b@dmarc.example.net'],
      },
      { host: 'vendor.example', recordName: 'example.com._report._dmarc.vendor.example', uris: ['mailto:c@vendor.example'] },
    ]);
  });

  test('the organizational domain comes from the ICANN section of the PSL only', () => {
    // github.io is a private-section suffix: both names belong to the organizational domain github.io.
    expect(externalReportDestinations(policy('a.github.io', { rua: [mailto('d@b.github.io')] }))).toStrictEqual([]);
  });

  test('an external host in a managed zone gets a v=DMARC1 authorisation in that zone', () => {
    const example = policy('example.com', { rua: [mailto('dmarc@reports.example.net')] });
    const net = policy('example.net', { dns: { provider: 'powerdns', zone: 'example.net', ttl: 300 } });
    expect(managedRecords([example, net])).toStrictEqual([
      {
        zone: 'example.com',
        name: '_dmarc.example.com',
        type: 'TXT',
        ttl: 3600,
        values: ['v=DMARC1; p=reject; rua=mailto:dmarc@reports.example.net'],
        provider: 'cloudflare',
        purpose: 'policy',
        domain: 'example.com',
      },
      {
        zone: 'example.net',
        name: '_dmarc.example.net',
        type: 'TXT',
        ttl: 300,
        values: ['v=DMARC1; p=reject'],
        provider: 'powerdns',
        purpose: 'policy',
        domain: 'example.net',
      },
      {
        zone: 'example.net',
        name: 'example.com._report._dmarc.reports.example.net',
        type: 'TXT',
        ttl: 300,
        values: ['v=DMARC1'],
        provider: 'powerdns',
        purpose: 'report-authorization',
        domain: 'example.com',
      },
    ]);
  });

  test('an external host in an unmanaged zone gets no record', () => {
    const example = policy('example.com', { rua: [mailto('dmarc@vendor.example')] });
    expect(managedRecords([example]).map((record) => record.name)).toStrictEqual(['_dmarc.example.com']);
  });

  test('the most specific managed zone holds the authorisation', () => {
    const example = policy('example.com', { rua: [mailto('d@reports.sub.example.net')] });
    const net = policy('example.net');
    const sub = policy('sub.example.net');
    const authorisations = managedRecords([example, net, sub]).filter((record) => record.purpose === 'report-authorization');
    expect(authorisations.map((record) => [record.zone, record.name])).toStrictEqual([
      ['sub.example.net', 'example.com._report._dmarc.reports.sub.example.net'],
    ]);
  });

  test('zone names are compared without case or trailing dot', () => {
    const example = policy('example.com', { rua: [mailto('d@example.net')] });
    const net = policy('example.net', { dns: { provider: 'rfc2136', zone: 'Example.NET.', ttl: 60 } });
    const authorisation = managedRecords([example, net]).find((record) => record.purpose === 'report-authorization');
    expect(authorisation).toMatchObject({ zone: 'Example.NET.', name: 'example.com._report._dmarc.example.net', ttl: 60 });
  });

  test('drops duplicates and sorts by zone, then name, whatever the input order', () => {
    const b = policy('b.example', { rua: [mailto('d@a.example')] });
    const a = policy('a.example');
    const sub = policy('sub.a.example', { dns: { provider: 'cloudflare', zone: 'a.example', ttl: 3600 } });
    const forwards = managedRecords([b, a, sub, b]);
    expect(forwards.map((record) => record.name)).toStrictEqual([
      '_dmarc.a.example',
      '_dmarc.sub.a.example',
      'b.example._report._dmarc.a.example',
      '_dmarc.b.example',
    ]);
    expect(managedRecords([sub, b, a])).toStrictEqual(forwards);
  });
});
