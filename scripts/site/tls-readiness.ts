/**
 * MTA-STS from the TLS reports: is a domain ready to move its policy from `testing` to `enforce`
 * (RFC 8461 §5: in enforce, a sender refuses an MX host whose TLS fails; in testing it delivers and
 * reports), and does what senders saw match the repository's policy? Pure: sums in, verdicts out
 * (./rollups/tls.ts computes the sums). The site shows these rules; first match wins:
 *
 *   1. The domain file has no `mta_sts` → `no-policy`; `mode: none` → `withdrawn`.
 *   2. No session under an MTA-STS policy (or "no policy found") of the domain in the window → `no-data`.
 *   3. `mode: enforce` → `enforced`; failures in the window are named (in enforce, that mail was not
 *      delivered to the failing MX host), with the fix for the biggest.
 *   4. `mode: testing`:
 *      a. a reporter's latest report in the window saw another policy than the repository's (or none)
 *         → `not-ready`: publish the policy file and its record, then `dmarcops mta-sts check`;
 *      b. any failure enforce would turn into a refused delivery (BLOCKING_RESULT_TYPES: no STARTTLS,
 *         certificate or validation failures) → `not-ready`, next step the fix for the biggest (type, MX);
 *      c. other failures (the policy could not be fetched or read, DANE, unknown types) at
 *         TLS_MAX_FAILURE_SHARE of the sessions or more → `not-ready`;
 *      d. sessions from fewer than TLS_MIN_REPORTERS sending organisations → `not-ready` (one
 *         sender's view is not enough, and one forged report could be all of it);
 *      e. fewer than TLS_MIN_DAYS days of TLS reports → `not-ready`;
 *      f. otherwise `ready-enforce`: `mode: testing` → `mode: enforce`, and `max_age` up to a week or
 *         more when it is shorter (RFC 8461 §3.2 expects "weeks or greater").
 *
 * The window is the last TLS_READINESS_WINDOW_DAYS days of data; sessions counted are those reported
 * under an `sts` or `no-policy-found` policy of the domain itself (`tlsa` sessions are DANE's, which
 * MTA-STS does not govern: RFC 8461 §2).
 *
 * New reporters: the same rule as DMARC readiness (./readiness.ts): a sending organisation whose first
 * TLS report was received within NEW_REPORTER_DAYS days (and not with the first TLS reports of the
 * dataset) is new; the verdict is assessed with and without the new ones, the more cautious shown,
 * with the other and who moves it.
 */
import type { LoadedDomain } from '../policy/load.ts';
import { DEFAULT_MAX_AGE, formatMtaStsPolicy, formatTlsRptRecord, mtaStsId, parseMtaStsPolicy } from '../policy/mtasts.ts';
import type { MovedVerdict, TlsDefinedPolicy, TlsPolicyComparison, TlsPolicySeen, TlsReadiness, TlsVerdict } from './model.ts';
import { formatCount as count, formatShare, plural } from '../lib/text.ts';
import { NEW_REPORTER_DAYS } from './readiness.ts';
import { BLOCKING_RESULT_TYPES } from './tls-types.ts';

/** The window the verdict looks at (days ending on the last day of data). */
export const TLS_READINESS_WINDOW_DAYS = 14;
/** Days of TLS reports to watch before enforcing. */
export const TLS_MIN_DAYS = 14;
/** Sending organisations whose sessions the verdict must rest on. */
export const TLS_MIN_REPORTERS = 2;
/** Failures of the other (non-blocking) kinds must stay below this share of the sessions. */
export const TLS_MAX_FAILURE_SHARE = 0.001;
/** `max_age` an enforced policy should have at least: a week (RFC 8461 §3.2, "weeks or greater"; the lint rule mta-sts-max-age-short). */
export const ENFORCE_MIN_MAX_AGE = DEFAULT_MAX_AGE;

