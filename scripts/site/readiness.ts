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
 *
 * New reporters (`assessWithNewReporters`). Anyone can mail a report, and a report says what it
 * likes: its reporter's name, its dates, its figures. A forger could send clean figures (or one report
 * dated long ago, to lengthen the history) and turn "watch" into "ready for reject". So a reporter
 * whose first report was *received* (ingested: a time the sender does not write) within the last
 * NEW_REPORTER_DAYS days is new, unless it came with the dataset's first reports (the first
 * BASELINE_DAYS days of ingest: every reporter is new to a fresh dataset). The verdict is assessed
 * with and without the new reporters' data; when the two differ, the more cautious one is shown
 * (not-ready, no-data, ready-quarantine, ready-reject, enforced: most cautious first) together with
 * the other and the new reporters that move it. A forger who copies a known reporter's name is not
 * caught here: that is the ingest's job (where report mail comes from).
 */
import type { MovedVerdict, Readiness, ReadinessVerdict } from './model.ts';
import { formatCount, formatShare, plural } from '../lib/text.ts';

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
/**
 * A reporter first received this many days before the build or fewer is new: as long as the
 * readiness window, so a verdict never rests on a reporter younger than it.
 */
export const NEW_REPORTER_DAYS = READINESS_WINDOW_DAYS;
/** Reporters first received within this many days of the dataset's first report are its baseline, never new. */
export const BASELINE_DAYS = 7;
/** New reporters tried one by one to tell which of them moves a verdict (more are named together). */
const MOVERS_TRIED = 50;

/** A verdict without its provenance (what assessReadiness decides from sums). */
export type Assessment = Omit<Readiness, 'reporters' | 'moved'>;

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

