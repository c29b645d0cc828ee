/**
 * The executor: applies a `Plan` through the providers, one `applyZone` per zone, behind the safety
 * gates, then proves the result by planning again (zero changes expected) and, when asked, by
 * resolving the changed names at given nameservers.
 *
 * Gates (all checked before anything is written; `evaluateGates` is pure):
 * - reviewed checksum: when the plan that was reviewed is given, the fresh plan must hash the same;
 * - risky changes (a deletion, a weaker policy, removing a non-DMARC TXT) need `force`;
 * - reviewed plans: when review evidence is given (apply in GitHub Actions, scripts/dns/review.ts),
 *   every change must be in a merged pull request's reviewed plan, and a risky one must be the own
 *   change of a pull request carrying the `dmarcops:force` label (or `force`, on a run by hand);
 * - at most `maxDeletes` deletions per run across the whole fleet (default 10); `force` does not lift
 *   it, a higher `maxDeletes` does.
 */
import { Resolver } from 'node:dns/promises';
import type { ManagedRecord } from '../policy/model.ts';
import { isOwnedValue } from './owned.ts';
import { computePlan, planCounts, readZones, zoneKey, makePlan } from './plan.ts';
import { normaliseName } from '../lib/dns-name.ts';
import { mapLimit } from '../lib/concurrency.ts';
import { compare } from '../lib/collections.ts';
import type { PlanOptions, ProviderResolver, ZoneListing } from './plan.ts';
import { checkReview, FORCE_LABEL, reviewRecord } from './review.ts';
import type { ReviewCheck, ReviewEvidence } from './review.ts';
import type { Plan, RecordChange } from './types.ts';

export { FORCE_LABEL } from './review.ts';
export const DEFAULT_MAX_DELETES = 10;

// ------------------------------------------------------------------------------------------------
// Gates

export interface GateOptions {
  force?: boolean;
  maxDeletes?: number;
  /** The checksum of the plan that was reviewed (`--plan plan.json`). */
  reviewedChecksum?: string;
  /**
   * What merged pull requests reviewed (scripts/github/review.ts). When given, it decides risky
   * changes instead of `force` alone: each must be a labelled pull request's own change (or `force`).
   */
  review?: ReviewEvidence;
}

export interface GateReport {
  /** True when apply may go ahead. */
  ok: boolean;
  /** Why it may not, one sentence each. */
  problems: string[];
  risky: RecordChange[];
  deletes: number;
  maxDeletes: number;
  force: boolean;
  /** Undefined when no reviewed checksum was given. */
  checksumMatches?: boolean;
  /** The review check, when review evidence was given. */
  review?: ReviewCheck;
}

export function evaluateGates(plan: Plan, options: GateOptions = {}): GateReport {
  const force = options.force === true;
  const maxDeletes = options.maxDeletes ?? DEFAULT_MAX_DELETES;
  const counts = planCounts(plan);
  const risky = plan.changes.filter((change) => change.risky);
  const problems: string[] = [];
  let checksumMatches: boolean | undefined;
  if (options.reviewedChecksum !== undefined) {
    checksumMatches = options.reviewedChecksum === plan.checksum;
    if (!checksumMatches) {
      problems.push(
        `the plan differs from the reviewed one (reviewed ${options.reviewedChecksum.slice(0, 12)}…, ` +
          `now ${plan.checksum.slice(0, 12)}…): DNS or the domain files changed since; plan and review again`,
      );
    }
  }
  let review: ReviewCheck | undefined;
  if (options.review !== undefined) {
    review = checkReview(plan, options.review, force);
    problems.push(...review.problems);
  } else if (risky.length > 0 && !force) {
    const one = risky.length === 1;
    problems.push(
      `${risky.length} risky change${one ? '' : 's'} (${one ? 'a deletion or a weaker policy' : 'deletions or weaker policies'}) ` +
        `need${one ? 's' : ''} --force (or the ${FORCE_LABEL} label on the pull request)`,
    );
  }
  if (counts.delete > maxDeletes) {
    problems.push(
      `${counts.delete} deletions exceed the cap of ${maxDeletes} per run; raise it with --max-deletes ${counts.delete} if that is intended`,
    );
  }
  const report: GateReport = { ok: problems.length === 0, problems, risky, deletes: counts.delete, maxDeletes, force };
  if (checksumMatches !== undefined) report.checksumMatches = checksumMatches;
  if (review !== undefined) report.review = review;
  return report;
}

