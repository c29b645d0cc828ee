/**
 * Is a domain ready to enforce DMARC? A verdict from the last 30 days of reports (fewer when there
 * are fewer) and the policy its domain file defines. Pure: sums in, verdict out (./rollups.ts
 * computes the sums). The site shows these rules; first match wins:
 *
 *   1. No mail in the window → `no-data`. A parked domain (`parked: true`) sends no mail, so silence
 *      is what it should show: with p=reject it is `enforced` ("parked: p=reject is right"); with
 *      anything else it is `ready-reject` at once (no need to watch a domain that sends nothing).
 *   2. p=reject without testing → `enforced`. Declared senders that still fail are listed: their mail
 *      is being rejected, and the next step is to fix the worst one.
 *   3. A declared sender passes DMARC for less than 98% of its messages, or authorised-but-failing
 *      mail is 1% of the volume or more → `not-ready`, each failing sender named; next step
 *      "fix <sender>: <hint>" for the one with the most failing mail.
 *   4. A named service that is not declared sent 1% of the volume or more, authenticated for its own
 *      domain (DKIM or SPF passed, not aligned): someone uses it in your name → `not-ready`, next
 *      step "declare it or stop it".
 *   5. Fewer than 14 days of reports → `not-ready`: watch at least 14 days.
 *   6. Otherwise the ramp, one domain-file edit at a time (never `percent`: RFC 9989 removed pct;
 *      `testing: true` publishes t=y, under which receivers apply one step less):
 *        p=none, under 30 days of reports → `ready-quarantine`: `policy: quarantine` with `testing: true`
 *        p=none, 30 days or more          → `ready-reject`: `policy: reject` with `testing: true`
 *        p=quarantine with testing        → `ready-quarantine`: `testing: true` → `testing: false`
 *        p=quarantine                     → `ready-reject`: `policy: quarantine` → `policy: reject`
 *        p=reject with testing            → `ready-reject`: `testing: true` → `testing: false`
 *
 * "Own mail" is what declared senders and compliant sources sent: compliant + authorised-failing.
 * Forwarded mail fails through no fault of the domain (ARC is the receiver's fix) and unauthorised
 * mail is what enforcement exists to stop, so neither holds a domain back.
 */
import type { Readiness } from './model.ts';

/** The window the verdict looks at, at most. */
export const READINESS_WINDOW_DAYS = 30;
/** A declared sender must pass DMARC for at least this share of its messages. */
export const MIN_SENDER_PASS_RATE = 0.98;
/** Authorised-but-failing mail (and undeclared authenticated services) must stay below this share of the volume. */
export const MAX_FAILING_SHARE = 0.01;
/** Days of reports to watch before any enforcement step. */
export const MIN_DAYS = 14;
/** Days of clean reports after which p=none may go straight to reject (in testing mode). */
export const LONG_WATCH_DAYS = 30;

/** One source group's sums over the window. */
export interface ReadinessSource {
  /** What the site shows for it, e.g. "Mailchimp". */
  label: string;
  /** The domain file's `senders:` name, null when undeclared. */
  declaredSender: string | null;
  /** A named service from the enrichment (not a bare PTR domain or IP). */
  service: boolean;
  messages: number;
  compliant: number;
  authorisedFailing: number;
  unauthorised: number;
  /** Unauthorised messages that passed DKIM or SPF for some domain (not aligned with the From domain). */
  unauthorisedAuthenticated: number;
  /** classify()'s fix hint for its failing mail, when there is one. */
  hint: string | null;
}

export interface ReadinessInput {
  domain: string;
  /** The domain file, for next steps ("declare it in senders: of domains/example.com.yaml"). */
  file: string;
  policy: { p: string; testing: boolean; parked: boolean };
  /** Sums over the window. */
  window: { days: number; compliant: number; forwarded: number; authorisedFailing: number; unauthorised: number };
  /** Days from the domain's first report to the last day of data (its whole history). */
  daysOfData: number;
  sources: readonly ReadinessSource[];
}

