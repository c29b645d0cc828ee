/**
 * What reaches DNS is what an owner reviewed (docs/plan.md, "The review record").
 *
 * - A pull request's plan is computed twice from one read of the providers: from the merged domain
 *   files (the head) and from the base's (`makePlanWithBase`). A change the base gives too was already
 *   pending there (left by an earlier merge that apply refused, or by an edit to DNS): it is not the
 *   pull request's own. The `dmarcops:force` label of a pull request covers its own risky changes only.
 * - The plan workflow records, in the sticky comment, the identities (`changeIdentity`) of every change
 *   shown and of the pull request's own ones, for the head sha it planned (`reviewRecord`).
 * - On a merge, apply plans afresh and `checkReview` asks of every change: was it in the reviewed plan
 *   of the merged pull request (or of another recently merged one)? and, when risky, is it the own change
 *   of a pull request that carries the label now? Pure: the GitHub side is scripts/github/review.ts.
 */
import type { ManagedRecord } from '../policy/model.ts';
import { changeIdentity } from './checksum.ts';
import { computePlan, lookupTargets, readZones, zoneKey } from './plan.ts';
import { compare, groupBy } from '../lib/collections.ts';
import type { PlanOptions, PlanRun, ProviderResolver, ZoneListing, ZoneTarget } from './plan.ts';
import type { Plan, RecordChange } from './types.ts';
import { plural } from '../lib/text.ts';

/** The pull-request label that lets a pull request's own risky changes through on merge. */
export const FORCE_LABEL = 'dmarcops:force';

// ------------------------------------------------------------------------------------------------
// The base plan

export interface BaseInputs {
  /** The records the base commit's domain files ask for. */
  desired: readonly ManagedRecord[];
  /** Domains removed from the domains folder in the base commit's history. */
  removedDomains: readonly string[];
  /** The base commit, full sha. */
  commit: string;
}

/**
 * The head plan, with `base` saying which of its changes the base gives too. Both plans come from one
 * listing per zone (the union of the names either side looks at), each computed from exactly the names
 * it asks for, so the head plan and its checksum are those `makePlan` gives.
 */
export async function makePlanWithBase(
  desired: readonly ManagedRecord[],
  base: BaseInputs,
  resolve: ProviderResolver,
  options: PlanOptions = {},
): Promise<PlanRun> {
  const headTargets = lookupTargets(desired, options);
  // The names published before (MTA-STS / TLS reporting, from the whole history) are looked at on both
  // sides, so a deletion the base already gives counts as pending there, not as this change's own.
  const baseTargets = lookupTargets(base.desired, {
    removedDomains: base.removedDomains,
    ...(options.formerNames === undefined ? {} : { formerNames: options.formerNames }),
  });
  const listings = await readZones(unionTargets(headTargets, baseTargets), resolve, options.concurrency);
  const headListings = restrictListings(listings, headTargets);
  const plan = computePlan(desired, headListings, options);
  const basePlan = computePlan(base.desired, restrictListings(listings, baseTargets), options);
  const baseIds = new Set(basePlan.changes.map(changeIdentity));
  plan.base = { commit: base.commit, pending: plan.changes.map(changeIdentity).filter((id) => baseIds.has(id)) };
  return { plan, listings: headListings };
}

function unionTargets(a: readonly ZoneTarget[], b: readonly ZoneTarget[]): ZoneTarget[] {
  const merged = new Map<string, ZoneTarget>();
  for (const target of [...a, ...b]) {
    const key = zoneKey(target.provider, target.zone);
    const entry = merged.get(key);
    merged.set(
      key,
      entry === undefined ? { ...target } : { ...entry, names: [...new Set([...entry.names, ...target.names])].sort(compare) },
    );
  }
  return [...merged.values()];
}

