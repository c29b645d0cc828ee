/** What every data rule is given, and the small helpers they share. */
import { SHOWN_NAME_MAX, clip, plural } from '../../lib/text.ts';
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

/**
 * A name from a report (a reporter's `org_name`) as an alert shows it: clipped to SHOWN_NAME_MAX
 * characters, as the digest shows it. Keys take the whole name (alertKey keeps them short).
 */
export const shownName = (name: string): string => clip(name, SHOWN_NAME_MAX);

/** Reporters a sentence names; the rest are counted. */
const REPORTERS_NAMED = 5;

/**
 * Reporters' names for a sentence: the first REPORTERS_NAMED, clipped, then how many more. Sentences
 * become issue comments and pull-request bodies, which GitHub limits to 65,536 characters: a flood of
 * forged reporters must not push them over.
 */
export function reporterList(orgs: readonly string[]): string {
  const named = orgs.slice(0, REPORTERS_NAMED).map(shownName);
  const rest = orgs.length - named.length;
  return rest > 0 ? `${named.join(', ')} and ${plural(rest, 'other reporter')}` : named.join(', ');
}
