/** What every data rule is given, and the small helpers they share. */
import type { LoadedDomain } from '../../policy/load.ts';
import type { DomainPolicy } from '../../policy/model.ts';
import { num } from '../../site/rollups/common.ts';
import type { AlertsConfig } from '../config.ts';
import type { DataWindow } from '../window.ts';

export interface RuleContext {
  window: DataWindow;
  /** `dom` indexes this list. */
  domains: LoadedDomain[];
  config: AlertsConfig;
  /** The last full UTC day the rules look at (ISO): the day before the run. */
  asOf: string;
  /** The dashboard's root URL (ending in `/`), or null. */
  dashboard: string | null;
  /** Source groups (`<dom>\u0000<key>`) seen in new-source's baseline days before the window (see `groupsSeen`). */
  seenBefore: ReadonlySet<string>;
}

/** Whether receivers act on failing mail: p=reject, or p=quarantine outside testing mode (t=y turns it into none). */
export function enforcing(policy: DomainPolicy): boolean {
  return policy.p === 'reject' || (policy.p === 'quarantine' && !policy.testing);
}

export function ignored(list: readonly string[], domain: string): boolean {
  return list.includes(domain);
}

/** `n` as a JS number from a DuckDB value. */
export { num };

/** What kind of source a group key is, in words. */
export function groupKind(key: string): string {
  const kind = key.slice(0, key.indexOf(':'));
  if (kind === 'service') return 'a known service';
  if (kind === 'base') return 'hosts under this domain name (reverse DNS)';
  if (kind === 'sender') return 'a declared sender';
  return 'an IP address without reverse DNS';
}