/** The listings as if only `targets` had been read: the zones and names they ask for, nothing else. */
function restrictListings(listings: readonly ZoneListing[], targets: readonly ZoneTarget[]): ZoneListing[] {
  const byZone = new Map(listings.map((listing) => [zoneKey(listing.provider, listing.zone), listing]));
  return targets.map((target) => {
    const names = new Set(target.names);
    const records = (byZone.get(zoneKey(target.provider, target.zone))?.records ?? []).filter((record) => names.has(record.name));
    return { ...target, records };
  });
}

/**
 * The plan's changes split into the pull request's own and those already pending on its base. Without
 * `plan.base` (planned without --base) no change is known to be its own: all count as pending, so no
 * label can let a risky one through.
 */
export function splitByBase(plan: Pick<Plan, 'changes' | 'base'>): { own: RecordChange[]; pending: RecordChange[] } {
  const pending = new Set(plan.base?.pending ?? []);
  const own: RecordChange[] = [];
  const shared: RecordChange[] = [];
  for (const change of plan.changes) (plan.base !== undefined && !pending.has(changeIdentity(change)) ? own : shared).push(change);
  return { own, pending: shared };
}

// ------------------------------------------------------------------------------------------------
// The record a pull request's plan comment carries

export interface ReviewRecord {
  /** Format version: 1. */
  v: 1;
  /** The pull request. */
  pr: number;
  /** The pull request's head commit the plan was made for (the event's `pull_request.head.sha`). */
  head: string;
  /** The base commit the own changes were told apart with; absent when planned without --base. */
  base?: string;
  /** The plan's checksum. */
  checksum: string;
  /** Identities of the pull request's own changes. */
  own: string[];
  /** Identities of the changes already pending on the base (shown, not the pull request's own). */
  pending: string[];
}

export function reviewRecord(plan: Plan, pullRequest: { number: number; head: string }): ReviewRecord {
  const { own, pending } = splitByBase(plan);
  const record: ReviewRecord = {
    v: 1,
    pr: pullRequest.number,
    head: pullRequest.head,
    checksum: plan.checksum,
    own: own.map(changeIdentity),
    pending: pending.map(changeIdentity),
  };
  if (plan.base !== undefined) record.base = plan.base.commit;
  return record;
}

// ------------------------------------------------------------------------------------------------
// The check apply makes

/** A merged pull request whose plan comment carries a record for the head that was merged. */
export interface ReviewedPullRequest {
  number: number;
  /** Carries the FORCE_LABEL now (read when apply runs, not from an old event). */
  force: boolean;
  record: ReviewRecord;
}

export interface ReviewEvidence {
  /** merge: a push to the default branch; manual: a run by hand (workflow_dispatch) without force. */
  trigger: 'merge' | 'manual';
  /** The pull request the push merged; undefined on a merge trigger means a direct push. */
  merged?: number;
  /** Pull requests with a usable record: the merged one first, then recently merged ones when looked up. */
  pullRequests: ReviewedPullRequest[];
  /** How many recently merged pull requests were looked at besides the merged one (undefined: none). */
  searched?: number;
  /** Why a pull request's record was not used, one sentence each (said when the check fails). */
  notes: string[];
}

export interface UnforcedChange {
  change: RecordChange;
  /** The pull requests whose own change it is (none of them carries the label). */
  owners: number[];
}

export interface ReviewCheck {
  merged?: number;
  /** Changes in no reviewed plan. */
  unreviewed: RecordChange[];
  /** Risky changes that no label (and no --force) allows. */
  unforced: UnforcedChange[];
  /** One sentence each, empty when apply may go ahead. */
  problems: string[];
}

/**
 * Every change must be in the reviewed plan of a pull request in the evidence, by identity (so the
 * records it replaces must be those that were there at review time). A risky one must also be the own
 * change of a pull request that carries the label, unless `force` (a run by hand). On a merge trigger
 * without a merged pull request (a direct push) nothing is reviewed.
 */
