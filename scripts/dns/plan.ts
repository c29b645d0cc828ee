/**
 * The DNS plan: the records the domain files ask for (`managedRecords`) against what the providers
 * hold now, as plain data (`Plan`). Reading is one listing per zone with bounded concurrency; the
 * comparison itself (`computePlan`) is pure, so renderers, the executor and tests share one result.
 *
 * What dmarcops owns, per name it looks at (see docs/plan.md): the TXT values of the kind the name holds
 * (`owned.ts`): DMARC records (`v=DMARC1…`) at `_dmarc.<domain>` and `<domain>._report._dmarc.<host>`,
 * MTA-STS records (`v=STSv1…`) at `_mta-sts.<domain>`, TLS reporting records (`v=TLSRPTv1…`) at
 * `_smtp._tls.<domain>`. Other TXT values there are not ours: reported as a notice, never changed,
 * unless `deleteUnrelated` is set, in which case every TXT value at the name counts as ours.
 * Nothing else in any zone: names that are not asked for are invisible.
 *
 * Deletions: a name dmarcops looks at but no domain file asks for is an orphan, and its DMARC
 * values are deleted (always a risky change). The names looked at are the desired ones plus
 * candidate names (`lookupTargets`): `_dmarc.<d>` for each domain file removed from domains/ (from git
 * history), and `<d>._report._dmarc.<h>` for every domain d and every host h that holds an
 * authorisation today (d and h in different organizational domains), and `formerNames` (the `_mta-sts` and
 * `_smtp._tls` names of domains whose files once asked for them, from git history). A candidate is only looked up in a zone dmarcops manages, i.e. a
 * (provider, zone) pair that at least one current domain file names in `dns:`.
 */
import { DmarcopsError } from '../lib/errors.ts';
import type { DnsProviderName, DmarcRecord, Disposition, ManagedRecord } from '../policy/model.ts';
import { inZone, normaliseName, organizationalDomain } from '../lib/dns-name.ts';
import { parseStsRecord } from '../policy/mtasts.ts';
import { DMARC_TAG_ORDER, formatDmarcRecord, parseDmarcRecord } from '../policy/record.ts';
import { planChecksum } from './checksum.ts';
import { DUPLICATES_IGNORED, isOwnedValue, KIND_LABEL, recordKind } from './owned.ts';
import type { DnsProvider, Plan, PlanNotice, RecordChange, TxtRecord } from './types.ts';
import { clip, plural } from '../lib/text.ts';
import { compare, groupBy, sameMultiset } from '../lib/collections.ts';
import { mapLimit } from '../lib/concurrency.ts';

/** Resolves a provider name to a provider instance (`providers/index.ts`, or a fake in tests). */
export type ProviderResolver = (name: DnsProviderName) => Promise<DnsProvider>;

/** One zone to read: the provider holding it and the owner names dmarcops looks at there. */
export interface ZoneTarget {
  provider: DnsProviderName;
  zone: string;
  /** Sorted, unique, lower case, no trailing dot. */
  names: string[];
}

/** What one `listTxt` call returned, with what it was asked for. */
export interface ZoneListing extends ZoneTarget {
  records: TxtRecord[];
}

export interface LookupOptions {
  /**
   * Domains whose files were removed from domains/ (see `removedDomainsFromGit`). Their `_dmarc` name is
   * looked up in the most specific managed zone that contains it, so a leftover record is deleted.
   */
  removedDomains?: readonly string[];
  /**
   * Names of records dmarcops may have published before and no domain file may ask for now: the
   * `_mta-sts.<d>` and `_smtp._tls.<d>` of domains whose files once had `mta_sts` or `tls_reports`
   * (see `formerTransportNames`). Looked up like removed domains, so a record left over is deleted.
   */
  formerNames?: readonly string[];
}

export interface ComputeOptions {
  /** Every TXT value at a name dmarcops looks at counts as its own, so non-DMARC values are deleted. */
  deleteUnrelated?: boolean;
  /** For `generatedAt`; the checksum does not depend on it. */
  now?: Date;
}