/**
 * The gates apply will check when this pull request is merged as planned, for its plan comment and
 * job summary (no other pull request's plan or label counted): every change was reviewed here, its own
 * risky ones pass with the label, the ones already pending on its base never do.
 */
export function mergeGates(plan: Plan, pullRequest: { number: number; labelled: boolean; maxDeletes?: number }): GateReport {
  const record = reviewRecord(plan, { number: pullRequest.number, head: '' });
  const evidence: ReviewEvidence = {
    trigger: 'merge',
    merged: pullRequest.number,
    pullRequests: [{ number: pullRequest.number, force: pullRequest.labelled, record }],
    notes: [],
  };
  return evaluateGates(plan, { ...(pullRequest.maxDeletes === undefined ? {} : { maxDeletes: pullRequest.maxDeletes }), review: evidence });
}

// ------------------------------------------------------------------------------------------------
// Executing

export interface ZoneOutcome {
  provider: RecordChange['provider'];
  zone: string;
  changes: RecordChange[];
  /** skipped: not started because another zone failed first. */
  status: 'applied' | 'failed' | 'skipped';
  error?: string;
}

export interface ExecuteOptions {
  /** Zones written at once (default 8). */
  concurrency?: number;
  /** Called when a zone starts and when it ends. */
  onZone?: (event: { phase: 'start' | 'end'; outcome: ZoneOutcome }) => void;
}

/**
 * Applies the plan's changes, grouped by provider and zone, one `applyZone` call per zone, with the
 * records listed for those names as `current`. No gates here: call `evaluateGates` first. After the
 * first failure no further zone is started (zones already running finish); the rest are `skipped`.
 */
export async function executePlan(
  plan: Plan,
  listings: readonly ZoneListing[],
  resolve: ProviderResolver,
  options: ExecuteOptions = {},
): Promise<ZoneOutcome[]> {
  const groups = new Map<string, ZoneOutcome>();
  for (const change of plan.changes) {
    const key = zoneKey(change.provider, change.zone);
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = { provider: change.provider, zone: change.zone, changes: [], status: 'skipped' }));
    group.changes.push(change);
  }
  const outcomes = [...groups.values()].sort((a, b) => compare(a.provider, b.provider) || compare(a.zone, b.zone));
  const listingByZone = new Map(listings.map((listing) => [zoneKey(listing.provider, listing.zone), listing]));
  let failed = false;

  await mapLimit(outcomes, options.concurrency ?? 8, async (outcome) => {
    if (failed) return;
    options.onZone?.({ phase: 'start', outcome });
    const names = new Set(outcome.changes.map((change) => change.name));
    const current = (listingByZone.get(zoneKey(outcome.provider, outcome.zone))?.records ?? []).filter((record) => names.has(record.name));
    try {
      const provider = await resolve(outcome.provider);
      await provider.applyZone(outcome.zone, outcome.changes, current);
      outcome.status = 'applied';
    } catch (error) {
      failed = true;
      outcome.status = 'failed';
      outcome.error = (error as Error).message;
    }
    options.onZone?.({ phase: 'end', outcome });
  });
  return outcomes;
}

// ------------------------------------------------------------------------------------------------
// Verifying through DNS

export interface DnsCheck {
  name: string;
  /** `address` or `address:port` as given. */
  server: string;
  /** The owned values that should be published now (empty after a deletion). */
  expected: string[];
  /** The owned values the server answered with (DMARC values, plus values the change removed). */
  found: string[];
  ok: boolean;
  /** A lookup error other than "no such name / no TXT", e.g. ETIMEOUT or ECONNREFUSED. */
  error?: string;
}

export interface VerifyDnsOptions {
  /** IP addresses with optional port: `192.0.2.53`, `127.0.0.1:5353`, `[2001:db8::53]:53`. */
  servers: string[];
  /** Per query (default 2000 ms). */
  timeoutMs?: number;
  /** Queries per name and server before giving up on a mismatch (default 5). */
  attempts?: number;
  /** Between attempts (default 2000 ms): providers with an edge network take a moment. */
  delayMs?: number;
  concurrency?: number;
}

/**
 * Resolves each changed name at each server and compares what it answers with the change's `after`.
 * Point it at the zone's authoritative nameservers: a recursive resolver may answer from its cache.
 */
