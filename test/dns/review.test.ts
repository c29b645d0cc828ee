/**
 * The review binding, pure parts: change identities, the base plan from one read of the providers, and
 * `checkReview`, the decision apply makes on a merge (every change reviewed; a risky one only as the
 * own change of a labelled pull request).
 */
import { describe, expect, test } from 'vitest';
import { evaluateGates, mergeGates } from '../../scripts/dns/apply.ts';
import { changeIdentity } from '../../scripts/dns/checksum.ts';
import { makePlan } from '../../scripts/dns/plan.ts';
import { checkReview, makePlanWithBase, reviewRecord, splitByBase } from '../../scripts/dns/review.ts';
import type { ReviewedPullRequest, ReviewEvidence } from '../../scripts/dns/review.ts';
import type { Plan, RecordChange } from '../../scripts/dns/types.ts';
import type { DomainPolicy } from '../../scripts/policy/model.ts';
import { managedRecords } from '../../scripts/policy/record.ts';
import { makePolicy } from '../helpers/policy.ts';
import { FakeProvider, fakeResolver } from './fake-provider.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const BASE = 'b'.repeat(40);
const txt = (name: string, value: string) => ({ name, value, ttl: 3600 });
const inZone = (domain: string, p: DomainPolicy['p'] = 'reject') =>
  makePolicy(domain, { p, dns: { provider: 'cloudflare', zone: 'example.com', ttl: 3600 } });

/** DNS holds old/mail/shop at p=reject; the base asks for mail and shop (old was removed earlier). */
function dns() {
  return new FakeProvider('cloudflare', {
    'example.com': [
      txt('_dmarc.old.example.com', 'v=DMARC1; p=reject'),
      txt('_dmarc.mail.example.com', 'v=DMARC1; p=reject'),
      txt('_dmarc.shop.example.com', 'v=DMARC1; p=reject'),
    ],
  });
}
const base = {
  desired: managedRecords([inZone('mail.example.com'), inZone('shop.example.com')]),
  removedDomains: ['old.example.com'],
  commit: BASE,
};
/** The head weakens shop (its own risky change); old's deletion is already pending on the base. */
const head = managedRecords([inZone('mail.example.com'), inZone('shop.example.com', 'none'), inZone('new.example.com')]);

async function headPlan(): Promise<Plan> {
  return (await makePlanWithBase(head, base, fakeResolver(dns()), { removedDomains: ['old.example.com'], now: NOW })).plan;
}

const byName = (plan: Pick<Plan, 'changes'>, name: string): RecordChange => {
  const change = plan.changes.find((candidate) => candidate.name === name);
  if (change === undefined) throw new Error(`no change at ${name}`);
  return change;
};

describe('change identity', () => {
  test('what the change does, not its words: reason and risky are left out; before, after and ttl count', async () => {
    const change = byName(await headPlan(), '_dmarc.shop.example.com');
    const id = changeIdentity(change);
    expect(id).toMatch(/^[A-Za-z0-9+/]{22}$/);
    expect(changeIdentity({ ...change, reason: 'reworded', risky: false })).toBe(id);
    expect(changeIdentity({ ...change, before: ['v=DMARC1; p=quarantine'] })).not.toBe(id);
    expect(changeIdentity({ ...change, after: ['v=DMARC1; p=quarantine'] })).not.toBe(id);
    expect(changeIdentity({ ...change, ttlAfter: 300 })).not.toBe(id);
    expect(changeIdentity({ ...change, zone: 'shop.example.com' })).not.toBe(id);
  });
});

describe('the plan with its base', () => {
  test('the head plan is the one makePlan gives; changes the base gives too are pending, the rest own', async () => {
    const provider = dns();
    const { plan } = await makePlanWithBase(head, base, fakeResolver(provider), { removedDomains: ['old.example.com'], now: NOW });
    const alone = (await makePlan(head, fakeResolver(dns()), { removedDomains: ['old.example.com'], now: NOW })).plan;
    expect(plan.checksum).toBe(alone.checksum);
    expect(plan.changes).toEqual(alone.changes);
    // One listing of the zone serves both plans.
    expect(provider.listCalls).toHaveLength(1);

    const { own, pending } = splitByBase(plan);
    expect(own.map((change) => change.name).sort()).toEqual(['_dmarc.new.example.com', '_dmarc.shop.example.com']);
    expect(pending.map((change) => change.name)).toEqual(['_dmarc.old.example.com']);
    expect(plan.base).toEqual({ commit: BASE, pending: [changeIdentity(byName(plan, '_dmarc.old.example.com'))] });
  });

  test('a name only the base looks at is read too, but does not enter the head plan', async () => {
    // The head drops mail (a deletion of its own); the base looked at mail, the head at it as a removed domain.
    const provider = dns();
    const dropped = managedRecords([inZone('shop.example.com')]);
    const { plan } = await makePlanWithBase(dropped, base, fakeResolver(provider), {
      removedDomains: ['old.example.com', 'mail.example.com'],
      now: NOW,
    });
    const alone = (await makePlan(dropped, fakeResolver(dns()), { removedDomains: ['old.example.com', 'mail.example.com'], now: NOW }))
      .plan;
    expect(plan.changes).toEqual(alone.changes);
    expect(splitByBase(plan).own.map((change) => `${change.action} ${change.name}`)).toEqual(['delete _dmarc.mail.example.com']);
  });

  test('without a base no change is known to be its own', async () => {
    const plan = (await makePlan(head, fakeResolver(dns()), { removedDomains: ['old.example.com'], now: NOW })).plan;
    expect(splitByBase(plan)).toEqual({ own: [], pending: plan.changes });
    const record = reviewRecord(plan, { number: 3, head: 'a'.repeat(40) });
    expect(record.own).toEqual([]);
    expect(record.pending).toHaveLength(plan.changes.length);
    expect('base' in record).toBe(false);
  });
});