/** What to do about a failure type at an MX host (the next step the verdict names). */
export function fixFor(type: string, mx: string | null, domain: string): string {
  const host = mx ?? 'the MX host the reports name';
  switch (type) {
    case 'starttls-not-supported':
      return `offer STARTTLS on ${host}`;
    case 'certificate-host-mismatch':
      return `give ${host} a certificate valid for its name (RFC 8461 §4.2 checks the MX host name)`;
    case 'certificate-expired':
      return `renew the certificate of ${host}`;
    case 'certificate-not-trusted':
      return `serve a certificate for ${host} from a public CA, with its full chain`;
    case 'validation-failure':
      return `check ${host}: its certificate chain and name, and that a \`mta_sts.mx\` pattern covers it`;
    case 'sts-policy-fetch-error':
      return `serve the policy file at https://mta-sts.${domain}/.well-known/mta-sts.txt (\`dmarcops mta-sts check\` shows what senders get)`;
    case 'sts-policy-invalid':
      return `publish the policy file \`dmarcops mta-sts build\` writes, byte for byte, and check it with \`dmarcops mta-sts check\``;
    case 'sts-webpki-invalid':
      return `give mta-sts.${domain} a certificate valid for that name from a public CA (\`dmarcops mta-sts check\`)`;
    case 'tlsa-invalid':
    case 'dnssec-invalid':
    case 'dane-required':
      return `check the TLSA records and DNSSEC of ${host} (DANE)`;
    default:
      return `read the failure details reported for ${host}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Policies

/** The policy a domain file defines, as published (null without `mta_sts`). */
export function definedTlsPolicy(loaded: LoadedDomain): TlsDefinedPolicy | null {
  const sts = loaded.policy.mtaSts;
  if (sts === undefined) return null;
  const policyFile = formatMtaStsPolicy(sts);
  const parsed = parseMtaStsPolicy(policyFile);
  return { mode: sts.mode, mx: parsed.mx, maxAge: sts.maxAge, id: mtaStsId(sts), policyFile };
}

/** The `_smtp._tls` TXT the domain file publishes, or null. */
export function tlsRptRecordOf(loaded: LoadedDomain): string | null {
  const uris = loaded.policy.tlsRpt;
  return uris === undefined || uris.length === 0 ? null : formatTlsRptRecord(uris);
}

/** An MTA-STS policy as a `policy-string` says it (RFC 8460 §4.4: the policy file's lines). */
export interface PolicyReading {
  mode: string | null;
  /** MX patterns, lower case, sorted, each once. */
  mx: string[];
  maxAge: number | null;
}

export function readPolicyString(lines: readonly string[]): PolicyReading {
  const parsed = parseMtaStsPolicy(lines.join('\n'));
  return { mode: parsed.mode ?? null, mx: [...new Set(parsed.mx)].sort(), maxAge: parsed.maxAge ?? null };
}

/** Whether what senders saw is the repository's policy: the same mode, MX patterns and max_age (what the derived id hashes). */
export function samePolicy(seen: PolicyReading, defined: Pick<TlsDefinedPolicy, 'mode' | 'mx' | 'maxAge'>): boolean {
  const mx = [...new Set(defined.mx.map((m) => m.toLowerCase()))].sort();
  return (
    seen.mode === defined.mode && seen.maxAge === defined.maxAge && seen.mx.length === mx.length && seen.mx.every((m, i) => m === mx[i])
  );
}

/** "testing with mx mx1.example.com, mx2.example.com (max_age 86400)". */
export function describePolicy(policy: { mode: string | null; mx: readonly string[]; maxAge: number | null }): string {
  const mx = policy.mx.length > 0 ? ` with mx ${policy.mx.join(', ')}` : ' with no mx';
  return `${policy.mode ?? '(no mode)'}${mx} (max_age ${policy.maxAge ?? '?'})`;
}

const DAY_MS = 86_400_000;
const dayNumber = (iso: string): number => Math.floor(Date.parse(`${iso}T00:00:00Z`) / DAY_MS);
const addDays = (iso: string, days: number): string => new Date((dayNumber(iso) + days) * DAY_MS).toISOString().slice(0, 10);
/** Days a policy may stay cached (RFC 8461 §3.2 max_age, in whole days, rounded up). */
const cacheDays = (maxAge: number | null): number => Math.ceil((maxAge ?? 0) / 86_400);

/**
 * The repository's policy against what senders saw. `seen` are the policies reported for the domain
 * itself (not its subdomains), `vsRepository` set. Senders cache a policy for its `max_age` and fetch
 * the file again only when the `_mta-sts` id changes (RFC 8461 §3.3, §5.1), so an older policy seen
 * after the repository's first appeared is expected for the older one's max_age, and a sign of trouble
 * after it (`stale`).
 */
export function comparePolicy(
  defined: TlsDefinedPolicy | null,
  seen: readonly TlsPolicySeen[],
  where: { domain: string; file: string },
): TlsPolicyComparison {
  const { domain, file } = where;
  const relevant = seen.filter((p) => p.type === 'sts' || p.type === 'no-policy-found');
  const latest = [...relevant].sort((a, b) => b.lastSeen.localeCompare(a.lastSeen) || b.sessions - a.sessions)[0];
  const sts = relevant.filter((p) => p.type === 'sts').sort((a, b) => b.lastSeen.localeCompare(a.lastSeen) || b.sessions - a.sessions);
  if (defined === null) {
    const other = sts[0];
    if (other !== undefined) {
      return {
        status: 'differs',
        summary: `Senders saw an MTA-STS policy the repository does not define: ${describePolicy(other)}, last on ${other.lastSeen}.`,
        details: [
          `Add \`mta_sts\` to ${file} to manage it here, or withdraw it (RFC 8461 §8.3: \`mode: none\` first, for the previous max_age).`,
        ],
      };
    }
    return {
      status: 'not-defined',
      summary:
        latest === undefined
          ? 'The repository defines no MTA-STS policy.'
          : `The repository defines no MTA-STS policy, and senders found none (last on ${latest.lastSeen}).`,
      details: [],
    };
  }
  const repository = `the repository says ${describePolicy(defined)}`;
  if (latest === undefined)
    return { status: 'no-data', summary: `No TLS report says which policy senders saw; ${repository}.`, details: [] };
  const current = relevant.filter((p) => p.vsRepository === 'same');
  if (current.length === 0) {
    const other = sts[0];
    if (other === undefined) {
      return {
        status: 'not-seen',
        summary: `Senders found no MTA-STS policy (last on ${latest.lastSeen}); ${repository}.`,
        details: [
          `Publish the \`_mta-sts\` record (the DNS plan) and the policy file (\`dmarcops mta-sts build\`), then run \`dmarcops mta-sts check\`.`,
        ],
      };
    }
    const days = cacheDays(other.maxAge);
    return {
      status: 'differs',
      summary: `Senders saw ${describePolicy(other)} (last on ${other.lastSeen}); ${repository}.`,
      details: [
        `Senders keep a policy for its max_age (${plural(days, 'day')}) and fetch it again only when the \`_mta-sts\` ` +
          `id changes: if the repository changed less than ${plural(days, 'day')} before ${other.lastSeen}, wait; ` +
          'otherwise publish the policy file (`dmarcops mta-sts build`) and run `dmarcops mta-sts check`.',
      ],
    };
  }
  const since = current.reduce((min, p) => (p.firstSeen < min ? p.firstSeen : min), current[0]?.firstSeen ?? '');
  const currentLast = current.reduce((max, p) => (p.lastSeen > max ? p.lastSeen : max), since);
  const latestDay = latest.lastSeen;
  const others = relevant.filter((p) => p.vsRepository !== 'same' && p.lastSeen >= since);
  const othersNow = others.filter((p) => p.lastSeen === latestDay);
  const describeOther = (p: TlsPolicySeen): string => (p.type === 'sts' ? describePolicy(p) : 'no policy');
  if (currentLast < latestDay) {
    const other = othersNow[0] ?? latest;
    return {
      status: 'differs',
      summary: `On ${latestDay} senders saw ${describeOther(other)}; ${repository}.`,
      details: [
        `The repository's policy was seen from ${since} to ${currentLast}: check what mta-sts.${domain} serves now (\`dmarcops mta-sts check\`).`,
      ],
    };
  }
  // Senders keep a policy for its max_age after the repository's appeared (RFC 8461 §5.1: a cached policy is used until it expires or the id changes).
  const lingering = (p: TlsPolicySeen): string =>
    p.type === 'sts'
      ? `${describePolicy(p)} was seen until ${p.lastSeen}; the repository's policy first appeared on ${since}, ` +
        `and a sender may keep the older one until about ${addDays(since, cacheDays(p.maxAge))} (its max_age).`
      : `Some senders found no policy on ${p.lastSeen}, after the repository's policy first ` +
        `appeared on ${since}: check the \`_mta-sts\` record (\`dmarcops mta-sts check\`).`;
  if (othersNow.length === 0) {
    return {
      status: 'match',
      summary: `Senders see the repository's policy: ${describePolicy(defined)} (last on ${latestDay}).`,
      details: others.map(lingering),
    };
  }
  const stale = othersNow.filter((p) => p.type !== 'sts' || dayNumber(p.lastSeen) - dayNumber(since) > cacheDays(p.maxAge));
  if (stale.length > 0) {
    return {
      status: 'stale',
      summary: `On ${latestDay} some senders still saw an older state than the repository's policy (first seen ${since}), later than its max_age allows.`,
      details: [
        ...othersNow.map(lingering),
        `A sender keeps a stale copy, or one of the hosts behind mta-sts.${domain} serves an older file: run \`dmarcops mta-sts check\`.`,
      ],
    };
  }
  return {
    status: 'changing',
    summary: `Senders are moving to the repository's policy (first seen ${since}); some still hold the previous one, as its max_age allows.`,
    details: othersNow.map(lingering),
  };
}

