/**
 * Which domains a change of the domain files can affect, and how: the base and head versions
 * compared domain by domain, on the keys that decide what receivers do with mail (POLICY_KEYS).
 * Values are compared after `_defaults.yaml` is merged, so a change in the defaults shows on every
 * domain it reaches (marked `via: defaults`) and on none that overrides it. Pure.
 */
import type { LoadedDomain } from '../policy/load.ts';
import type { DomainPolicy } from '../policy/model.ts';
import type { KeyChange, PolicyKey } from './model.ts';

/** One domain file of either version: what the impact is reported against. */
export interface ImpactEntry {
  domain: string;
  base: LoadedDomain | undefined;
  head: LoadedDomain | undefined;
  /** Empty when nothing policy-relevant differs. */
  changes: KeyChange[];
}

const MODE = { r: 'relaxed', s: 'strict' } as const;

/** A key's value as the domain file says it (defaults merged), and where it sits in the YAML. */
const KEYS: readonly { key: Exclude<PolicyKey, 'file'>; path: readonly string[]; value: (policy: DomainPolicy) => string | null }[] = [
  { key: 'policy', path: ['policy'], value: (p) => p.p },
  { key: 'subdomain_policy', path: ['subdomain_policy'], value: (p) => p.sp ?? null },
  { key: 'nonexistent_subdomain_policy', path: ['nonexistent_subdomain_policy'], value: (p) => p.np ?? null },
  { key: 'testing', path: ['testing'], value: (p) => String(p.testing) },
  { key: 'percent', path: ['percent'], value: (p) => (p.pct === undefined ? null : String(p.pct)) },
  { key: 'alignment.dkim', path: ['alignment', 'dkim'], value: (p) => MODE[p.adkim] },
  { key: 'alignment.spf', path: ['alignment', 'spf'], value: (p) => MODE[p.aspf] },
  { key: 'senders', path: ['senders'], value: (p) => describeSenders(p) },
];

/** The senders by name; a sender edited in place (same names) is marked, so before and after differ. */
function describeSenders(policy: DomainPolicy): string {
  return policy.senders.length === 0 ? '(none)' : policy.senders.map((s) => s.name).join(', ');
}

function sameSenders(a: DomainPolicy, b: DomainPolicy): boolean {
  return JSON.stringify(a.senders) === JSON.stringify(b.senders);
}

/** The policy-relevant differences between two versions of one domain's file. */
export function policyChanges(base: LoadedDomain | undefined, head: LoadedDomain | undefined): KeyChange[] {
  if (base === undefined && head === undefined) return [];
  if (base === undefined || head === undefined) {
    return [{ key: 'file', before: base?.policy.file ?? null, after: head?.policy.file ?? null, via: 'domain-file' }];
  }
  const changes: KeyChange[] = [];
  for (const { key, path, value } of KEYS) {
    const before = value(base.policy);
    let after = value(head.policy);
    if (key === 'senders') {
      if (sameSenders(base.policy, head.policy)) continue;
      if (before === after) after = `${after} (edited)`;
    } else if (before === after) {
      continue;
    }
    const own = base.setsOwn(path) || head.setsOwn(path);
    changes.push({ key, before, after, via: own ? 'domain-file' : 'defaults' });
  }
  return changes;
}

/**
 * Every domain of either version, by name, with its changes. Duplicate files for one domain are a
 * validation error the callers stop at; here the first of each name wins.
 */
export function diffDomains(base: readonly LoadedDomain[], head: readonly LoadedDomain[]): ImpactEntry[] {
  const byName = (domains: readonly LoadedDomain[]): Map<string, LoadedDomain> => {
    const map = new Map<string, LoadedDomain>();
    for (const loaded of domains) if (!map.has(loaded.policy.domain)) map.set(loaded.policy.domain, loaded);
    return map;
  };
  const before = byName(base);
  const after = byName(head);
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  return names.map((domain) => ({
    domain,
    base: before.get(domain),
    head: after.get(domain),
    changes: policyChanges(before.get(domain), after.get(domain)),
  }));
}
