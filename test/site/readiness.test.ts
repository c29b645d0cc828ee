/** The readiness rules (scripts/site/readiness.ts), one by one. */
import { describe, expect, test } from 'vitest';
import {
  BASELINE_DAYS,
  LONG_WATCH_DAYS,
  MIN_DAYS,
  NEW_REPORTER_DAYS,
  assessReadiness,
  assessWithNewReporters,
  describeMoved,
  isNewReporter,
} from '../../scripts/site/readiness.ts';
import type { ReadinessInput, ReadinessSource, ReporterShare } from '../../scripts/site/readiness.ts';

function source(overrides: Partial<ReadinessSource>): ReadinessSource {
  return {
    label: 'x',
    declaredSender: null,
    service: false,
    messages: 0,
    compliant: 0,
    authorisedFailing: 0,
    unauthorised: 0,
    unauthorisedAuthenticated: 0,
    hint: null,
    ...overrides,
  };
}

const google = source({ label: 'Google Workspace', declaredSender: 'Google Workspace', messages: 10_000, compliant: 10_000 });

function input(overrides: Partial<ReadinessInput> = {}): ReadinessInput {
  return {
    domain: 'example.com',
    file: 'domains/example.com.yaml',
    policy: { p: 'none', testing: false, parked: false },
    window: { days: 30, compliant: 10_000, forwarded: 50, authorisedFailing: 0, unauthorised: 300 },
    daysOfData: 60,
    sources: [google],
    ...overrides,
  };
}

const silent = { days: 30, compliant: 0, forwarded: 0, authorisedFailing: 0, unauthorised: 0 };

