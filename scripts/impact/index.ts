/**
 * The impact stage: what a change of the domain files would have done to the organisation's real
 * mail. The stored aggregate-report records of a window are replayed under the base and the head
 * versions of the domain files (./replay.ts), grouped by the distinct keys the replay reads
 * (./query.ts), summed per changed domain and source (./summary.ts), with the next step of the
 * RFC 9989 ramp (./ramp.ts). Renderers: ./render/{text,markdown,json}.ts. Contract: ./model.ts.
 *
 *   const impact = await computeImpact({ base: { domains: baseDomains, ref: 'origin/main' }, head: { domains }, dataDir: 'reports' });
 */
import { DmarcopsError } from '../lib/errors.ts';
import type { LoadedDomain } from '../policy/load.ts';
import type { DomainPolicy, Sender } from '../policy/model.ts';
import { matchSender } from '../reports/classify.ts';
import { normaliseName } from '../lib/dns-name.ts';
import { isKnownForwarder } from '../reports/enrich/index.ts';
import { committedRecordsSql } from '../reports/store/index.ts';
import { openSql } from '../site/rollups/duckdb.ts';
import { diffDomains } from './changes.ts';
import { CAVEATS, IMPACT_VERSION } from './model.ts';
import type { DomainImpact, ImpactReport } from './model.ts';
import { FROMS_COLUMNS, FROMS_TABLE, readFroms, readKeys, readStats, rowFilter } from './query.ts';
import type { IpRows, Keys, StatRows, Window } from './query.ts';
import { nextRung } from './ramp.ts';
import type { Rung } from './ramp.ts';
import { PolicyVersion, replayKey } from './replay.ts';
import type { EntryVersions, IpFacts, KeyOutcome } from './replay.ts';
import { EntryAccumulator, changesSomething, sourceKey } from './summary.ts';

export type { ImpactReport, DomainImpact } from './model.ts';

export const DEFAULT_WINDOW_DAYS = 30;

export interface ImpactVersion {
  /** The loaded domain files (valid: callers stop at validation errors). */
  domains: readonly LoadedDomain[];
  /** A git ref and its commit, or a folder, for the report. */
  ref?: string;
  commit?: string;
  dir?: string;
}

export interface ImpactOptions {
  base: ImpactVersion;
  head: ImpactVersion;
  /** The reports dataset (reports/). */
  dataDir: string;
  /** Days of reports, ending at the newest report end in the dataset. Default 30. */
  days?: number;
  /** Sources listed per domain (default 10). */
  sourcesPerDomain?: number;
  /** Called after each step with its name and duration (the benchmark's breakdown). */
  onStep?: (step: string, ms: number) => void;
}

const describe = (version: ImpactVersion): ImpactReport['base'] => ({
  ref: version.ref ?? null,
  commit: version.commit ?? null,
  dir: version.dir ?? null,
});

/** One policy per domain, the first file of each name (duplicates are a validation error). */
function policiesOf(domains: readonly LoadedDomain[]): DomainPolicy[] {
  const seen = new Set<string>();
  return domains.map((d) => d.policy).filter((p) => !seen.has(p.domain) && seen.add(p.domain));
}