export interface PlanOptions extends LookupOptions, ComputeOptions {
  /** Zones read at once (default 16). */
  concurrency?: number;
}

export interface PlanRun {
  plan: Plan;
  /** The listings the plan was computed from: the executor passes them to `applyZone` as `current`. */
  listings: ZoneListing[];
}

/** Read the zones and compute the plan: the one call `dmarcops plan` and `dmarcops apply` make. */
export async function makePlan(desired: readonly ManagedRecord[], resolve: ProviderResolver, options: PlanOptions = {}): Promise<PlanRun> {
  const targets = lookupTargets(desired, options);
  const listings = await readZones(targets, resolve, options.concurrency);
  return { plan: computePlan(desired, listings, options), listings };
}

// ------------------------------------------------------------------------------------------------
// What to read

/** The (provider, zone) pairs to read and the names to ask for in each. Manual records are never read. */
export function lookupTargets(desired: readonly ManagedRecord[], options: LookupOptions = {}): ZoneTarget[] {
  const targets = new Map<string, { provider: DnsProviderName; zone: string; names: Set<string> }>();
  const target = (provider: DnsProviderName, zone: string) => {
    const key = zoneKey(provider, zone);
    let entry = targets.get(key);
    if (entry === undefined) targets.set(key, (entry = { provider, zone, names: new Set() }));
    return entry;
  };
  const managed = desired.filter((record) => record.provider !== 'manual');
  for (const record of managed) target(record.provider, normaliseName(record.zone)).names.add(normaliseName(record.name));

  const zones = [...targets.values()].map(({ provider, zone }) => ({ provider, zone }));
  const addCandidate = (name: string): void => {
    for (const { provider, zone } of mostSpecificZones(name, zones)) target(provider, zone).names.add(name);
  };

  const current = new Set(managed.map((record) => normaliseName(record.domain)));
  const removed = (options.removedDomains ?? []).map(normaliseName).filter((domain) => domain !== '' && !current.has(domain));
  for (const domain of removed) addCandidate(`_dmarc.${domain}`);
  for (const name of options.formerNames ?? []) addCandidate(normaliseName(name));

  // Authorisations that may be left over: every domain, current or removed, at every host that holds one today.
  const hosts = new Set(
    managed.filter((record) => record.purpose === 'report-authorization').map((record) => authorizationHost(record.name)),
  );
  // Only pairs in different organizational domains: within one, no authorisation is ever published.
  const orgOf = (name: string) => organizationalDomain(name) ?? name;
  for (const host of hosts) {
    if (host === undefined) continue;
    const hostOrg = orgOf(host);
    for (const domain of [...current, ...removed]) if (orgOf(domain) !== hostOrg) addCandidate(`${domain}._report._dmarc.${host}`);
  }

  return [...targets.values()]
    .map(({ provider, zone, names }) => ({ provider, zone, names: [...names].sort(compare) }))
    .sort((a, b) => compare(a.provider, b.provider) || compare(a.zone, b.zone));
}

/** The managed zones holding `name`, keeping only the longest zone name (the delegation that answers). */
function mostSpecificZones(name: string, zones: readonly { provider: DnsProviderName; zone: string }[]) {
  const holding = zones.filter(({ zone }) => inZone(name, zone));
  const longest = Math.max(0, ...holding.map(({ zone }) => zone.length));
  return holding.filter(({ zone }) => zone.length === longest);
}

/**
 * One `listTxt` per zone, at most `concurrency` at a time. Records at names that were not asked for
 * are dropped here, so a provider that returns more cannot widen what dmarcops touches.
 */