// ---------------------------------------------------------------------------------------------
// Readiness

/** One sending organisation's part of the window (it may have none: then its sums are 0). */
export interface TlsReporterWindow {
  org: string;
  /** When its first TLS report was received (ISO day). */
  firstSeen: string;
  new: boolean;
  /** Its reports in the window. */
  reports: number;
  successful: number;
  failed: number;
  /** Its failed sessions in the window by type and MX host. */
  failures: readonly { type: string; mx: string | null; sessions: number }[];
  /** What its latest report in the window saw: the repository's policy, another one, or none; null without a report in the window. */
  saw: { policy: 'current' | 'other' | 'none'; day: string; description: string } | null;
  /** Days from its first report for the domain (as the report dates it) to the last day of data; 0 when none. */
  daysOfData: number;
}

export interface TlsReadinessInput {
  domain: string;
  file: string;
  /** The repository's MTA-STS policy; null without `mta_sts`. */
  policy: { mode: string; maxAge: number } | null;
  /** Whether the domain file has `tls_reports`. */
  hasTlsReports: boolean;
  /** Days of data in the window (at most TLS_READINESS_WINDOW_DAYS). */
  windowDays: number;
  reporters: readonly TlsReporterWindow[];
}

export type TlsAssessment = Omit<TlsReadiness, 'reporters' | 'moved'>;