export async function verifyDns(changes: readonly RecordChange[], options: VerifyDnsOptions): Promise<DnsCheck[]> {
  const attempts = Math.max(1, options.attempts ?? 5);
  const delayMs = options.delayMs ?? 2000;
  const resolvers = new Map(
    options.servers.map((server) => {
      const resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: 1 });
      resolver.setServers([server]);
      return [server, resolver] as const;
    }),
  );
  const jobs = changes.flatMap((change) => options.servers.map((server) => ({ change, server })));
  return mapLimit(jobs, options.concurrency ?? 16, async ({ change, server }) => {
    const expected = [...(change.after ?? [])].sort(compare);
    const removed = new Set(change.before ?? []);
    let check: DnsCheck = { name: change.name, server, expected, found: [], ok: false };
    for (let attempt = 1; attempt <= attempts; attempt++) {
      check = { name: change.name, server, expected, found: [], ok: false };
      try {
        const answers = await (resolvers.get(server) as Resolver).resolveTxt(change.name);
        check.found = answers
          .map((strings) => strings.join(''))
          .filter((value) => isOwnedValue(change.name, value) || removed.has(value))
          .sort(compare);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'ERROR';
        if (code !== 'ENOTFOUND' && code !== 'ENODATA') check.error = code;
      }
      check.ok =
        check.error === undefined &&
        check.found.length === expected.length &&
        check.found.every((value, index) => value === expected[index]);
      if (check.ok || attempt === attempts) break;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    return check;
  });
}

// ------------------------------------------------------------------------------------------------
// The whole run

export interface ApplyOptions extends PlanOptions, GateOptions, ExecuteOptions {
  /** Zones read at once while planning and re-planning (default 16). */
  readConcurrency?: number;
  /**
   * Finds what was reviewed for this plan (GitHub), after planning and before the gates, only when the
   * plan has changes; its result becomes `review`. A rejection stops the run before anything is written.
   */
  gatherReview?: (plan: Plan) => Promise<ReviewEvidence>;
  verifyDns?: VerifyDnsOptions;
  /** Called with the fresh plan and the gate report before anything is written. */
  onPlan?: (plan: Plan, gates: GateReport) => void;
}

export interface ApplyResult {
  /**
   * no-changes: DNS already matches; refused: a gate said no, nothing was written; applied: every zone
   * applied, the re-plan is empty and DNS answered as expected; failed: anything else.
   */
  status: 'no-changes' | 'refused' | 'applied' | 'failed';
  plan: Plan;
  gates: GateReport;
  outcomes: ZoneOutcome[];
  /** The plan computed again from the zones that were written: empty when apply converged. */
  verification?: Plan;
  dns?: DnsCheck[];
}

/**
 * `dmarcops apply`: plan afresh, check the gates, apply zone by zone, plan the written zones again,
 * and resolve the changed names when servers are given. Idempotent: a second run finds no changes.
 */
export async function applyDns(
  desired: readonly ManagedRecord[],
  resolve: ProviderResolver,
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const planOptions: PlanOptions = { ...options, concurrency: options.readConcurrency ?? 16 };
  const { plan, listings } = await makePlan(desired, resolve, planOptions);
  const gateOptions: GateOptions = { ...options };
  if (options.gatherReview !== undefined && plan.changes.length > 0) gateOptions.review = await options.gatherReview(plan);
  const gates = evaluateGates(plan, gateOptions);
  options.onPlan?.(plan, gates);
  if (!gates.ok) return { status: 'refused', plan, gates, outcomes: [] };
  if (plan.changes.length === 0) return { status: 'no-changes', plan, gates, outcomes: [] };

  const outcomes = await executePlan(plan, listings, resolve, options);
  const written = outcomes.filter((outcome) => outcome.status === 'applied');
  const writtenZones = new Set(written.map((outcome) => zoneKey(outcome.provider, outcome.zone)));

  // Re-plan only what was written, with the same names, so the check costs one listing per zone.
  const targets = listings
    .filter((listing) => writtenZones.has(zoneKey(listing.provider, listing.zone)))
    .map(({ provider, zone, names }) => ({ provider, zone, names }));
  const again = await readZones(targets, resolve, planOptions.concurrency);
  const inWritten = desired.filter((record) => writtenZones.has(zoneKey(record.provider, normaliseName(record.zone))));
  const verification = computePlan(inWritten, again, options);

  const result: ApplyResult = { status: 'applied', plan, gates, outcomes, verification };
  if (options.verifyDns !== undefined && options.verifyDns.servers.length > 0) {
    result.dns = await verifyDns(
      written.flatMap((outcome) => outcome.changes),
      options.verifyDns,
    );
  }
  const allApplied = written.length === outcomes.length;
  const dnsOk = result.dns?.every((check) => check.ok) ?? true;
  if (!allApplied || verification.changes.length > 0 || !dnsOk) result.status = 'failed';
  return result;
}