export async function readZones(targets: readonly ZoneTarget[], resolve: ProviderResolver, concurrency = 16): Promise<ZoneListing[]> {
  return mapLimit(targets, concurrency, async (target) => {
    const provider = await resolve(target.provider);
    let records: TxtRecord[];
    try {
      records = await provider.listTxt(target.zone, target.names);
    } catch (error) {
      // The provider's code and hint stay (a refused token is still one); the message says which zone.
      const code = error instanceof DmarcopsError ? error.code : 'dns-provider-failed';
      const hint = error instanceof DmarcopsError ? { hint: error.hint } : {};
      throw new DmarcopsError(code, `${target.provider} zone ${target.zone}: cannot list TXT records: ${(error as Error).message}`, {
        cause: error,
        ...hint,
      });
    }
    const asked = new Set(target.names);
    const kept = records.map((record) => ({ ...record, name: normaliseName(record.name) })).filter((record) => asked.has(record.name));
    return { ...target, records: kept };
  });
}

// ------------------------------------------------------------------------------------------------
// The comparison

interface DesiredName {
  provider: DnsProviderName;
  zone: string;
  name: string;
  ttl: number;
  values: string[];
  purpose: ManagedRecord['purpose'];
  domain: string;
}

/**
 * The plan from the desired records and the listings. Pure: the same inputs give the same plan and
 * the same checksum (only `generatedAt` follows `options.now`).
 */
export function computePlan(desired: readonly ManagedRecord[], listings: readonly ZoneListing[], options: ComputeOptions = {}): Plan {
  const changes: RecordChange[] = [];
  const notices: PlanNotice[] = [];
  const wanted = new Map<string, DesiredName>();

  for (const record of desired) {
    const zone = normaliseName(record.zone);
    const name = normaliseName(record.name);
    if (record.provider === 'manual') {
      notices.push({
        level: 'info',
        zone,
        name,
        message: `provider manual: publish ${name} TXT ${record.values.map(quote).join(' ')} by hand (dmarcops record ${record.domain})`,
      });
      continue;
    }
    const key = nameKey(record.provider, zone, name);
    const entry = wanted.get(key);
    if (entry === undefined) {
      wanted.set(key, {
        provider: record.provider,
        zone,
        name,
        ttl: record.ttl,
        values: [...record.values],
        purpose: record.purpose,
        domain: record.domain,
      });
    } else {
      for (const value of record.values) if (!entry.values.includes(value)) entry.values.push(value);
    }
  }

  const seen = new Set<string>();
  for (const listing of listings) {
    const byName = groupBy(listing.records, (record) => record.name);
    for (const name of listing.names) {
      const key = nameKey(listing.provider, listing.zone, name);
      seen.add(key);
      const result = compareName(listing.provider, listing.zone, name, wanted.get(key), byName.get(name) ?? [], options);
      if (result.change !== undefined) changes.push(result.change);
      notices.push(...result.notices);
    }
  }
  const unread = [...wanted.entries()].filter(([key]) => !seen.has(key));
  if (unread.length > 0) {
    const names = unread.map(([, entry]) => `${entry.provider} ${entry.zone} ${entry.name}`).join(', ');
    throw new Error(`no listing for ${names}: read every zone from lookupTargets before planning`);
  }

  changes.sort((a, b) => compare(a.provider, b.provider) || compare(a.zone, b.zone) || compare(a.name, b.name));
  notices.sort((a, b) => compare(a.zone, b.zone) || compare(a.name, b.name) || compare(a.message, b.message));
  const zones = listings
    .map((listing) => ({ provider: listing.provider, zone: listing.zone, names: listing.names.length }))
    .sort((a, b) => compare(a.provider, b.provider) || compare(a.zone, b.zone));
  return {
    version: 1,
    checksum: planChecksum(changes),
    generatedAt: (options.now ?? new Date()).toISOString(),
    changes,
    notices,
    zones,
  };
}