/** "A, B and C". */
function andList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

interface FailureSum {
  type: string;
  mx: string | null;
  sessions: number;
  orgs: string[];
}

function failureSums(reporters: readonly TlsReporterWindow[]): FailureSum[] {
  const byKey = new Map<string, FailureSum>();
  for (const r of reporters) {
    for (const f of r.failures) {
      if (f.sessions <= 0) continue;
      const key = `${f.type}\u0000${f.mx ?? ''}`;
      const sum = byKey.get(key) ?? { type: f.type, mx: f.mx, sessions: 0, orgs: [] };
      sum.sessions += f.sessions;
      if (!sum.orgs.includes(r.org)) sum.orgs.push(r.org);
      byKey.set(key, sum);
    }
  }
  return [...byKey.values()].sort(
    (a, b) => b.sessions - a.sessions || a.type.localeCompare(b.type) || (a.mx ?? '').localeCompare(b.mx ?? ''),
  );
}

const REASONS_LISTED = 5;

function failureReason(f: FailureSum): string {
  const who = f.orgs.length <= 3 ? andList(f.orgs.map((o) => o || '(no name)')) : `${f.orgs.length} sending organisations`;
  return `${plural(f.sessions, 'session')} failed with ${f.type}${f.mx ? ` at ${f.mx}` : ''} (reported by ${who}).`;
}

