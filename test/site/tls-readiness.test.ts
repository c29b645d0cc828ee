/** The MTA-STS readiness rules and the policy comparison (scripts/site/tls-readiness.ts), one by one. */
import { describe, expect, test } from 'vitest';
import type { TlsDefinedPolicy, TlsPolicySeen } from '../../scripts/site/model.ts';
import { describeMoved } from '../../scripts/site/readiness.ts';
import {
  ENFORCE_MIN_MAX_AGE,
  TLS_MAX_FAILURE_SHARE,
  TLS_MIN_DAYS,
  assessTlsReadiness,
  assessTlsWithNewReporters,
  comparePolicy,
  fixFor,
  readPolicyString,
  samePolicy,
} from '../../scripts/site/tls-readiness.ts';
import type { TlsReadinessInput, TlsReporterWindow } from '../../scripts/site/tls-readiness.ts';
import { BLOCKING_RESULT_TYPES, POLICY_RESULT_TYPES, RESULT_TYPE_MEANINGS, underEnforce } from '../../scripts/site/tls-types.ts';

const CURRENT = { policy: 'current' as const, day: '2026-06-30', description: 'testing with mx mx1.example.com (max_age 86400)' };

function reporter(overrides: Partial<TlsReporterWindow>): TlsReporterWindow {
  return {
    org: 'Google Inc.',
    firstSeen: '2026-01-01',
    new: false,
    reports: 14,
    successful: 10_000,
    failed: 0,
    failures: [],
    saw: CURRENT,
    daysOfData: 60,
    ...overrides,
  };
}

const google = reporter({});
const microsoft = reporter({ org: 'Microsoft Corporation', successful: 3_000 });

function input(overrides: Partial<TlsReadinessInput> = {}): TlsReadinessInput {
  return {
    domain: 'example.com',
    file: 'domains/example.com.yaml',
    policy: { mode: 'testing', maxAge: 86_400 },
    hasTlsReports: true,
    windowDays: 14,
    reporters: [google, microsoft],
    ...overrides,
  };
}