function compareName(
  provider: DnsProviderName,
  zone: string,
  name: string,
  wanted: DesiredName | undefined,
  current: readonly TxtRecord[],
  options: ComputeOptions,
): { change?: RecordChange; notices: PlanNotice[] } {
  const notices: PlanNotice[] = [];
  const kind = recordKind(name);
  const label = KIND_LABEL[kind];
  const ours = current.filter((record) => isOwnedValue(name, record.value));
  const unrelated = current.filter((record) => !isOwnedValue(name, record.value));
  // Sorted by value so the plan (and its checksum) does not depend on the order a provider lists in.
  const owned = (options.deleteUnrelated ? [...current] : ours).sort((a, b) => compare(a.value, b.value) || a.ttl - b.ttl);

  if (unrelated.length > 0 && wanted !== undefined && !options.deleteUnrelated) {
    notices.push({
      level: 'warning',
      zone,
      name,
      message:
        `${plural(unrelated.length, 'TXT record')} here ${unrelated.length === 1 ? 'is' : 'are'} ` +
        `not ${label} (${unrelated.map((record) => quote(clip(record.value))).join(', ')}): ` +
        `left alone; --delete-unrelated removes ${unrelated.length === 1 ? 'it' : 'them'}`,
    });
  }
  if (ours.length > 1) {
    notices.push({
      level: 'warning',
      zone,
      name,
      message: `${ours.length} ${label} records at one name: ${DUPLICATES_IGNORED[kind]}${wanted === undefined ? '' : '; the plan replaces them with one'}`,
    });
  }

  const base = { provider, zone, name, type: 'TXT' as const };
  const before = owned.map((record) => record.value);
  const ttlBefore = owned[0]?.ttl ?? null;

  if (wanted === undefined) {
    if (owned.length === 0) return { notices };
    const reason = [orphanReason(name), ...unrelatedReason(name, owned, [])].join('; ');
    return { change: { ...base, action: 'delete', before, after: null, ttlBefore, ttlAfter: null, reason, risky: true }, notices };
  }

  if (owned.length === 0) {
    const reason = createReason(wanted, name);
    return {
      change: {
        ...base,
        action: 'create',
        before: null,
        after: [...wanted.values],
        ttlBefore: null,
        ttlAfter: wanted.ttl,
        reason,
        risky: false,
      },
      notices,
    };
  }

  const sameValues = sameMultiset(before, wanted.values);
  const sameTtl = owned.every((record) => record.ttl === wanted.ttl);
  if (sameValues && sameTtl) return { notices };

  const reasons: string[] = [];
  const ownedBefore = owned.filter((record) => isOwnedValue(name, record.value)).map((record) => record.value);
  const sameOwned = sameMultiset(ownedBefore, wanted.values);
  if (ownedBefore.length > 1) reasons.push(`${ownedBefore.length} ${label} records at one name (invalid): replaced by one`);
  else if (!sameOwned && ownedBefore.length === 1 && wanted.values.length === 1)
    reasons.push(describeValueChange(name, ownedBefore[0] ?? '', wanted.values[0] ?? ''));
  else if (!sameOwned && ownedBefore.length === 0)
    reasons.push(wanted.purpose === 'report-authorization' ? 'authorisation added' : createReason(wanted, name));
  if (!sameTtl) reasons.push(`ttl ${ttlBefore ?? '?'} → ${wanted.ttl}`);
  reasons.push(...unrelatedReason(name, owned, wanted.values));

  const weaker = kind === 'dmarc' ? weakenings(ownedBefore, wanted.values) : [];
  const risky = weaker.length > 0 || owned.some((record) => !isOwnedValue(name, record.value) && !wanted.values.includes(record.value));
  return {
    change: {
      ...base,
      action: 'update',
      before,
      after: [...wanted.values],
      ttlBefore,
      ttlAfter: wanted.ttl,
      reason: reasons.join('; '),
      risky,
    },
    notices,
  };
}

function createReason(wanted: DesiredName, name: string): string {
  if (wanted.purpose === 'policy') return `new domain ${wanted.domain}`;
  if (wanted.purpose === 'mta-sts') return `MTA-STS for ${wanted.domain} (policy id ${parseStsRecord(wanted.values[0] ?? '').id ?? '?'})`;
  if (wanted.purpose === 'tls-rpt') return `TLS reports for ${wanted.domain}`;
  return `authorises ${wanted.domain}'s aggregate reports to ${authorizationHost(name) ?? name}`;
}