export function assessTlsReadiness(input: TlsReadinessInput): TlsAssessment {
  const { policy, domain, file } = input;
  const active = input.reporters.filter((r) => r.successful + r.failed > 0);
  const days = Math.max(
    0,
    Math.min(
      input.windowDays,
      active.reduce((max, r) => Math.max(max, r.daysOfData), 0),
    ),
  );
  const verdict = (v: Omit<TlsAssessment, 'days'>): TlsAssessment => ({ ...v, days });

  // 1. The repository's side.
  if (policy === null) {
    return verdict({
      verdict: 'no-policy',
      summary: 'No MTA-STS policy in the repository',
      reasons: [
        'Senders deliver to your MX hosts without checking their certificates: an attacker on the path can downgrade or intercept the mail (RFC 8461 §1).',
      ],
      nextStep: `add \`mta_sts\` with \`mode: testing\` and your MX hosts${input.hasTlsReports ? '' : ', and `tls_reports`,'} to ${file}`,
    });
  }
  if (policy.mode === 'none') {
    return verdict({
      verdict: 'withdrawn',
      summary: 'MTA-STS withdrawn (`mode: none`)',
      reasons: ['Keep `mode: none` published for at least the previous max_age before removing `mta_sts` (RFC 8461 §8.3).'],
      nextStep: null,
    });
  }

  // 2. No data.
  const successful = active.reduce((sum, r) => sum + r.successful, 0);
  const failed = active.reduce((sum, r) => sum + r.failed, 0);
  const total = successful + failed;
  if (total <= 0) {
    return verdict({
      verdict: 'no-data',
      summary: 'No TLS reports yet',
      reasons: [
        input.hasTlsReports
          ? `No TLS report about ${domain}'s policy in the last ${TLS_READINESS_WINDOW_DAYS} days: ` +
            `check that \`_smtp._tls.${domain}\` is published and its mailbox receives the reports.`
          : `${file} has no \`tls_reports\`: senders have nowhere to send TLS reports.`,
      ],
      nextStep: input.hasTlsReports ? null : `add \`tls_reports\` to ${file}`,
    });
  }

  const failures = failureSums(active);
  const blocking = failures.filter((f) => BLOCKING_RESULT_TYPES.includes(f.type));
  const other = failures.filter((f) => !BLOCKING_RESULT_TYPES.includes(f.type));
  const blockingSessions = blocking.reduce((sum, f) => sum + f.sessions, 0);
  const otherSessions = other.reduce((sum, f) => sum + f.sessions, 0);
  const context =
    `${formatShare(successful, total)} of ${plural(total, 'session')} to your MX hosts succeeded with ` +
    `TLS over ${plural(days, 'day')}, reported by ${plural(active.length, 'sending organisation')}.`;
  const stale = active.filter((r) => r.saw !== null && r.saw.policy !== 'current');
  const staleReasons = stale.map((r) =>
    r.saw?.policy === 'none'
      ? `${r.org || '(no name)'} found no MTA-STS policy on ${r.saw.day}.`
      : `${r.org || '(no name)'} last saw ${r.saw?.description ?? 'another policy'} on ${r.saw?.day}.`,
  );
  const publish =
    'publish the policy file (`dmarcops mta-sts build`) and its `_mta-sts` record, ' +
    'then run `dmarcops mta-sts check`; senders that cached the previous policy refresh within its max_age';

  // 3. Enforced.
  if (policy.mode === 'enforce') {
    const top = failures[0];
    if (top === undefined) {
      return verdict({
        verdict: 'enforced',
        summary: `Enforced: ${formatShare(successful, total)} of sessions succeed with TLS`,
        reasons: [context, ...staleReasons],
        nextStep: stale.length > 0 ? publish : null,
      });
    }
    return verdict({
      verdict: 'enforced',
      summary:
        `Enforced, but ${plural(failed, 'session')} failed (${formatShare(failed, total)}): ` +
        `senders do not deliver to ${top.mx ?? 'the failing MX host'} (${top.type})`,
      reasons: [...failures.slice(0, REASONS_LISTED).map(failureReason), context, ...staleReasons],
      nextStep: fixFor(top.type, top.mx, domain),
    });
  }

  // 4a. Senders do not see the repository's policy.
  if (stale.length > 0) {
    const none = stale.every((r) => r.saw?.policy === 'none');
    return verdict({
      verdict: 'not-ready',
      summary: none ? 'Not ready: senders find no MTA-STS policy' : "Not ready: senders do not see the repository's policy",
      reasons: [...staleReasons, context],
      nextStep: publish,
    });
  }
  // 4b. Failures enforce would turn into refused deliveries.
  const topBlocking = blocking[0];
  if (topBlocking !== undefined) {
    return verdict({
      verdict: 'not-ready',
      summary: `Not ready: ${plural(topBlocking.sessions, 'session')} failed ${topBlocking.type}${topBlocking.mx ? ` at ${topBlocking.mx}` : ''}${
        blocking.length > 1 ? `, ${count(blockingSessions - topBlocking.sessions)} more in ${plural(blocking.length - 1, 'other way')}` : ''
      }`,
      reasons: [
        `In enforce mode these senders would not deliver: ${formatShare(blockingSessions, total)} of the sessions.`,
        ...blocking.slice(0, REASONS_LISTED).map(failureReason),
        context,
      ],
      nextStep: fixFor(topBlocking.type, topBlocking.mx, domain),
    });
  }
  // 4c. Other failures.
  const topOther = other[0];
  if (topOther !== undefined && otherSessions / total >= TLS_MAX_FAILURE_SHARE) {
    return verdict({
      verdict: 'not-ready',
      summary: `Not ready: ${formatShare(otherSessions, total)} of sessions failed (${topOther.type})`,
      reasons: [
        `At most ${TLS_MAX_FAILURE_SHARE * 100}% of sessions may fail before enforcing.`,
        ...other.slice(0, REASONS_LISTED).map(failureReason),
        context,
      ],
      nextStep: fixFor(topOther.type, topOther.mx, domain),
    });
  }
  // 4d. Too few senders.
  if (active.length < TLS_MIN_REPORTERS) {
    return verdict({
      verdict: 'not-ready',
      summary: `Watching: reports from ${plural(active.length, 'sending organisation')}, ${TLS_MIN_REPORTERS} needed`,
      reasons: [
        `One sender's view is not enough to enforce on: wait for TLS reports from at least ${TLS_MIN_REPORTERS} sending organisations.`,
        context,
      ],
      nextStep: null,
    });
  }
  // 4e. Too little history.
  const history = active.reduce((max, r) => Math.max(max, r.daysOfData), 0);
  if (history < TLS_MIN_DAYS) {
    return verdict({
      verdict: 'not-ready',
      summary: `Watching: ${history} of ${TLS_MIN_DAYS} days of TLS reports`,
      reasons: [`Only ${plural(history, 'day')} of TLS reports: watch at least ${TLS_MIN_DAYS} days in testing mode.`, context],
      nextStep: `keep \`mode: testing\` for ${plural(TLS_MIN_DAYS - history, 'more day')}`,
    });
  }
  // 4f. Ready.
  const raise =
    policy.maxAge < ENFORCE_MIN_MAX_AGE
      ? ` and \`max_age: ${policy.maxAge}\` → \`max_age: ${ENFORCE_MIN_MAX_AGE}\` or more (RFC 8461 §3.2: weeks)`
      : '';
  const small =
    otherSessions > 0
      ? [
          `${plural(otherSessions, 'session')} failed in ways enforce does not ` +
            `refuse (${andList(other.map((f) => f.type))}), under ${TLS_MAX_FAILURE_SHARE * 100}%.`,
        ]
      : [];
  return verdict({
    verdict: 'ready-enforce',
    summary: `Ready to enforce: no session failed in a way enforce would refuse`,
    reasons: [context, ...small, 'Every sending organisation saw the repository’s policy.'],
    nextStep: `\`mode: testing\` → \`mode: enforce\`${raise} in ${file}`,
  });
}