describe('assessTlsReadiness', () => {
  test('no mta_sts in the domain file: no-policy, with the edit to make', () => {
    const verdict = assessTlsReadiness(input({ policy: null }));
    expect(verdict.verdict).toBe('no-policy');
    expect(verdict.nextStep).toBe('add `mta_sts` with `mode: testing` and your MX hosts to domains/example.com.yaml');
    expect(assessTlsReadiness(input({ policy: null, hasTlsReports: false })).nextStep).toMatch(/and `tls_reports`,/);
  });

  test('mode none: withdrawn, whatever the reports say', () => {
    const verdict = assessTlsReadiness(input({ policy: { mode: 'none', maxAge: 86_400 } }));
    expect(verdict).toMatchObject({ verdict: 'withdrawn', nextStep: null });
    expect(verdict.reasons.join(' ')).toMatch(/RFC 8461 §8\.3/);
  });

  test('no session in the window: no-data; without tls_reports the next step is to add them', () => {
    const silent = [reporter({ successful: 0, failed: 0, reports: 0, saw: null })];
    expect(assessTlsReadiness(input({ reporters: silent }))).toMatchObject({ verdict: 'no-data', nextStep: null });
    expect(assessTlsReadiness(input({ reporters: [] })).reasons[0]).toMatch(/_smtp\._tls\.example\.com/);
    expect(assessTlsReadiness(input({ reporters: [], hasTlsReports: false })).nextStep).toBe(
      'add `tls_reports` to domains/example.com.yaml',
    );
  });

  test('enforce without failures: enforced, nothing to do', () => {
    const verdict = assessTlsReadiness(input({ policy: { mode: 'enforce', maxAge: 604_800 } }));
    expect(verdict).toMatchObject({ verdict: 'enforced', nextStep: null, days: 14 });
    expect(verdict.summary).toBe('Enforced: 100% of sessions succeed with TLS');
  });

  test('enforce with failures: enforced, the failures named (that mail was not delivered), the fix for the biggest', () => {
    const failing = reporter({
      failed: 40,
      failures: [
        { type: 'certificate-expired', mx: 'mx2.example.com', sessions: 38 },
        { type: 'validation-failure', mx: 'mx2.example.com', sessions: 2 },
      ],
    });
    const verdict = assessTlsReadiness(input({ policy: { mode: 'enforce', maxAge: 604_800 }, reporters: [failing, microsoft] }));
    expect(verdict.verdict).toBe('enforced');
    expect(verdict.summary).toMatch(
      /^Enforced, but 40 sessions failed \(.+\): senders do not deliver to mx2\.example\.com \(certificate-expired\)$/,
    );
    expect(verdict.reasons[0]).toBe('38 sessions failed with certificate-expired at mx2.example.com (reported by Google Inc.).');
    expect(verdict.nextStep).toBe('renew the certificate of mx2.example.com');
  });

  test('testing, a sender still sees another policy: not ready, publish and check', () => {
    const stale = reporter({
      org: 'Microsoft Corporation',
      saw: { policy: 'other', day: '2026-06-29', description: 'testing with mx mx1.example.com (max_age 86400)' },
    });
    const verdict = assessTlsReadiness(input({ reporters: [google, stale] }));
    expect(verdict.verdict).toBe('not-ready');
    expect(verdict.summary).toBe("Not ready: senders do not see the repository's policy");
    expect(verdict.reasons[0]).toBe('Microsoft Corporation last saw testing with mx mx1.example.com (max_age 86400) on 2026-06-29.');
    expect(verdict.nextStep).toMatch(/^publish the policy file \(`dmarcops mta-sts build`\).*`dmarcops mta-sts check`/);
  });

  test('testing, senders find no policy at all: not ready, said so', () => {
    const none = { policy: 'none' as const, day: '2026-06-30', description: 'no MTA-STS policy' };
    const verdict = assessTlsReadiness(
      input({ reporters: [reporter({ saw: none }), reporter({ org: 'Microsoft Corporation', saw: none })] }),
    );
    expect(verdict.summary).toBe('Not ready: senders find no MTA-STS policy');
    expect(verdict.reasons[0]).toBe('Google Inc. found no MTA-STS policy on 2026-06-30.');
  });

  test('testing, a failure enforce would refuse: not ready, however small, with the fix for the biggest (type, MX)', () => {
    for (const type of BLOCKING_RESULT_TYPES) {
      const one = reporter({ failed: 1, failures: [{ type, mx: 'mx1.example.com', sessions: 1 }] });
      const verdict = assessTlsReadiness(input({ reporters: [one, microsoft] }));
      expect(verdict.verdict, type).toBe('not-ready');
      expect(verdict.summary, type).toBe(`Not ready: 1 session failed ${type} at mx1.example.com`);
      expect(verdict.nextStep, type).toBe(fixFor(type, 'mx1.example.com', 'example.com'));
    }
    const two = reporter({
      failed: 9,
      failures: [
        { type: 'starttls-not-supported', mx: 'mx2.example.com', sessions: 2 },
        { type: 'certificate-not-trusted', mx: 'mx1.example.com', sessions: 7 },
      ],
    });
    const verdict = assessTlsReadiness(input({ reporters: [two, microsoft] }));
    expect(verdict.summary).toBe('Not ready: 7 sessions failed certificate-not-trusted at mx1.example.com, 2 more in 1 other way');
    expect(verdict.nextStep).toBe('serve a certificate for mx1.example.com from a public CA, with its full chain');
  });

  test('testing, other failures: not ready from TLS_MAX_FAILURE_SHARE of the sessions, ready below it (and said)', () => {
    const total = 13_000;
    const atLimit = Math.ceil(total * TLS_MAX_FAILURE_SHARE);
    const fetch = (sessions: number) =>
      reporter({ successful: 10_000 - sessions, failed: sessions, failures: [{ type: 'sts-policy-fetch-error', mx: null, sessions }] });
    const over = assessTlsReadiness(input({ reporters: [fetch(atLimit), microsoft] }));
    expect(over.verdict).toBe('not-ready');
    expect(over.summary).toMatch(/\(sts-policy-fetch-error\)$/);
    expect(over.nextStep).toBe(fixFor('sts-policy-fetch-error', null, 'example.com'));
    const under = assessTlsReadiness(input({ reporters: [fetch(atLimit - 2), microsoft] }));
    expect(under.verdict).toBe('ready-enforce');
    expect(under.reasons.join(' ')).toMatch(/failed in ways enforce does not refuse \(sts-policy-fetch-error\)/);
  });

  test('testing, one sending organisation only: watching', () => {
    const verdict = assessTlsReadiness(input({ reporters: [google, reporter({ org: 'Idle', successful: 0, reports: 0, saw: null })] }));
    expect(verdict.verdict).toBe('not-ready');
    expect(verdict.summary).toBe('Watching: reports from 1 sending organisation, 2 needed');
    expect(verdict.nextStep).toBeNull();
  });

  test(`testing, fewer than ${TLS_MIN_DAYS} days of reports: watching, with the days left`, () => {
    const verdict = assessTlsReadiness(
      input({ reporters: [reporter({ daysOfData: 9 }), reporter({ org: 'Microsoft Corporation', daysOfData: 5 })] }),
    );
    expect(verdict.verdict).toBe('not-ready');
    expect(verdict.summary).toBe(`Watching: 9 of ${TLS_MIN_DAYS} days of TLS reports`);
    expect(verdict.nextStep).toBe(`keep \`mode: testing\` for ${TLS_MIN_DAYS - 9} more days`);
    expect(verdict.days).toBe(9);
  });

  test('testing, clean: ready to enforce; max_age raised to a week when shorter', () => {
    const short = assessTlsReadiness(input());
    expect(short.verdict).toBe('ready-enforce');
    expect(short.nextStep).toBe(
      '`mode: testing` → `mode: enforce` and `max_age: 86400` → ' +
        `\`max_age: ${ENFORCE_MIN_MAX_AGE}\` or more (RFC 8461 §3.2: weeks) in domains/example.com.yaml`,
    );
    expect(assessTlsReadiness(input({ policy: { mode: 'testing', maxAge: 1_209_600 } })).nextStep).toBe(
      '`mode: testing` → `mode: enforce` in domains/example.com.yaml',
    );
  });

  test('fix hints name the host, and every RFC 8460 type has a meaning and an enforce effect', () => {
    expect(fixFor('starttls-not-supported', 'mx1.example.com', 'example.com')).toBe('offer STARTTLS on mx1.example.com');
    expect(fixFor('sts-webpki-invalid', null, 'example.com')).toMatch(/mta-sts\.example\.com/);
    expect(fixFor('x-unknown', null, 'example.com')).toBe('read the failure details reported for the MX host the reports name');
    for (const type of [...BLOCKING_RESULT_TYPES, ...POLICY_RESULT_TYPES, 'tlsa-invalid', 'dnssec-invalid', 'dane-required'])
      expect(RESULT_TYPE_MEANINGS[type], type).toBeTruthy();
    expect(underEnforce('certificate-expired')).toBe('refused');
    expect(underEnforce('sts-policy-invalid')).toBe('policy-not-applied');
    expect(underEnforce('dane-required')).toBe('other');
  });
});

