/**
 * The impact stage: what a change of the domain files would have done to the organisation's real
 * mail. The stored aggregate-report records of a window are replayed under the base and the head
 * versions of the domain files (./replay.ts), grouped by the distinct keys the replay reads
 * (./query.ts), summed per changed domain and source (./summary.ts), with the next step of the
 * RFC 9989 ramp (./ramp.ts). Renderers: ./render/{text,markdown,json}.ts. Contract: ./model.ts.
 *
 *   const impact = await computeImpact({ base: { domains: baseDomains, ref: 'origin/main' }, head: { domains }, dataDir: 'reports' });
 */
import type { LoadedDomain } from '../policy/load.ts';
import type { DomainPolicy, Sender } from '../policy/model.ts';
import { matchSender } from '../reports/classify.ts';
import { canonicalDomain } from '../reports/derive.ts';
import { isKnownForwarder } from '../reports/enrich/index.ts';
import { committedRecordsSql } from '../reports/store/index.ts';
import { openSql } from '../site/rollups/duckdb.ts';
import { diffDomains } from './changes.ts';
import { CAVEATS, IMPACT_VERSION } from './model.ts';
import type { DomainImpact, ImpactReport } from './model.ts';
import { FROMS_COLUMNS, FROMS_TABLE, readFroms, readKeys, readStats } from './query.ts';
import type { KeyRows, Window } from './query.ts';
import { nextRung } from './ramp.ts';
import type { Rung } from './ramp.ts';
import { PolicyVersion, replayKey } from './replay.ts';
import type { AuthInputs, EntryVersions, IpFacts, KeyOutcome } from './replay.ts';
import { EntryAccumulator } from './summary.ts';

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

const describe = (version: ImpactVersion): ImpactReport['base'] => ({ ref: version.ref ?? null, commit: version.commit ?? null, dir: version.dir ?? null });

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
    const next = rung === null || rung === undefined ? null : new PolicyVersion(headPolicies.map((p) => (p.domain === entry.domain ? rung.policy : p)));
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
      const fromNames: string[] = [];
      const fromIds = new Map<string, number>();
      const rows: [string, string, number, number][] = [];
      for (const { headerFrom, policyDomain } of froms.pairs) {
        const from = canonicalDomain(headerFrom) || canonicalDomain(policyDomain);
        const governing = union.governing(from).policy;
        const entry = governing === undefined ? undefined : entryIndex.get(governing.domain);
        if (entry === undefined) continue;
        let fromId = fromIds.get(from);
        if (fromId === undefined) {
          fromId = fromNames.push(from) - 1;
          fromIds.set(from, fromId);
        }
        rows.push([headerFrom, policyDomain, entry, fromId]);
      }
      await sql.load(FROMS_TABLE, FROMS_COLUMNS, rows);
      if (rows.length > 0) {
        const keys = await readKeys(sql, records, window);
        step(`keys (${keys.rows.hash.length} groups, ${keys.inputs.size} keys)`);
        stats = await readStats(sql, records, window);
        step('stats');
        replayRows(keys.rows, keys.inputs, fromNames, versions, accumulators);
        step('replay');
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
}

/** Per IP, the enrichment of its latest ingest (ties: the greatest), as the site decides it. */
function sourceIps(rows: KeyRows, ranged: readonly Sender[]): Map<string, SourceIp> {
  const latest = new Map<string, { ingested: number; baseDomain: string | null; name: string | null; asn: number | null; tie: string }>();
  for (let i = 0; i < rows.ip.length; i++) {
    const ip = rows.ip[i] ?? '';
    const candidate = { ingested: rows.ingested[i] ?? 0, baseDomain: rows.baseDomain[i] ?? null, name: rows.name[i] ?? null, asn: rows.asn[i] ?? null, tie: '' };
    candidate.tie = JSON.stringify([candidate.baseDomain, candidate.name, candidate.asn]);
    const known = latest.get(ip);
    if (known === undefined || candidate.ingested > known.ingested || (candidate.ingested === known.ingested && candidate.tie > known.tie)) latest.set(ip, candidate);
  }
  const result = new Map<string, SourceIp>();
  for (const [ip, e] of latest) {
    const baseDomain = canonicalDomain(e.baseDomain ?? undefined) || null;
    const forwarder = (baseDomain !== null || e.asn !== null) && isKnownForwarder(baseDomain, e.asn);
    const ranges = ranged.flatMap((sender, index) => (ip !== '' && matchSender({ source_ip: ip }, [sender]) !== null ? [index] : []));
    const groupKey = e.name ? `service:${e.name}` : e.baseDomain ? `base:${e.baseDomain.toLowerCase()}` : `ip:${ip}`;
    result.set(ip, { facts: { ip, baseDomain: e.baseDomain, name: e.name, asn: e.asn, forwarder }, signature: `${forwarder ? 'f' : '-'}${ranges.join(',')}`, groupKey });
  }
  return result;
}