const CAUTION: Record<TlsVerdict, number> = { 'not-ready': 0, 'no-data': 1, 'no-policy': 2, withdrawn: 3, 'ready-enforce': 4, enforced: 5 };
/** New reporters tried one by one to tell which of them moves a verdict. */
const MOVERS_TRIED = 50;

/**
 * The verdict new sending organisations cannot move silently: assessed with and without them; when
 * the two differ the more cautious one is shown, with the other and the new organisations that move it.
 */
export function assessTlsWithNewReporters(input: TlsReadinessInput): Omit<TlsReadiness, 'reporters'> {
  const counting = assessTlsReadiness(input);
  const fresh = input.reporters.filter((r) => r.new);
  if (fresh.length === 0) return { ...counting, moved: null };
  const established = input.reporters.filter((r) => !r.new);
  const leaving = assessTlsReadiness({ ...input, reporters: established });
  if (leaving.verdict === counting.verdict) return { ...counting, moved: null };

  const volume = (r: TlsReporterWindow): number => r.successful + r.failed;
  const byVolume = [...fresh].sort((a, b) => volume(b) - volume(a) || a.org.localeCompare(b.org));
  const movers = byVolume
    .slice(0, MOVERS_TRIED)
    .filter((r) => assessTlsReadiness({ ...input, reporters: [...established, r] }).verdict !== leaving.verdict);
  const by = (movers.length > 0 ? movers : byVolume).map(({ org, firstSeen }) => ({ org, firstSeen }));

  if (CAUTION[counting.verdict] < CAUTION[leaving.verdict]) {
    return { ...counting, moved: { counting: 'without', verdict: leaving.verdict, summary: leaving.summary, by } };
  }
  const moved: MovedVerdict<TlsVerdict> = { counting: 'with', verdict: counting.verdict, summary: counting.summary, by };
  if (leaving.verdict === 'no-data') {
    return {
      ...leaving,
      summary: 'No TLS reports yet from established senders',
      reasons: [
        `Every TLS report of the last ${TLS_READINESS_WINDOW_DAYS} days comes from a ` +
          `sending organisation first received within the last ${NEW_REPORTER_DAYS} days.`,
      ],
      moved,
    };
  }
  return { ...leaving, moved };
}