describe('new sending organisations cannot move the verdict silently', () => {
  test('a new organisation that would be the second reporter: the verdict without it is shown, and says who would move it', () => {
    const fresh = reporter({ org: 'Example Org', new: true, firstSeen: '2026-06-25', successful: 500 });
    const result = assessTlsWithNewReporters(input({ reporters: [google, fresh] }));
    expect(result.verdict).toBe('not-ready');
    expect(result.summary).toMatch(/^Watching: reports from 1 sending organisation/);
    expect(result.moved).toMatchObject({
      counting: 'with',
      verdict: 'ready-enforce',
      by: [{ org: 'Example Org', firstSeen: '2026-06-25' }],
    });
    expect(describeMoved(result.moved!)).toMatch(/^“Ready to enforce: .*” only counting Example Org \(first received 2026-06-25\)/);
  });

  test('a new organisation whose back-dated report lengthens the history moves nothing', () => {
    const known = [reporter({ daysOfData: 10 }), reporter({ org: 'Microsoft Corporation', daysOfData: 10 })];
    const fresh = reporter({ org: 'Example Org', new: true, firstSeen: '2026-06-25', daysOfData: 400 });
    const result = assessTlsWithNewReporters(input({ reporters: [...known, fresh] }));
    expect(result.verdict).toBe('not-ready');
    expect(result.summary).toBe(`Watching: 10 of ${TLS_MIN_DAYS} days of TLS reports`);
    expect(result.moved?.counting).toBe('with');
  });

  test('a new organisation reporting failures holds the domain back, and the page says what it would be without it', () => {
    const fresh = reporter({
      org: 'Example Org',
      new: true,
      firstSeen: '2026-06-25',
      failed: 5,
      failures: [{ type: 'certificate-expired', mx: 'mx1.example.com', sessions: 5 }],
    });
    const result = assessTlsWithNewReporters(input({ reporters: [google, microsoft, fresh] }));
    expect(result.verdict).toBe('not-ready');
    expect(result.moved).toMatchObject({ counting: 'without', verdict: 'ready-enforce' });
    expect(describeMoved(result.moved!)).toMatch(/^Without the reports of Example Org .*this would be “Ready to enforce/);
  });

  test('only new organisations reported: no data from established senders', () => {
    const fresh = [reporter({ org: 'A', new: true }), reporter({ org: 'B', new: true })];
    const result = assessTlsWithNewReporters(input({ reporters: fresh }));
    expect(result.verdict).toBe('no-data');
    expect(result.summary).toBe('No TLS reports yet from established senders');
    expect(result.moved?.verdict).toBe('ready-enforce');
  });

  test('a new organisation that changes nothing: no note', () => {
    const result = assessTlsWithNewReporters(input({ reporters: [google, microsoft, reporter({ org: 'Example Org', new: true })] }));
    expect(result).toMatchObject({ verdict: 'ready-enforce', moved: null });
  });
});