function replayRows(
  rows: KeyRows,
  inputs: Map<bigint, AuthInputs>,
  fromNames: readonly string[],
  versions: readonly EntryVersions[],
  accumulators: readonly EntryAccumulator[],
): void {
  const allPolicies = versions.flatMap((v) => [v.base, v.head, ...(v.next === null ? [] : [v.next])]).flatMap((v) => v.policies);
  const ips = sourceIps(rows, rangedSenders([...new Set(allPolicies)]));
  // One evaluation per (key, what the IP tells): the IP itself never changes the outcome. The rows
  // are first summed per (outcome, source group): every sum after that is linear in messages.
  const outcomeIds = new Map<string, number>();
  const outcomes: { outcome: KeyOutcome; entry: number; from: string; messages: number }[] = [];
  const groupIds = new Map<string, number>();
  const groupKeys: string[] = [];
  // A (key, group) pair as one number: outcome id × GROUPS + group id.
  const GROUPS = 2 ** 21;
  const groupId = (key: string): number => {
    let id = groupIds.get(key);
    if (id === undefined) {
      if (groupKeys.length >= GROUPS) throw new Error(`more than ${GROUPS} source groups in the window`);
      id = groupKeys.push(key) - 1;
      groupIds.set(key, id);
    }
    return id;
  };
  const pairs = new Map<number, number>();
  for (let i = 0; i < rows.hash.length; i++) {
    const entry = rows.entry[i] ?? 0;
    const hash = rows.hash[i] ?? 0n;
    const ip = ips.get(rows.ip[i] ?? '');
    if (ip === undefined) throw new Error(`internal: impact row ${i} has no source IP facts`);
    const cacheKey = `${entry}|${rows.fromId[i]}|${hash}|${ip.signature}`;
    let id = outcomeIds.get(cacheKey);
    if (id === undefined) {
      const from = fromNames[rows.fromId[i] ?? 0] ?? '';
      const keyInputs = inputs.get(hash);
      const entryVersions = versions[entry];
      if (keyInputs === undefined || entryVersions === undefined) throw new Error(`internal: impact key ${hash} has no inputs or domain`);
      id = outcomes.push({ outcome: replayKey(from, keyInputs, ip.facts, entryVersions), entry, from, messages: 0 }) - 1;
      outcomeIds.set(cacheKey, id);
    }
    const replayed = outcomes[id] as (typeof outcomes)[number];
    const messages = rows.messages[i] ?? 0;
    replayed.messages += messages;
    const group = replayed.outcome.sender !== null ? groupId(`sender:${replayed.outcome.sender}`) : groupId(ip.groupKey);
    const pair = id * GROUPS + group;
    pairs.set(pair, (pairs.get(pair) ?? 0) + messages);
  }
  for (const { outcome, entry, from, messages } of outcomes) accumulators[entry]?.addOutcome(from, outcome, messages);
  for (const [pair, messages] of pairs) {
    const replayed = outcomes[Math.floor(pair / GROUPS)];
    if (replayed !== undefined) accumulators[replayed.entry]?.addSource(replayed.outcome, groupKeys[pair % GROUPS] ?? '', messages);
  }
}