describe('checkReview', () => {
  const pr = (number: number, plan: Plan, force = false): ReviewedPullRequest => ({
    number,
    force,
    record: reviewRecord(plan, { number, head: 'a'.repeat(40) }),
  });
  const merge = (merged: number | undefined, ...pullRequests: ReviewedPullRequest[]): ReviewEvidence => ({
    trigger: 'merge',
    ...(merged === undefined ? {} : { merged }),
    pullRequests,
    notes: [],
  });

  test('the plan that was reviewed, its own risky change labelled: nothing to say', async () => {
    const plan = await headPlan();
    // old's deletion (pending) is risky; here it was labelled as the own change of an earlier pull request #1.
    const earlier = {
      ...plan,
      base: { commit: BASE, pending: plan.changes.filter((change) => change.name !== '_dmarc.old.example.com').map(changeIdentity) },
    };
    const check = checkReview(plan, merge(2, pr(2, plan, true), pr(1, earlier, true)));
    expect(check).toEqual({ merged: 2, unreviewed: [], unforced: [], problems: [] });
  });

  test('the label of the merged pull request covers its own risky change, never one pending on its base', async () => {
    const plan = await headPlan();
    const check = checkReview(plan, merge(2, pr(2, plan, true)));
    expect(check.unreviewed).toEqual([]);
    expect(check.unforced).toEqual([{ change: byName(plan, '_dmarc.old.example.com'), owners: [] }]);
    expect(check.problems).toEqual([
      "1 risky change (_dmarc.old.example.com) is not #2's own: its plan showed it as already " +
        'pending on its base; the dmarcops:force label on #2 covers only its own changes. ' +
        'Label the pull request that made it and run dns-apply by hand, or run it by hand with force',
    ]);
    // The pull request whose own change it is, unlabelled: named, with the label to add.
    const earlier = { ...plan, base: { commit: BASE, pending: [] } };
    const named = checkReview(plan, merge(2, pr(2, plan, true), pr(1, earlier, false)));
    expect(named.unforced).toEqual([{ change: byName(plan, '_dmarc.old.example.com'), owners: [1] }]);
    expect(named.problems[0]).toMatch(
      /^1 risky change \(_dmarc\.old\.example\.com\) of #1 needs the dmarcops:force label on #1 \(a label on another pull request does not count\)/,
    );
  });

  test('a change in no reviewed plan is refused, whatever the labels; force (a run by hand) does not change that', async () => {
    const plan = await headPlan();
    const reviewedBefore = { ...plan, changes: plan.changes.filter((change) => change.name !== '_dmarc.new.example.com') };
    const evidence = {
      ...merge(2, pr(2, reviewedBefore, true)),
      searched: 4,
      notes: ['#1 has no plan comment written by github-actions[bot]'],
    };
    const check = checkReview(plan, evidence, true);
    expect(check.unreviewed.map((change) => change.name)).toEqual(['_dmarc.new.example.com']);
    expect(check.unforced).toEqual([]);
    expect(check.problems).toEqual([
      '1 change (_dmarc.new.example.com) is in none of the reviewed plans looked at (the plans ' +
        'of #2 and of 4 other recently merged pull requests): DNS or the default branch changed ' +
        'since the review; review it in a new pull request, or run dns-apply by hand with force',
      '#1 has no plan comment written by github-actions[bot]',
    ]);
  });

  test('the same edit against other records in DNS is another change: a stale review does not cover it', async () => {
    const plan = await headPlan();
    const stale = structuredClone(plan);
    byName(stale, '_dmarc.shop.example.com').before = ['v=DMARC1; p=quarantine'];
    const check = checkReview(plan, merge(2, pr(2, stale, true)));
    expect(check.unreviewed.map((change) => change.name)).toEqual(['_dmarc.shop.example.com']);
  });

  test('a direct push (no merged pull request) reviews nothing, even when another pull request planned the same', async () => {
    const plan = await headPlan();
    const check = checkReview(plan, merge(undefined, pr(2, plan, true)));
    expect(check.unreviewed).toHaveLength(plan.changes.length);
    expect(check.problems[0]).toMatch(
      /^this push did not merge a pull request into the default branch \(a direct push\).*run dns-apply by hand \(workflow_dispatch\) with force$/,
    );
  });

  test('the gates: review replaces the plain force rule; the deletion cap and the checksum still apply', async () => {
    const plan = await headPlan();
    const gates = evaluateGates(plan, { review: merge(2, pr(2, plan, true)), maxDeletes: 0, reviewedChecksum: '0'.repeat(64) });
    expect(gates.ok).toBe(false);
    expect(gates.problems.map((problem) => problem.split(' ').slice(0, 4).join(' '))).toEqual([
      'the plan differs from',
      '1 risky change (_dmarc.old.example.com)',
      '1 deletions exceed the',
    ]);
    expect(gates.review?.unforced).toHaveLength(1);
    // The comment's view of the merge: this pull request alone, its label, its own changes.
    expect(mergeGates(plan, { number: 2, labelled: true }).review?.unforced.map((entry) => entry.change.name)).toEqual([
      '_dmarc.old.example.com',
    ]);
    expect(mergeGates(plan, { number: 2, labelled: false }).review?.unforced.map((entry) => [entry.change.name, entry.owners])).toEqual([
      ['_dmarc.old.example.com', []],
      ['_dmarc.shop.example.com', [2]],
    ]);
  });
});