export function assessReadiness(input: ReadinessInput): Assessment {
  const { window, policy, domain } = input;
  const volume = window.compliant + window.forwarded + window.authorisedFailing + window.unauthorised;
  const days = Math.max(0, Math.min(window.days, input.daysOfData));
  const enforced = policy.p === 'reject' && !policy.testing;
  const verdict = (v: Omit<Assessment, 'days'>): Assessment => ({ ...v, days });

  // 1. Silence.
  if (volume <= 0) {
    if (policy.parked) {
      if (enforced) {
        return verdict({
          verdict: 'enforced',
          summary: 'Parked: p=reject is right',
          reasons: ['No mail was reported for this parked domain, as expected.'],
          nextStep: null,
        });
      }
      const steps = [
        policy.p !== 'reject' ? `\`policy: ${policy.p}\` → \`policy: reject\`` : null,
        policy.testing ? '`testing: true` → `testing: false`' : null,
      ].filter((s) => s !== null);
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
      reasons: [
        `No aggregate reports for ${domain} in the last ${READINESS_WINDOW_DAYS} days: check that the \`reports:\` mailbox receives them.`,
      ],
      nextStep: null,
    });
  }

  const own = window.compliant + window.authorisedFailing;
  const ownPass = own > 0 ? `${formatShare(window.compliant, own)} of your own mail passes` : 'no mail from your own senders';
  const context: string[] = [
    own > 0
      ? `${formatShare(window.compliant, own)} of ${formatCount(own)} messages from your own senders pass DMARC over ${days} days.`
      : `No mail from your own senders in ${days} days.`,
  ];
  if (window.forwarded > 0)
    context.push(`${formatShare(window.forwarded, volume)} is forwarded mail (your signature, re-sent by a forwarder): not yours to fix.`);
  if (window.unauthorised > 0)
    context.push(
      `${formatShare(window.unauthorised, volume)} is unauthorised (spoofing or undeclared services): enforcement is what stops it.`,
    );

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
    failing.map(
      (s) =>
        `${s.declaredSender ?? s.label}: ${formatShare(s.compliant, s.messages)} of ` +
        `its ${formatCount(s.messages)} messages pass DMARC (needs ${MIN_SENDER_PASS_RATE * 100}%)${consequence}.`,
    );

  // 2. Already enforcing.
  if (enforced) {
    if (failing.length === 0 && window.authorisedFailing <= 0) {
      return verdict({
        verdict: 'enforced',
        summary: policy.parked ? 'Parked: p=reject is right' : `Enforced: p=reject, ${ownPass}`,
        reasons: context,
        nextStep: null,
      });
    }
    return verdict({
      verdict: 'enforced',
      summary: `Enforced, but ${formatCount(window.authorisedFailing)} messages from declared senders fail and are being rejected`,
      reasons: [...failingReasons(': the rest is being rejected'), ...context],
      nextStep: fixStep(),
    });
  }

  // 3. Declared senders that fail.
  const failingShare = window.authorisedFailing / volume;
  if (failing.length > 0 || failingShare >= MAX_FAILING_SHARE) {
    const reasons = failingReasons('');
    if (failingShare >= MAX_FAILING_SHARE) {
      reasons.push(
        `${formatShare(window.authorisedFailing, volume)} of all mail comes from declared ` +
          `senders and fails DMARC (at most ${MAX_FAILING_SHARE * 100}% before enforcing).`,
      );
    }
    const names = failing.map((s) => s.declaredSender ?? s.label);
    return verdict({
      verdict: 'not-ready',
      summary:
        names.length > 0
          ? `Not ready: ${names.join(', ')} ${names.length === 1 ? 'fails' : 'fail'} DMARC`
          : 'Not ready: declared senders fail DMARC',
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
        ...undeclared.map(
          (s) =>
            `${s.label} sent ${formatCount(s.unauthorisedAuthenticated)} ` +
            `messages (${formatShare(s.unauthorisedAuthenticated, volume)}) ` +
            `as ${domain}, authenticated for its own domain: someone uses it in your name.`,
        ),
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
      reasons: [
        `Only ${input.daysOfData} days of reports: watch at least ${MIN_DAYS} days, so weekly and monthly senders show up.`,
        ...context,
      ],
      nextStep: `keep \`policy: ${policy.p}\` for ${MIN_DAYS - input.daysOfData} more days`,
    });
  }

  // 6. The ramp.
  if (policy.p === 'none') {
    if (input.daysOfData >= LONG_WATCH_DAYS) {
      return verdict({
        verdict: 'ready-reject',
        summary: `Ready for p=reject: ${ownPass}`,
        reasons: [
          ...context,
          `${input.daysOfData} days of clean reports: in testing mode receivers quarantine instead of rejecting, a safe first step.`,
        ],
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
      return verdict({
        verdict: 'ready-quarantine',
        summary: `Ready to quarantine: ${ownPass}`,
        reasons: context,
        nextStep: '`testing: true` → `testing: false`',
      });
    }
    return verdict({
      verdict: 'ready-reject',
      summary: `Ready for p=reject: ${ownPass}`,
      reasons: context,
      nextStep: '`policy: quarantine` → `policy: reject`',
    });
  }
  return verdict({
    verdict: 'ready-reject',
    summary: `Ready to leave testing: ${ownPass}`,
    reasons: context,
    nextStep: '`testing: true` → `testing: false`',
  });
}

// ---------------------------------------------------------------------------------------------
// New reporters

/** Whether a reporter first received at `firstReceived` is new at `now`, in a dataset whose first report was received at `datasetFirst` (ms). */
export function isNewReporter(firstReceived: number, datasetFirst: number, now: number): boolean {
  const day = 86_400_000;
  return firstReceived > now - NEW_REPORTER_DAYS * day && firstReceived > datasetFirst + BASELINE_DAYS * day;
}

/** One new reporter's part of a domain's readiness sums. */
export interface ReporterShare {
  org: string;
  /** When its first report was received (ISO day). */
  firstSeen: string;
  /** Its sums over the window (`days` is ignored). */
  window: ReadinessInput['window'];
  /** Days from its first report for the domain (as the report dates it) to the last day of data; 0 when none. */
  daysOfData: number;
  /** Its part of each source group's sums (groups matched by label, declared sender and service). */
  sources: readonly ReadinessSource[];
}

const CAUTION: Record<ReadinessVerdict, number> = { 'not-ready': 0, 'no-data': 1, 'ready-quarantine': 2, 'ready-reject': 3, enforced: 4 };
const WINDOW_SUMS = ['compliant', 'forwarded', 'authorisedFailing', 'unauthorised'] as const;
const SOURCE_SUMS = ['messages', 'compliant', 'authorisedFailing', 'unauthorised', 'unauthorisedAuthenticated'] as const;
const sourceKey = (s: ReadinessSource): string => `${s.declaredSender ?? ''}\u0000${s.service}\u0000${s.label}`;

/** `input` with `share` added (sign 1) or taken away (sign -1). */
function applyShare(input: ReadinessInput, share: ReporterShare, sign: 1 | -1): ReadinessInput {
  const window = { ...input.window };
  for (const field of WINDOW_SUMS) window[field] += sign * share.window[field];
  const parts = new Map(share.sources.map((s) => [sourceKey(s), s]));
  const sources = input.sources.map((source) => {
    const part = parts.get(sourceKey(source));
    if (part === undefined) return source;
    parts.delete(sourceKey(source));
    const next = { ...source };
    for (const field of SOURCE_SUMS) next[field] += sign * part[field];
    return next;
  });
  if (sign === 1) sources.push(...parts.values());
  return { ...input, window, sources };
}

/** New reporters named in a moved verdict's sentence; a flood of forged reporters is counted beyond them. */
const MOVERS_NAMED = 10;

/** "Example Org (first received 2026-11-30) and …" ("…, and 290 other new reporters" beyond MOVERS_NAMED). */
const names = (reporters: readonly { org: string; firstSeen: string }[]): string => {
  const list = reporters.slice(0, MOVERS_NAMED).map((r) => `${r.org || '(no name)'} (first received ${r.firstSeen})`);
  const rest = reporters.length - list.length;
  if (rest > 0) return `${list.join(', ')} and ${plural(rest, 'other new reporter')}`;
  return list.length <= 1 ? (list[0] ?? '') : `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`;
};

/**
 * The readiness verdict that new reporters cannot move silently: `all` holds every reporter's sums,
 * `shares` the new reporters' parts of them (those with data in the window), `knownDaysOfData` the
 * domain's history counting only the other reporters. See the module comment.
 */
export function assessWithNewReporters(
  all: ReadinessInput,
  shares: readonly ReporterShare[],
  knownDaysOfData: number,
): Omit<Readiness, 'reporters'> {
  const counting = assessReadiness(all);
  if (shares.length === 0) return { ...counting, moved: null };
  let known: ReadinessInput = { ...all, daysOfData: knownDaysOfData };
  for (const share of shares) known = applyShare(known, share, -1);
  const leaving = assessReadiness(known);
  if (leaving.verdict === counting.verdict) return { ...counting, moved: null };

  const volume = (share: ReporterShare): number => WINDOW_SUMS.reduce((sum, field) => sum + share.window[field], 0);
  const byVolume = [...shares].sort((a, b) => volume(b) - volume(a) || a.org.localeCompare(b.org));
  const movers = byVolume.slice(0, MOVERS_TRIED).filter((share) => {
    const alone = applyShare({ ...known, daysOfData: Math.max(known.daysOfData, share.daysOfData) }, share, 1);
    return assessReadiness(alone).verdict !== leaving.verdict;
  });
  const by = (movers.length > 0 ? movers : byVolume).map(({ org, firstSeen }) => ({ org, firstSeen }));

  if (CAUTION[counting.verdict] < CAUTION[leaving.verdict]) {
    // Their data makes the verdict more cautious: shown, with what it would be without them.
    return { ...counting, moved: { counting: 'without', verdict: leaving.verdict, summary: leaving.summary, by } };
  }
  // Their data would make the verdict bolder: not counted until they are no longer new.
  const moved: MovedVerdict = { counting: 'with', verdict: counting.verdict, summary: counting.summary, by };
  if (leaving.verdict === 'no-data') {
    return {
      ...leaving,
      summary: 'No reports yet from established reporters',
      reasons: [
        `Every report of the last ${READINESS_WINDOW_DAYS} days comes from a reporter first received within the last ${NEW_REPORTER_DAYS} days.`,
      ],
      moved,
    };
  }
  return { ...leaving, moved };
}

/** The sentence a page shows for a moved verdict. */
export function describeMoved(moved: MovedVerdict<string>): string {
  const who = names(moved.by);
  if (moved.counting === 'with') {
    return (
      `“${moved.summary}” only counting ${who}: a reporter first received within the ` +
      `last ${NEW_REPORTER_DAYS} days does not move the verdict toward enforcement.`
    );
  }
  const one = moved.by.length === 1;
  return (
    `Without the reports of ${who}, ${one ? 'a new reporter' : 'new reporters'} (first received within the ` +
    `last ${NEW_REPORTER_DAYS} days), this would be “${moved.summary}”: check that ${one ? 'its' : 'their'} reports are genuine.`
  );
}