export function checkReview(plan: Pick<Plan, 'changes'>, evidence: ReviewEvidence, force = false): ReviewCheck {
  const reviewed = new Set<string>();
  const owners = new Map<string, ReviewedPullRequest[]>();
  for (const pullRequest of evidence.pullRequests) {
    for (const id of [...pullRequest.record.own, ...pullRequest.record.pending]) reviewed.add(id);
    for (const id of pullRequest.record.own) owners.set(id, [...(owners.get(id) ?? []), pullRequest]);
  }
  const directPush = evidence.trigger === 'merge' && evidence.merged === undefined;
  const unreviewed: RecordChange[] = [];
  const unforced: UnforcedChange[] = [];
  for (const change of plan.changes) {
    const id = changeIdentity(change);
    if (directPush || !reviewed.has(id)) {
      unreviewed.push(change);
      continue;
    }
    const mine = owners.get(id) ?? [];
    if (change.risky && !force && !mine.some((pullRequest) => pullRequest.force))
      unforced.push({ change, owners: mine.map((pullRequest) => pullRequest.number) });
  }

  const problems: string[] = [];
  if (directPush) {
    problems.push(
      'this push did not merge a pull request into the default branch (a direct push), so none of its changes ' +
        'was reviewed: to apply the default branch as it is, run dns-apply by hand (workflow_dispatch) with force',
    );
  } else if (unreviewed.length > 0) {
    const one = unreviewed.length === 1;
    problems.push(
      `${plural(unreviewed.length, 'change')} (${names(unreviewed)}) ${one ? 'is' : 'are'} in none of ` +
        `the reviewed plans looked at (${where(evidence)}): DNS or the default branch changed since the review; ` +
        `review ${one ? 'it' : 'them'} in a new pull request, or run dns-apply by hand with force`,
    );
  }
  const byOwner = groupBy(unforced, (entry) => entry.owners.join(','));
  for (const [key, entries] of [...byOwner.entries()].sort(([a], [b]) => compare(a, b))) {
    const changes = entries.map((entry) => entry.change);
    const what = `${plural(changes.length, 'risky change')} (${names(changes)})`;
    if (key !== '') {
      const prs = key
        .split(',')
        .map((number) => `#${number}`)
        .join(' or ');
      problems.push(
        `${what} of ${prs} need${changes.length === 1 ? 's' : ''} the ${FORCE_LABEL} label on ${prs} ` +
          '(a label on another pull request does not count), or a run of dns-apply by hand with force',
      );
    } else {
      const it = changes.length === 1 ? 'it' : 'them';
      const is = changes.length === 1 ? 'is' : 'are';
      const merged = evidence.pullRequests.find((pullRequest) => pullRequest.number === evidence.merged);
      if (merged === undefined) {
        problems.push(
          `${what} ${is} no reviewed pull request's own change, only shown as already ` +
            `pending on a base: no label allows ${it}; run dns-apply by hand with force`,
        );
      } else {
        const planned = merged.record.base === undefined ? ` (it was planned without --base, so no change is known to be its own)` : '';
        const label = merged.force ? `; the ${FORCE_LABEL} label on #${merged.number} covers only its own changes` : '';
        problems.push(
          `${what} ${is} not #${merged.number}'s own: its plan showed ${it} as already pending on its base${planned}${label}. ` +
            `Label the pull request that made ${it} and run dns-apply by hand, or run it by hand with force`,
        );
      }
    }
  }
  if (problems.length > 0) problems.push(...evidence.notes);
  const result: ReviewCheck = { unreviewed, unforced, problems };
  if (evidence.merged !== undefined) result.merged = evidence.merged;
  return result;
}

function where(evidence: ReviewEvidence): string {
  const others = evidence.searched === undefined ? '' : plural(evidence.searched, 'other recently merged pull request');
  if (evidence.merged !== undefined)
    return others === '' ? `the plan of #${evidence.merged}` : `the plans of #${evidence.merged} and of ${others}`;
  return `the plans of ${plural(evidence.searched ?? 0, 'recently merged pull request')}`;
}

/** Up to three names, then how many more. */
function names(changes: readonly RecordChange[]): string {
  const shown = changes.slice(0, 3).map((change) => change.name);
  return changes.length > 3 ? `${shown.join(', ')} and ${changes.length - 3} more` : shown.join(', ');
}