// ---------------------------------------------------------------------------------------------

const DEFINED: TlsDefinedPolicy = { mode: 'testing', mx: ['mx1.example.com', 'mx2.example.com'], maxAge: 86_400, id: 'x', policyFile: '' };
const WHERE = { domain: 'example.com', file: 'domains/example.com.yaml' };

function seen(overrides: Partial<TlsPolicySeen>): TlsPolicySeen {
  return {
    type: 'sts',
    policyDomain: 'example.com',
    mode: 'testing',
    mx: ['mx1.example.com', 'mx2.example.com'],
    maxAge: 86_400,
    lines: [],
    vsRepository: 'same',
    reports: 10,
    sessions: 1000,
    firstSeen: '2026-06-01',
    lastSeen: '2026-06-30',
    ...overrides,
  };
}
const OLD = { mx: ['mx1.example.com'], vsRepository: 'differs' as const };

describe('readPolicyString and samePolicy', () => {
  test('the same policy whatever the order and case of its mx lines; any other mode, mx or max_age differs', () => {
    const reading = readPolicyString(['version: STSv1', 'mode: testing', 'mx: MX2.example.com', 'mx: mx1.example.com', 'max_age: 86400']);
    expect(reading).toEqual({ mode: 'testing', mx: ['mx1.example.com', 'mx2.example.com'], maxAge: 86_400 });
    expect(samePolicy(reading, DEFINED)).toBe(true);
    expect(samePolicy({ ...reading, mode: 'enforce' }, DEFINED)).toBe(false);
    expect(samePolicy({ ...reading, maxAge: 604_800 }, DEFINED)).toBe(false);
    expect(samePolicy({ ...reading, mx: ['mx1.example.com'] }, DEFINED)).toBe(false);
    expect(readPolicyString([])).toEqual({ mode: null, mx: [], maxAge: null });
  });
});