describe('assessReadiness', () => {
  test('no mail: no-data', () => {
    const verdict = assessReadiness(input({ window: silent, daysOfData: 0, sources: [] }));
    expect(verdict.verdict).toBe('no-data');
    expect(verdict.nextStep).toBeNull();
    expect(verdict.days).toBe(0);
  });

  test('a parked domain with p=reject and no mail is enforced, and says so', () => {
    const verdict = assessReadiness(input({ policy: { p: 'reject', testing: false, parked: true }, window: silent, sources: [] }));
    expect(verdict.verdict).toBe('enforced');
    expect(verdict.summary).toMatch(/parked: p=reject is right/i);
  });

  test('a parked domain below reject goes to reject at once', () => {
    const verdict = assessReadiness(input({ policy: { p: 'none', testing: false, parked: true }, window: silent, sources: [] }));
    expect(verdict.verdict).toBe('ready-reject');
    expect(verdict.nextStep).toBe('`policy: none` → `policy: reject`');
  });

  test('p=reject without testing is enforced', () => {
    const verdict = assessReadiness(input({ policy: { p: 'reject', testing: false, parked: false } }));
    expect(verdict.verdict).toBe('enforced');
    expect(verdict.nextStep).toBeNull();
    expect(verdict.summary).toMatch(/100% of your own mail passes/);
  });

  test('enforced with a failing declared sender: its mail is being rejected, fix it', () => {
    const mailer = source({
      label: 'Mailer',
      declaredSender: 'Mailer',
      messages: 1000,
      compliant: 900,
      authorisedFailing: 100,
      hint: 'sign with d=example.com',
    });
    const verdict = assessReadiness(
      input({
        policy: { p: 'reject', testing: false, parked: false },
        window: { days: 30, compliant: 10_900, forwarded: 0, authorisedFailing: 100, unauthorised: 0 },
        sources: [google, mailer],
      }),
    );
    expect(verdict.verdict).toBe('enforced');
    expect(verdict.summary).toMatch(/100 messages .* rejected/);
    expect(verdict.reasons[0]).toMatch(/^Mailer: 90% of its 1,000 messages pass/);
    expect(verdict.nextStep).toBe('fix Mailer: sign with d=example.com');
  });

  test('a declared sender under 98% pass makes the domain not ready, even when its volume is small', () => {
    const small = source({
      label: 'CRM',
      declaredSender: 'CRM',
      messages: 100,
      compliant: 97,
      authorisedFailing: 3,
      hint: 'use a Return-Path under example.com',
    });
    const verdict = assessReadiness(
      input({ window: { days: 30, compliant: 10_097, forwarded: 0, authorisedFailing: 3, unauthorised: 0 }, sources: [google, small] }),
    );
    expect(verdict.verdict).toBe('not-ready');
    expect(verdict.summary).toBe('Not ready: CRM fails DMARC');
    expect(verdict.nextStep).toBe('fix CRM: use a Return-Path under example.com');
  });

  test('a declared sender at 98% pass is fine', () => {
    const edge = source({ label: 'CRM', declaredSender: 'CRM', messages: 100, compliant: 98, authorisedFailing: 2 });
    const verdict = assessReadiness(
      input({ window: { days: 30, compliant: 10_098, forwarded: 0, authorisedFailing: 2, unauthorised: 0 }, sources: [google, edge] }),
    );
    expect(verdict.verdict).not.toBe('not-ready');
  });

  test('authorised-failing at 1% of the volume is not ready, and every failing sender is named, worst first', () => {
    const a = source({ label: 'A', declaredSender: 'A', messages: 60, compliant: 0, authorisedFailing: 60 });
    const b = source({ label: 'B', declaredSender: 'B', messages: 50, compliant: 10, authorisedFailing: 40 });
    const verdict = assessReadiness(
      input({ window: { days: 30, compliant: 9_900, forwarded: 0, authorisedFailing: 100, unauthorised: 0 }, sources: [b, a] }),
    );
    expect(verdict.verdict).toBe('not-ready');
    expect(verdict.summary).toBe('Not ready: A, B fail DMARC');
    expect(verdict.reasons.some((r) => /1% of all mail comes from declared senders/.test(r))).toBe(true);
    // No hint: a generic one that still names what to change.
    expect(verdict.nextStep).toMatch(/^fix A: make it sign with d=example\.com/);
  });

  test('a named service sending 1% authenticated but undeclared: declare it or stop it', () => {
    const sendgrid = source({ label: 'SendGrid', service: true, messages: 200, unauthorised: 200, unauthorisedAuthenticated: 200 });
    const verdict = assessReadiness(
      input({ window: { days: 30, compliant: 9_800, forwarded: 0, authorisedFailing: 0, unauthorised: 200 }, sources: [google, sendgrid] }),
    );
    expect(verdict.verdict).toBe('not-ready');
    expect(verdict.summary).toMatch(/SendGrid sends as example\.com without being declared/);
    expect(verdict.nextStep).toBe('declare SendGrid under `senders:` in domains/example.com.yaml if it sends for you, or stop it');
  });

  test('spoofing from a service (nothing authenticated) does not hold the domain back', () => {
    const spoof = source({ label: 'SendGrid', service: true, messages: 2000, unauthorised: 2000, unauthorisedAuthenticated: 0 });
    const verdict = assessReadiness(
      input({ window: { days: 30, compliant: 8_000, forwarded: 0, authorisedFailing: 0, unauthorised: 2000 }, sources: [google, spoof] }),
    );
    expect(verdict.verdict).toBe('ready-reject');
    expect(verdict.reasons.some((r) => /unauthorised .* enforcement is what stops it/.test(r))).toBe(true);
  });

  test(`fewer than ${MIN_DAYS} days of reports: keep watching`, () => {
    const verdict = assessReadiness(
      input({ daysOfData: 5, window: { days: 30, compliant: 1000, forwarded: 0, authorisedFailing: 0, unauthorised: 0 } }),
    );
    expect(verdict.verdict).toBe('not-ready');
    expect(verdict.summary).toBe(`Watching: 5 of ${MIN_DAYS} days of reports`);
    expect(verdict.nextStep).toBe(`keep \`policy: none\` for ${MIN_DAYS - 5} more days`);
    expect(verdict.days).toBe(5);
  });

  test('the ramp: none → quarantine (testing) → quarantine → reject, one file edit at a time', () => {
    const step = (p: string, testing: boolean, daysOfData = 20) =>
      assessReadiness(input({ policy: { p, testing, parked: false }, daysOfData }));
    expect(step('none', false)).toMatchObject({
      verdict: 'ready-quarantine',
      nextStep: '`policy: none` → `policy: quarantine` with `testing: true`',
    });
    expect(step('none', false, LONG_WATCH_DAYS)).toMatchObject({ verdict: 'ready-reject' });
    expect(step('none', false, LONG_WATCH_DAYS).nextStep).toMatch(/^`policy: none` → `policy: reject` with `testing: true`/);
    expect(step('quarantine', true)).toMatchObject({ verdict: 'ready-quarantine', nextStep: '`testing: true` → `testing: false`' });
    expect(step('quarantine', false)).toMatchObject({ verdict: 'ready-reject', nextStep: '`policy: quarantine` → `policy: reject`' });
    expect(step('reject', true)).toMatchObject({ verdict: 'ready-reject', nextStep: '`testing: true` → `testing: false`' });
    for (const [p, testing] of [
      ['none', false],
      ['quarantine', true],
      ['quarantine', false],
      ['reject', true],
    ] as const) {
      expect(step(p, testing).nextStep ?? '').not.toMatch(/pct|percent/);
    }
  });

  test('the window is the shorter of 30 days and the history', () => {
    expect(assessReadiness(input({ daysOfData: 20 })).days).toBe(20);
    expect(assessReadiness(input({ daysOfData: 400 })).days).toBe(30);
  });
});