/** One owned value replaced by another, in words: DMARC tag by tag, MTA-STS by its id. */
function describeValueChange(name: string, before: string, after: string): string {
  const kind = recordKind(name);
  if (kind === 'dmarc') return describeTagChanges(before, after);
  if (kind === 'mta-sts') {
    const from = parseStsRecord(before).id;
    const to = parseStsRecord(after).id;
    if (from === to) return 'same policy id, rewritten in canonical form';
    return `policy id ${from ?? '(unreadable)'} → ${to ?? '?'}: the policy file changed, senders fetch it again`;
  }
  return 'report destinations changed';
}

function orphanReason(name: string): string {
  const host = authorizationHost(name);
  if (host !== undefined) return `${name.slice(0, name.indexOf('._report._dmarc.'))} no longer reports to ${host}`;
  const kind = recordKind(name);
  if (kind === 'mta-sts') return `no mta_sts for ${name.replace(/^_mta-sts\./, '')} in domains/ any more`;
  if (kind === 'tls-rpt') return `no tls_reports for ${name.replace(/^_smtp\._tls\./, '')} in domains/ any more`;
  return `no domain file for ${name.replace(/^_dmarc\./, '')} (removed from domains/)`;
}

function unrelatedReason(name: string, owned: readonly TxtRecord[], after: readonly string[]): string[] {
  const removed = owned.filter((record) => !isOwnedValue(name, record.value) && !after.includes(record.value));
  return removed.length === 0
    ? []
    : [
        `removes ${plural(removed.length, 'TXT record')} that ${removed.length === 1 ? 'is' : 'are'} not ${KIND_LABEL[recordKind(name)]} (--delete-unrelated)`,
      ];
}

// ------------------------------------------------------------------------------------------------
// Describing a change

const RANK: Record<Disposition, number> = { none: 0, quarantine: 1, reject: 2 };
const BY_RANK: Disposition[] = ['none', 'quarantine', 'reject'];

interface Enforcement {
  p: Disposition;
  sp: Disposition;
  np: Disposition;
  pct: number;
  testing: boolean;
}

/** What receivers apply (RFC 9989: sp defaults to p, np to sp; t=y applies one step less). */
function enforcement(value: string): Enforcement {
  const { record } = parseDmarcRecord(value);
  const p = record.p ?? 'none';
  const sp = record.sp ?? p;
  const np = record.np ?? sp;
  return { p, sp, np, pct: record.pct ?? 100, testing: record.t === 'y' };
}

function applied(disposition: Disposition, testing: boolean): Disposition {
  return testing ? (BY_RANK[Math.max(0, RANK[disposition] - 1)] ?? 'none') : disposition;
}

/**
 * How `after` enforces less than `before`, in words (empty when it does not): p/sp/np as receivers
 * apply them (t=y counted as one step less) and pct lowered. Several DMARC records at one name are
 * ignored by receivers (RFC 7489 §6.6.3), so replacing them never weakens anything; a record that is
 * removed entirely is a deletion, described by `describeRisk`.
 */
export function weakenings(before: readonly string[], after: readonly string[]): string[] {
  if (before.length !== 1 || after.length !== 1) return [];
  const old = enforcement(before[0] ?? '');
  const now = enforcement(after[0] ?? '');
  const result: string[] = [];
  for (const tag of ['p', 'sp', 'np'] as const) {
    const from = applied(old[tag], old.testing);
    const to = applied(now[tag], now.testing);
    if (RANK[to] < RANK[from]) {
      const testing = now.testing && !old.testing ? ' (t=y: one step less)' : '';
      result.push(`${tag} ${from} → ${to}${testing}`);
    }
  }
  if (now.pct < old.pct && now.p !== 'none') result.push(`pct ${old.pct} → ${now.pct}`);
  return result;
}