describe('comparePolicy', () => {
  test('every sender sees the repository policy: match', () => {
    expect(comparePolicy(DEFINED, [seen({})], WHERE)).toMatchObject({ status: 'match', details: [] });
  });

  test('the previous policy still reported within its max_age after the new one appeared: changing', () => {
    const result = comparePolicy(DEFINED, [seen({ firstSeen: '2026-06-30' }), seen({ ...OLD, lastSeen: '2026-06-30' })], WHERE);
    expect(result.status).toBe('changing');
    expect(result.details[0]).toMatch(/until about 2026-07-01 \(its max_age\)/);
  });

  test('the previous policy reported longer after the change than its max_age allows: stale', () => {
    const result = comparePolicy(DEFINED, [seen({ firstSeen: '2026-06-20' }), seen({ ...OLD, lastSeen: '2026-06-30' })], WHERE);
    expect(result.status).toBe('stale');
    expect(result.details.at(-1)).toMatch(/mta-sts\.example\.com serves an older file/);
  });

  test('an older policy that stopped before the last day: match, with the history', () => {
    const result = comparePolicy(DEFINED, [seen({ firstSeen: '2026-06-20' }), seen({ ...OLD, lastSeen: '2026-06-25' })], WHERE);
    expect(result.status).toBe('match');
    expect(result.details).toHaveLength(1);
  });

  test('senders never saw the repository policy: differs, with both policies and the max_age advice', () => {
    const result = comparePolicy({ ...DEFINED, mode: 'enforce' }, [seen({ vsRepository: 'differs' })], WHERE);
    expect(result.status).toBe('differs');
    expect(result.summary).toBe(
      'Senders saw testing with mx mx1.example.com, mx2.example.com (max_age 86400) (last on 2026-06-30); ' +
        'the repository says enforce with mx mx1.example.com, mx2.example.com (max_age 86400).',
    );
    expect(result.details[0]).toMatch(/max_age \(1 day\).*`dmarcops mta-sts check`/);
  });

  test('the repository policy was seen, but no longer: differs', () => {
    const result = comparePolicy(
      DEFINED,
      [seen({ lastSeen: '2026-06-20' }), seen({ ...OLD, firstSeen: '2026-06-21', lastSeen: '2026-06-30' })],
      WHERE,
    );
    expect(result.status).toBe('differs');
    expect(result.details[0]).toMatch(/seen from 2026-06-01 to 2026-06-20/);
  });

  test('senders found no policy: not-seen; no repository policy: not-defined or differs', () => {
    const none = seen({ type: 'no-policy-found', mode: null, mx: [], maxAge: null, vsRepository: 'differs' });
    expect(comparePolicy(DEFINED, [none], WHERE).status).toBe('not-seen');
    expect(comparePolicy(null, [{ ...none, vsRepository: 'n/a' }], WHERE).status).toBe('not-defined');
    expect(comparePolicy(null, [seen({ vsRepository: 'n/a' })], WHERE)).toMatchObject({
      status: 'differs',
      details: [expect.stringMatching(/Add `mta_sts` to domains\/example\.com\.yaml/)],
    });
    expect(comparePolicy(DEFINED, [], WHERE).status).toBe('no-data');
    // DANE (tlsa) reports say nothing about the MTA-STS policy.
    expect(comparePolicy(DEFINED, [seen({ type: 'tlsa', vsRepository: 'n/a' })], WHERE).status).toBe('no-data');
  });
});