/** A new reporter's part of the sums: the same shape as the whole, added into `input` by the caller. */
function share(org: string, overrides: Partial<ReporterShare> = {}): ReporterShare {
  return {
    org,
    firstSeen: '2026-11-30',
    window: { days: 0, compliant: 0, forwarded: 0, authorisedFailing: 0, unauthorised: 0 },
    daysOfData: 0,
    sources: [],
    ...overrides,
  };
}

describe('new reporters cannot move the verdict silently', () => {
  const DAY = 86_400_000;
  test(`new: first received within ${NEW_REPORTER_DAYS} days, unless with the dataset's first ${BASELINE_DAYS} days of reports`, () => {
    const start = Date.UTC(2026, 0, 1);
    const now = start + 200 * DAY;
    expect(isNewReporter(now - 2 * DAY, start, now)).toBe(true);
    expect(isNewReporter(now - (NEW_REPORTER_DAYS - 1) * DAY, start, now)).toBe(true);
    expect(isNewReporter(now - (NEW_REPORTER_DAYS + 1) * DAY, start, now)).toBe(false);
    // A fresh dataset: its first week's reporters are the baseline, later ones are new.
    const young = start + 10 * DAY;
    expect(isNewReporter(start, start, young)).toBe(false);
    expect(isNewReporter(start + (BASELINE_DAYS - 1) * DAY, start, young)).toBe(false);
    expect(isNewReporter(start + (BASELINE_DAYS + 1) * DAY, start, young)).toBe(true);
  });

  test('a new reporter whose one back-dated report lengthens the history does not turn quarantine into reject', () => {
    // Known reporters: 20 days of clean mail (ready for quarantine). The forger adds a report dated 60 days back.
    const all = input({ daysOfData: 60 });
    expect(assessReadiness(all).verdict).toBe('ready-reject');
    const forged = share('Example Org', {
      daysOfData: 60,
      window: { days: 0, compliant: 10, forwarded: 0, authorisedFailing: 0, unauthorised: 0 },
    });
    const verdict = assessWithNewReporters(all, [forged], 20);
    expect(verdict.verdict).toBe('ready-quarantine');
    expect(verdict.moved).toEqual({
      counting: 'with',
      verdict: 'ready-reject',
      summary: assessReadiness(all).summary,
      by: [{ org: 'Example Org', firstSeen: '2026-11-30' }],
    });
    expect(describeMoved(verdict.moved!)).toBe(
      `“${assessReadiness(all).summary}” only counting Example Org (first received 2026-11-30): ` +
        `a reporter first received within the last ${NEW_REPORTER_DAYS} days does not move the verdict toward enforcement.`,
    );
  });

  test('when every report of the window is from a new reporter, the verdict waits (and says why)', () => {
    const all = input({ daysOfData: 20 });
    const everything = share('Forged Inc', { daysOfData: 20, window: { ...all.window }, sources: [google] });
    const verdict = assessWithNewReporters(all, [everything], 0);
    expect(verdict.verdict).toBe('no-data');
    expect(verdict.summary).toBe('No reports yet from established reporters');
    expect(verdict.moved).toMatchObject({ counting: 'with', verdict: 'ready-quarantine', by: [{ org: 'Forged Inc' }] });
  });

  test('a new reporter whose data holds the domain back: the cautious verdict stands, and the page says what it would be without it', () => {
    // Its reports show a declared sender failing: not ready. Without them: ready for quarantine.
    const failing = source({
      label: 'Google Workspace',
      declaredSender: 'Google Workspace',
      messages: 500,
      compliant: 0,
      authorisedFailing: 500,
    });
    const all = input({
      daysOfData: 20,
      window: { days: 30, compliant: 10_000, forwarded: 50, authorisedFailing: 500, unauthorised: 300 },
      sources: [source({ ...google, messages: 10_500, authorisedFailing: 500 })],
    });
    const forged = share('Example Org', {
      daysOfData: 3,
      window: { days: 0, compliant: 0, forwarded: 0, authorisedFailing: 500, unauthorised: 0 },
      sources: [failing],
    });
    const verdict = assessWithNewReporters(all, [forged], 20);
    expect(verdict.verdict).toBe('not-ready');
    expect(verdict.summary).toBe(assessReadiness(all).summary);
    expect(verdict.moved).toMatchObject({ counting: 'without', verdict: 'ready-quarantine', by: [{ org: 'Example Org' }] });
    expect(describeMoved(verdict.moved!)).toBe(
      'Without the reports of Example Org (first received 2026-11-30), a new reporter (first received within the last 30 days), ' +
        'this would be “Ready for p=quarantine: 100% of your own mail passes”: check that its reports are genuine.',
    );
  });

  test('only the reporter that moves the verdict is named; a new reporter that changes nothing is not', () => {
    const all = input({ daysOfData: 60 });
    const backdating = share('Backdating Ltd', { daysOfData: 60 });
    const harmless = share('Small Receiver', {
      daysOfData: 10,
      window: { days: 0, compliant: 20, forwarded: 0, authorisedFailing: 0, unauthorised: 0 },
    });
    const verdict = assessWithNewReporters(all, [harmless, backdating], 20);
    expect(verdict.verdict).toBe('ready-quarantine');
    expect(verdict.moved?.by.map((r) => r.org)).toEqual(['Backdating Ltd']);
    // Only the harmless one: the verdict does not move, nothing to say.
    expect(assessWithNewReporters(input({ daysOfData: 20 }), [harmless], 20)).toEqual({
      ...assessReadiness(input({ daysOfData: 20 })),
      moved: null,
    });
  });

  test('a flood of new reporters that only move the verdict together: ten are named, the rest counted', () => {
    const by = Array.from({ length: 300 }, (_, i) => ({ org: `Flood ${i}`, firstSeen: '2026-11-30' }));
    const text = describeMoved({ counting: 'without', verdict: 'ready-quarantine', summary: 'Ready', by });
    expect(text).toContain('Flood 9 (first received 2026-11-30) and 290 other new reporters, new reporters');
    expect(text).not.toContain('Flood 10 ');
  });

  test('no new reporters: the plain verdict', () => {
    expect(assessWithNewReporters(input(), [], 60)).toEqual({ ...assessReadiness(input()), moved: null });
  });
});