export async function computeImpact(options: ImpactOptions): Promise<ImpactReport> {
  const days = options.days ?? DEFAULT_WINDOW_DAYS;
  if (!Number.isInteger(days) || days < 1) throw new Error(`the window must be a positive whole number of days, not ${days}`);
  const entries = diffDomains(options.base.domains, options.head.domains).filter((entry) => entry.changes.length > 0);
  const report: ImpactReport = {
    version: IMPACT_VERSION,
    base: describe(options.base),
    head: describe(options.head),
    window: { from: null, to: null, days },
    changed: entries.length > 0,
    domains: [],
    legitimateAffected: 0,
    caveats: [...CAVEATS],
  };
  if (entries.length === 0) return report;

  const basePolicies = policiesOf(options.base.domains);
  const headPolicies = policiesOf(options.head.domains);
  const base = new PolicyVersion(basePolicies);
  const head = new PolicyVersion(headPolicies);
  const rungs: (Rung | null)[] = entries.map((entry) => (entry.head === undefined ? null : nextRung(entry.head.policy)));
  const versions: EntryVersions[] = entries.map((entry, i) => {
    const rung = rungs[i];
    const next =
      rung === null || rung === undefined
        ? null
        : new PolicyVersion(headPolicies.map((p) => (p.domain === entry.domain ? rung.policy : p)));
    return { base, head, next };
  });
  // Every domain of either version: a From domain belongs to the most specific file that governs it in either.
  const union = new PolicyVersion([...new Map([...basePolicies, ...headPolicies].map((p) => [p.domain, p])).values()]);
  const entryIndex = new Map(entries.map((entry, i) => [entry.domain, i]));

  const accumulators = entries.map((entry) => new EntryAccumulator(entry));
  let clock = performance.now();
  const step = (name: string): void => {
    const now = performance.now();
    options.onStep?.(name, now - clock);
    clock = now;
  };
  let window: Window | null = null;
  let stats = new Map<number, { reporters: number; days: number }>();
  const sql = await openSql();
  try {
    const records = committedRecordsSql(options.dataDir);
    step('open');
    const froms = await readFroms(sql, records, days);
    window = froms.window;
    step('window');
    if (window !== null) {
      // A From domain belongs to the most specific domain file of either version that governs it.
      const entryOfPair = (headerFrom: string, policyDomain: string): number | undefined => {
        const governing = union.governing(normaliseName(headerFrom) || normaliseName(policyDomain)).policy;
        return governing === undefined ? undefined : entryIndex.get(governing.domain);
      };
      const wanted = froms.pairs.filter((pair) => entryOfPair(pair.headerFrom, pair.policyDomain) !== undefined);
      const filter = rowFilter(froms.pairs, wanted);
      if (filter.exact)
        await sql.load(
          FROMS_TABLE,
          FROMS_COLUMNS,
          wanted.map((pair) => [pair.headerFrom, pair.policyDomain]),
        );
      if (wanted.length > 0) {
        const keys = await readKeys(sql, records, window, filter);
        step(`keys (${keys.rows.key.length} groups, ${keys.inputs.length} keys)`);
        // DuckDB counts reporters and days on its threads while JS replays the keys.
        const statRows = readStats(sql, records, window, filter);
        replayRows(keys, entryOfPair, versions, accumulators);
        step('replay');
        stats = entryStats(await statRows, entryOfPair);
        step('stats (after the replay)');
      }
    }
  } finally {
    sql.close();
  }

  report.window = { from: window?.from.toISOString() ?? null, to: window?.to.toISOString() ?? null, days };
  report.domains = accumulators.map((accumulator, i): DomainImpact => {
    const rung = rungs[i] ?? null;
    return accumulator.finish({
      stats: stats.get(i) ?? { reporters: 0, days: 0 },
      windowDays: days,
      windowTo: report.window.to,
      next: rung === null ? null : { step: rung.step, changes: rung.changes },
      ...(options.sourcesPerDomain === undefined ? {} : { sourcesPerDomain: options.sourcesPerDomain }),
    });
  });
  step('finish');
  report.legitimateAffected = report.domains.reduce((sum, d) => {
    const rfc9989 = d.legitimate.newlyQuarantined + d.legitimate.newlyRejected;
    const rfc7489 = d.rfc7489.legitimate.newlyQuarantined + d.rfc7489.legitimate.newlyRejected;
    return sum + Math.max(rfc9989, rfc7489);
  }, 0);
  return report;
}

// ---------------------------------------------------------------------------------------------
// Replaying the grouped rows

type EntryOfPair = (headerFrom: string, policyDomain: string) => number | undefined;

/** Distinct reporters and days per entry. */
function entryStats(rows: StatRows, entryOfPair: EntryOfPair): Map<number, { reporters: number; days: number }> {
  const seen = new Map<number, { orgs: Set<string>; days: Set<string> }>();
  for (let i = 0; i < rows.org.length; i++) {
    const entry = entryOfPair(rows.headerFrom[i] ?? '', rows.policyDomain[i] ?? '');
    if (entry === undefined) continue;
    const sets = seen.get(entry) ?? { orgs: new Set<string>(), days: new Set<string>() };
    seen.set(entry, sets);
    sets.orgs.add(rows.org[i] ?? '');
    sets.days.add(rows.day[i] ?? '');
  }
  return new Map([...seen].map(([entry, sets]) => [entry, { reporters: sets.orgs.size, days: sets.days.size }]));
}

/** Senders with `ips` ranges, one per distinct list of ranges, so each IP is checked once per list. */
function rangedSenders(policies: readonly DomainPolicy[]): Sender[] {
  const byRanges = new Map<string, Sender>();
  for (const policy of policies) {
    for (const sender of policy.senders) {
      if (sender.ips.length === 0) continue;
      const ranges = JSON.stringify(sender.ips);
      if (!byRanges.has(ranges)) byRanges.set(ranges, { name: ranges, ips: sender.ips, spfIncludes: [], dkim: [] });
    }
  }
  return [...byRanges.values()];
}

interface SourceIp {
  facts: IpFacts;
  /** Which declared ranges hold it and whether it forwards: all the replay draws from the IP. */
  signature: string;
  /** Its own source group: `service:<name>`, `base:<PTR base domain>` or `ip:<address>`. */
  groupKey: string;
  /** The group's number, once replayRows gave it one. */
  group?: number;
}