/** What a risky change would do, for the renderers; undefined when the change is not risky. */
export function describeRisk(change: RecordChange): string | undefined {
  if (!change.risky) return undefined;
  const host = authorizationHost(change.name);
  const kind = recordKind(change.name);
  const owns = (value: string) => isOwnedValue(change.name, value);
  if (change.action === 'delete') {
    if (host !== undefined) {
      const reported = change.name.slice(0, change.name.indexOf('._report._dmarc.'));
      return `deletes the report authorisation: receivers stop sending ${reported}'s aggregate reports to ${host}`;
    }
    const ours = (change.before ?? []).some(owns);
    const count = change.before?.length ?? 0;
    const notOurs = `deletes ${plural(count, 'TXT record')} that ${count === 1 ? 'is' : 'are'} not ${KIND_LABEL[kind]}`;
    if (!ours) return notOurs;
    if (kind === 'mta-sts') {
      return (
        'deletes the MTA-STS record: senders that cached the policy keep applying it for up ' +
        'to its max_age and never see an update; withdraw with mode: none first (RFC 8461 §8.3)'
      );
    }
    if (kind === 'tls-rpt')
      return `deletes the TLS reporting record: senders stop sending TLS reports for ${change.name.replace(/^_smtp\._tls\./, '')}`;
    return `deletes the DMARC record: receivers apply no DMARC policy to ${change.name.replace(/^_dmarc\./, '')}`;
  }
  const ownedBefore = (change.before ?? []).filter(owns);
  const weaker = kind === 'dmarc' ? weakenings(ownedBefore, change.after ?? []) : [];
  const parts: string[] = [];
  if (weaker.length > 0) parts.push(`weakens the policy: ${weaker.join(', ')}`);
  const unrelated = (change.before ?? []).filter((value) => !owns(value) && !(change.after ?? []).includes(value));
  if (unrelated.length > 0)
    parts.push(`deletes ${plural(unrelated.length, 'TXT record')} that ${unrelated.length === 1 ? 'is' : 'are'} not ${KIND_LABEL[kind]}`);
  return parts.length > 0 ? parts.join('; ') : 'risky';
}

/** `p=quarantine → p=reject; t=y removed; rua changed`, or a note that only the form changes. */
export function describeTagChanges(before: string, after: string): string {
  const old = tagStrings(parseDmarcRecord(before).record);
  const now = tagStrings(parseDmarcRecord(after).record);
  const parts: string[] = [];
  for (const tag of DMARC_TAG_ORDER) {
    const from = old.get(tag);
    const to = now.get(tag);
    if (from === to) continue;
    if (from === undefined) parts.push(`${short(to ?? '', tag)} added`);
    else if (to === undefined) parts.push(`${short(from, tag)} removed`);
    else if (from.length + to.length > 80) parts.push(`${tag} changed`);
    else parts.push(`${from} → ${to}`);
  }
  return parts.length > 0 ? parts.join('; ') : 'same policy, rewritten in canonical form';
}

function tagStrings(record: DmarcRecord): Map<string, string> {
  const result = new Map<string, string>();
  for (const tag of DMARC_TAG_ORDER) {
    if (record[tag] === undefined) continue;
    result.set(tag, formatDmarcRecord({ [tag]: record[tag] }).replace(/^v=DMARC1; /, ''));
  }
  return result;
}

function short(tagValue: string, tag: string): string {
  return tagValue.length > 60 ? tag : tagValue;
}

// ------------------------------------------------------------------------------------------------
// Helpers

/** `<domain>._report._dmarc.<host>` → host; undefined for other names. */
export function authorizationHost(name: string): string | undefined {
  const marker = '._report._dmarc.';
  const at = name.indexOf(marker);
  return at < 0 ? undefined : name.slice(at + marker.length);
}

/** Counts of a plan's changes by action, and how many are risky. */
export function planCounts(plan: Pick<Plan, 'changes'>): { create: number; update: number; delete: number; risky: number } {
  const counts = { create: 0, update: 0, delete: 0, risky: 0 };
  for (const change of plan.changes) {
    counts[change.action]++;
    if (change.risky) counts.risky++;
  }
  return counts;
}

export function zoneKey(provider: DnsProviderName, zone: string): string {
  return `${provider}\u0000${zone}`;
}

function nameKey(provider: DnsProviderName, zone: string, name: string): string {
  return `${provider}\u0000${zone}\u0000${name}`;
}

function quote(value: string): string {
  return JSON.stringify(value);
}