/** A share as people read it: "99.8%", "< 0.1%" for tiny non-zero shares. */
export function formatShare(part: number, whole: number): string {
  if (whole <= 0) return '0%';
  const share = part / whole;
  if (share > 0 && share < 0.001) return '< 0.1%';
  // Never round a failing share up to a clean-looking 100%.
  const percent = Math.floor(share * 1000) / 10;
  return `${percent}%`;
}

const count = (n: number): string => Math.round(n).toLocaleString('en-US');

export function assessReadiness(input: ReadinessInput): Readiness {
  const { window, policy, domain } = input;
  const volume = window.compliant + window.forwarded + window.authorisedFailing + window.unauthorised;
  const days = Math.max(0, Math.min(window.days, input.daysOfData));
  const enforced = policy.p === 'reject' && !policy.testing;
  const verdict = (v: Omit<Readiness, 'days'>): Readiness => ({ ...v, days });

  // 1. Silence.
  if (volume <= 0) {
    if (policy.parked) {
      if (enforced) {
        return verdict({ verdict: 'enforced', summary: 'Parked: p=reject is right', reasons: ['No mail was reported for this parked domain, as expected.'], nextStep: null });
      }
      const steps = [policy.p !== 'reject' ? `\`policy: ${policy.p}\` → \`policy: reject\`` : null, policy.testing ? '`testing: true` → `testing: false`' : null].filter((s) => s !== null);
      return verdict({
        verdict: 'ready-reject',
        summary: 'Parked and silent: ready for p=reject',
        reasons: ['A parked domain sends no mail, and none was reported: nothing legitimate can be rejected.'],
        nextStep: steps.join(' and '),
      });
    }
    return verdict({
      verdict: 'no-data',
      summary: 'No reports yet',
      reasons: [`No aggregate reports for ${domain} in the last ${READINESS_WINDOW_DAYS} days: check that the \`reports:\` mailbox receives them.`],
      nextStep: null,
    });
  }

  const own = window.compliant + window.authorisedFailing;
  const ownPass = own > 0 ? `${formatShare(window.compliant, own)} of your own mail passes` : 'no mail from your own senders';
  const context: string[] = [
    own > 0 ? `${formatShare(window.compliant, own)} of ${count(own)} messages from your own senders pass DMARC over ${days} days.` : `No mail from your own senders in ${days} days.`,
  ];
  if (window.forwarded > 0) context.push(`${formatShare(window.forwarded, volume)} is forwarded mail (your signature, re-sent by a forwarder): not yours to fix.`);
  if (window.unauthorised > 0) context.push(`${formatShare(window.unauthorised, volume)} is unauthorised (spoofing or undeclared services): enforcement is what stops it.`);

  const failing = input.sources
    .filter((s) => s.declaredSender !== null && s.messages > 0 && s.compliant / s.messages < MIN_SENDER_PASS_RATE)
    .sort((a, b) => b.authorisedFailing - a.authorisedFailing || a.label.localeCompare(b.label));
  const fixStep = (): string | null => {
    const worst = failing[0];
    if (worst === undefined) return null;
    const how = worst.hint ?? `make it sign with d=${domain} (DKIM) or send with a Return-Path under ${domain} (SPF)`;
    return `fix ${worst.declaredSender ?? worst.label}: ${how}`;
  };
  const failingReasons = (consequence: string): string[] =>
    failing.map((s) => `${s.declaredSender ?? s.label}: ${formatShare(s.compliant, s.messages)} of its ${count(s.messages)} messages pass DMARC (needs ${MIN_SENDER_PASS_RATE * 100}%)${consequence}.`);

  // 2. Already enforcing.
  if (enforced) {
    if (failing.length === 0 && window.authorisedFailing <= 0) {
      return verdict({ verdict: 'enforced', summary: policy.parked ? 'Parked: p=reject is right' : `Enforced: p=reject, ${ownPass}`, reasons: context, nextStep: null });
    }
    return verdict({
      verdict: 'enforced',
      summary: `Enforced, but ${count(window.authorisedFailing)} messages from declared senders fail and are being rejected`,
      reasons: [...failingReasons(': the rest is being rejected'), ...context],
      nextStep: fixStep(),
    });
  }

  // 3. Declared senders that fail.
  const failingShare = window.authorisedFailing / volume;
  if (failing.length > 0 || failingShare >= MAX_FAILING_SHARE) {
    const reasons = failingReasons('');
    if (failingShare >= MAX_FAILING_SHARE) {
      reasons.push(`${formatShare(window.authorisedFailing, volume)} of all mail comes from declared senders and fails DMARC (at most ${MAX_FAILING_SHARE * 100}% before enforcing).`);
    }
    const names = failing.map((s) => s.declaredSender ?? s.label);
    return verdict({
      verdict: 'not-ready',
      summary: names.length > 0 ? `Not ready: ${names.join(', ')} ${names.length === 1 ? 'fails' : 'fail'} DMARC` : 'Not ready: declared senders fail DMARC',
      reasons: [...reasons, ...context],
      nextStep: fixStep() ?? `fix the declared senders whose mail fails DMARC (see the sources table)`,
    });
  }

  // 4. Services someone uses in the domain's name without declaring them.
  const undeclared = input.sources
    .filter((s) => s.declaredSender === null && s.service && s.unauthorisedAuthenticated / volume >= MAX_FAILING_SHARE)
    .sort((a, b) => b.unauthorisedAuthenticated - a.unauthorisedAuthenticated || a.label.localeCompare(b.label));
  const firstUndeclared = undeclared[0];
  if (firstUndeclared !== undefined) {
    return verdict({
      verdict: 'not-ready',
      summary: `Not ready: ${undeclared.map((s) => s.label).join(', ')} ${undeclared.length === 1 ? 'sends' : 'send'} as ${domain} without being declared`,
      reasons: [
        ...undeclared.map((s) => `${s.label} sent ${count(s.unauthorisedAuthenticated)} messages (${formatShare(s.unauthorisedAuthenticated, volume)}) as ${domain}, authenticated for its own domain: someone uses it in your name.`),
        ...context,
      ],
      nextStep: `declare ${firstUndeclared.label} under \`senders:\` in ${input.file} if it sends for you, or stop it`,
    });
  }

  // 5. Too little history.
  if (input.daysOfData < MIN_DAYS) {
    return verdict({
      verdict: 'not-ready',
      summary: `Watching: ${input.daysOfData} of ${MIN_DAYS} days of reports`,
      reasons: [`Only ${input.daysOfData} days of reports: watch at least ${MIN_DAYS} days, so weekly and monthly senders show up.`, ...context],
      nextStep: `keep \`policy: ${policy.p}\` for ${MIN_DAYS - input.daysOfData} more days`,
    });
  }

  // 6. The ramp.
  if (policy.p === 'none') {
    if (input.daysOfData >= LONG_WATCH_DAYS) {
      return verdict({
        verdict: 'ready-reject',
        summary: `Ready for p=reject: ${ownPass}`,
        reasons: [...context, `${input.daysOfData} days of clean reports: in testing mode receivers quarantine instead of rejecting, a safe first step.`],
        nextStep: '`policy: none` → `policy: reject` with `testing: true`; after two clean weeks, `testing: true` → `testing: false`',
      });
    }
    return verdict({
      verdict: 'ready-quarantine',
      summary: `Ready for p=quarantine: ${ownPass}`,
      reasons: [...context, 'In testing mode receivers keep delivering while reports show what quarantine would do.'],
      nextStep: '`policy: none` → `policy: quarantine` with `testing: true`',
    });
  }
  if (policy.p === 'quarantine') {
    if (policy.testing) {
      return verdict({ verdict: 'ready-quarantine', summary: `Ready to quarantine: ${ownPass}`, reasons: context, nextStep: '`testing: true` → `testing: false`' });
    }
    return verdict({ verdict: 'ready-reject', summary: `Ready for p=reject: ${ownPass}`, reasons: context, nextStep: '`policy: quarantine` → `policy: reject`' });
  }
  return verdict({ verdict: 'ready-reject', summary: `Ready to leave testing: ${ownPass}`, reasons: context, nextStep: '`testing: true` → `testing: false`' });
}