/** What each source IP (by number) tells the replay, and its own source group. */
function sourceIps(ips: IpRows, ranged: readonly Sender[]): SourceIp[] {
  return ips.ip.map((ip, i) => {
    const name = ips.name[i] ?? null;
    const storedBase = ips.baseDomain[i] ?? null;
    const asn = ips.asn[i] ?? null;
    const baseDomain = normaliseName(storedBase ?? undefined) || null;
    const forwarder = (baseDomain !== null || asn !== null) && isKnownForwarder(baseDomain, asn);
    const ranges = ranged.flatMap((sender, index) => (ip !== '' && matchSender({ source_ip: ip }, [sender]) !== null ? [index] : []));
    const groupKey = name ? `service:${name}` : storedBase ? `base:${storedBase.toLowerCase()}` : `ip:${ip}`;
    return {
      facts: { ip, baseDomain: storedBase, name, asn, forwarder },
      signature: `${forwarder ? 'f' : '-'}${ranges.join(',')}`,
      groupKey,
    };
  });
}

function replayRows(
  { rows, ips: ipRows, inputs }: Keys,
  entryOfPair: EntryOfPair,
  versions: readonly EntryVersions[],
  accumulators: readonly EntryAccumulator[],
): void {
  const allPolicies = versions.flatMap((v) => [v.base, v.head, ...(v.next === null ? [] : [v.next])]).flatMap((v) => v.policies);
  const ips = sourceIps(ipRows, rangedSenders([...new Set(allPolicies)]));
  // One evaluation per (key, what the IP tells): the IP itself never changes the outcome. The rows
  // are first summed per (outcome, source group): every sum after that is linear in messages.
  const outcomes: { outcome: KeyOutcome; entry: number; from: string; messages: number; senderGroup: number | null }[] = [];
  const groupIds = new Map<string, number>();
  const groupKeys: string[] = [];
  // A (key, group) pair as one number: outcome id × GROUPS + group id.
  const GROUPS = 2 ** 21;
  const groupId = (key: string): number => {
    let id = groupIds.get(key);
    if (id === undefined) {
      if (groupKeys.length >= GROUPS) {
        throw new DmarcopsError(
          'impact-too-large',
          `more than ${GROUPS.toLocaleString('en-US')} source groups in the window: too many to replay at once`,
        );
      }
      id = groupKeys.push(key) - 1;
      groupIds.set(key, id);
    }
    return id;
  };
  const pairs = new Map<number, number>();
  // The From domain and entry of each key, from its inputs (the hash covers them).
  const keys = inputs.map((keyInputs) => {
    const headerFrom = keyInputs.header_from ?? '';
    const policyDomain = keyInputs.policy_domain ?? '';
    const entry = entryOfPair(headerFrom, policyDomain);
    return entry === undefined ? null : { from: normaliseName(headerFrom) || normaliseName(policyDomain), entry, inputs: keyInputs };
  });
  // Outcome ids per key, by what the IP tells (its signature).
  const outcomeIds: Map<string, number>[] = keys.map(() => new Map());
  for (let i = 0; i < rows.key.length; i++) {
    const keyNumber = rows.key[i] ?? 0;
    const key = keys[keyNumber];
    if (key === undefined) throw new Error(`internal: impact key ${keyNumber} has no inputs`);
    if (key === null) continue;
    const ip = ips[rows.ip[i] ?? -1];
    if (ip === undefined) throw new Error(`internal: impact row ${i} has no source IP facts`);
    const ids = outcomeIds[keyNumber] as Map<string, number>;
    let id = ids.get(ip.signature);
    if (id === undefined) {
      const entryVersions = versions[key.entry];
      if (entryVersions === undefined) throw new Error(`internal: impact key ${keyNumber} has no domain`);
      const outcome = replayKey(key.from, key.inputs, ip.facts, entryVersions);
      const senderGroup = outcome.sender === null ? null : groupId(`sender:${outcome.sender}`);
      id = outcomes.push({ outcome, entry: key.entry, from: key.from, messages: 0, senderGroup }) - 1;
      ids.set(ip.signature, id);
    }
    const replayed = outcomes[id] as (typeof outcomes)[number];
    const messages = rows.messages[i] ?? 0;
    replayed.messages += messages;
    const group = replayed.senderGroup ?? (ip.group ??= groupId(ip.groupKey));
    const pair = id * GROUPS + group;
    pairs.set(pair, (pairs.get(pair) ?? 0) + messages);
  }
  for (const { outcome, entry, from, messages } of outcomes) accumulators[entry]?.addOutcome(from, outcome, messages);
  // Sources some of whose mail changes are listed with their spreads; the rest are only counted.
  const listable = new Set<number>();
  const entrySource = (entry: number, key: number): number => entry * GROUPS * 4 + key;
  for (const pair of pairs.keys()) {
    const replayed = outcomes[Math.floor(pair / GROUPS)];
    if (replayed !== undefined && changesSomething(replayed.outcome))
      listable.add(entrySource(replayed.entry, sourceKey(pair % GROUPS, replayed.outcome.category)));
  }
  for (const [pair, messages] of pairs) {
    const replayed = outcomes[Math.floor(pair / GROUPS)];
    if (replayed === undefined) continue;
    const group = pair % GROUPS;
    const key = sourceKey(group, replayed.outcome.category);
    accumulators[replayed.entry]?.addSource(
      replayed.outcome,
      key,
      groupKeys[group] ?? '',
      messages,
      listable.has(entrySource(replayed.entry, key)),
    );
  }
}
