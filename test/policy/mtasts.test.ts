import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import {
  formatMtaStsPolicy,
  formatStsRecord,
  formatTlsRptRecord,
  isStsRecord,
  isTlsRptRecord,
  mtaStsId,
  mxMatches,
  mxPatternProblem,
  parseMtaStsPolicy,
  parseStsRecord,
  STS_ID_PATTERN,
} from '../../scripts/policy/mtasts.ts';
import { mxCoverage } from '../../scripts/policy/mx.ts';

describe('the policy id', () => {
  const label = fc.stringMatching(/^[a-z0-9]{1,10}$/);
  const policy = fc.record({
    mode: fc.constantFrom('enforce' as const, 'testing' as const, 'none' as const),
    mx: fc.array(
      fc.tuple(label, label).map(([a, b]) => `${a}.${b}.example`),
      { minLength: 1, maxLength: 5 },
    ),
    maxAge: fc.integer({ min: 0, max: 31_557_600 }),
  });

  test('is 1–32 letters and digits (RFC 8461 §3.1), and changes exactly when the policy file does', () => {
    fc.assert(
      fc.property(policy, policy, (a, b) => {
        expect(mtaStsId(a)).toMatch(STS_ID_PATTERN);
        const sameFile = formatMtaStsPolicy(a) === formatMtaStsPolicy(b);
        expect(mtaStsId(a) === mtaStsId(b)).toBe(sameFile);
      }),
    );
  });

  test('does not depend on the order or case of the mx patterns', () => {
    fc.assert(
      fc.property(policy, (a) => {
        const shuffled = { ...a, mx: [...a.mx].reverse().map((pattern) => pattern.toUpperCase()) };
        expect(mtaStsId(shuffled)).toBe(mtaStsId(a));
      }),
    );
  });

  test('an explicit id is published as is', () => {
    expect(formatStsRecord(mtaStsId({ mode: 'testing', mx: ['mx.a.example'], maxAge: 86400, id: 'v20260101' }))).toBe(
      'v=STSv1; id=v20260101',
    );
  });
});

describe('records', () => {
  test('TLS reporting: URIs joined with commas, commas and semicolons inside a URI percent-encoded (RFC 8460 §3)', () => {
    expect(formatTlsRptRecord(['mailto:a@x.example', 'https://r.example/p?a=1,2;b'])).toBe(
      'v=TLSRPTv1; rua=mailto:a@x.example,https://r.example/p?a=1%2C2%3Bb',
    );
  });

  test('what counts as an MTA-STS or TLS-RPT record (the version tag is case-sensitive)', () => {
    expect(isStsRecord('v=STSv1; id=abc')).toBe(true);
    expect(isStsRecord('v=STSv1')).toBe(true);
    expect(isStsRecord('v=stsv1; id=abc')).toBe(false);
    expect(isStsRecord('v=STSv10; id=abc')).toBe(false);
    expect(isStsRecord('v=DMARC1; p=none')).toBe(false);
    expect(isTlsRptRecord('v=TLSRPTv1;rua=mailto:a@b.example')).toBe(true);
    expect(isTlsRptRecord('v=TLSRPTv2; rua=mailto:a@b.example')).toBe(false);
  });

  test('parseStsRecord reads the id and says what is wrong', () => {
    expect(parseStsRecord('v=STSv1; id=20160831085700Z;')).toEqual({ id: '20160831085700Z', problems: [] });
    expect(parseStsRecord('v=STSv1;id=abc; ext=1')).toEqual({ id: 'abc', problems: [] });
    expect(parseStsRecord('v=STSv1; id=a-b').problems).toEqual(['id "a-b" is not 1 to 32 letters and digits']);
    expect(parseStsRecord('v=STSv1; id=a; id=b').problems).toEqual(['has more than one id field']);
    expect(parseStsRecord('v=STSv1').problems).toEqual(['has no id field']);
  });
});

describe('reading a policy file', () => {
  test('the RFC 8461 §3.2 example, with LF line ends as its grammar allows', () => {
    const parsed = parseMtaStsPolicy(
      'version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n',
    );
    expect(parsed).toEqual({
      version: 'STSv1',
      mode: 'enforce',
      mx: ['mail.example.com', '*.example.net', 'backupmx.example.com'],
      maxAge: 604800,
      problems: [],
      lineEnds: 'lf',
    });
  });

  test('what senders would refuse is named', () => {
    expect(parseMtaStsPolicy('version: STSv2\r\nmode: strict\r\nmax_age: 99999999999\r\n').problems).toEqual([
      'max_age "99999999999" is not a number of seconds from 0 to 31557600',
      'version "STSv2" is not STSv1',
      'mode "strict" is not enforce, testing or none',
      'no mx line (required unless mode is none)',
    ]);
    expect(parseMtaStsPolicy('<html>not found</html>').problems[0]).toBe('line "<html>not found</html>" is not key: value');
  });
});

describe('mx patterns (RFC 8461 §4.1)', () => {
  test('a wildcard matches exactly one left-most label', () => {
    expect(mxMatches('mx1.example.net', '*.example.net')).toBe(true);
    expect(mxMatches('MX1.Example.NET.', '*.example.net')).toBe(true);
    expect(mxMatches('example.net', '*.example.net')).toBe(false);
    expect(mxMatches('a.b.example.net', '*.example.net')).toBe(false);
    expect(mxMatches('mail.example.com', 'mail.example.com')).toBe(true);
    expect(mxMatches('mail2.example.com', 'mail.example.com')).toBe(false);
  });

  test.each([
    ['mx1.example.com', null],
    ['*.mail.example.com', null],
    ['mx*.example.com', 'has a * that is not the whole left-most label (*.example.net)'],
    ['*.*.example.com', 'has a * that is not the whole left-most label (*.example.net)'],
    ['mail.example.com.', 'ends with a dot: write the name without it'],
    ['192.0.2.1', 'is an IP address; MTA-STS matches MX host names'],
    ['localhost', 'is not a fully qualified host name'],
    ['*.com', 'the wildcard must stand before a domain of two labels or more'],
    ['*.co.uk', 'matches every host under the public suffix co.uk'],
    ['mx_1.example.com', 'label "mx_1" is not letters, digits and inner hyphens'],
    ['-mx.example.com', 'label "-mx" is not letters, digits and inner hyphens'],
    ['bücher.example', 'is not ASCII: write an internationalised name in its xn-- form'],
  ])('%s', (pattern, problem) => {
    expect(mxPatternProblem(pattern)).toBe(problem);
  });

  test('coverage: MX hosts no pattern matches, patterns that match no MX host, null MX', () => {
    expect(mxCoverage(['mx1.a.example', '*.b.example'], ['mx1.a.example', 'x.b.example', 'mx2.a.example'])).toEqual({
      unmatchedHosts: ['mx2.a.example'],
      unusedPatterns: [],
      nullMx: false,
    });
    expect(mxCoverage(['mx1.a.example', '*.old.example'], ['mx1.a.example'])).toEqual({
      unmatchedHosts: [],
      unusedPatterns: ['*.old.example'],
      nullMx: false,
    });
    expect(mxCoverage(['mx1.a.example'], ['']).nullMx).toBe(true);
  });
});
