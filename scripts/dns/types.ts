/**
 * The DNS stage's contracts: what a provider reads and writes, and the plan as plain data.
 *
 * Unit of management: the TXT records at one owner name that dmarcops owns. At `_dmarc.<domain>`
 * those are the DMARC records (a value that starts with v=DMARC1); other TXT at that name are not
 * ours: they are reported, never changed (unless the user asks with --delete-unrelated). At
 * `<d>._report._dmarc.<host>` the authorisation TXT (v=DMARC1) is ours.
 */
import type { DnsProviderName } from '../policy/model.ts';

/** One TXT resource record as a provider holds it. */
export interface TxtRecord {
  /** Fully qualified owner name, lower case, no trailing dot. */
  name: string;
  ttl: number;
  /** The logical value: its character-strings joined (what receivers read). */
  value: string;
  /** The character-strings as stored, when the provider exposes them. */
  strings?: string[];
  /** The provider's identifier of this record (Cloudflare record id), when it has one. */
  id?: string;
}

/** A change to the TXT records dmarcops owns at one name in one zone. */
export interface RecordChange {
  action: 'create' | 'update' | 'delete';
  provider: DnsProviderName;
  zone: string;
  name: string;
  type: 'TXT';
  /** The owned records there now (their logical values); null for a create. */
  before: string[] | null;
  /** The owned records wanted there; null for a delete. */
  after: string[] | null;
  ttlBefore: number | null;
  ttlAfter: number | null;
  /** Why, in words: "new domain", "policy quarantine → reject", "2 DMARC records at one name (invalid)", … */
  reason: string;
  /** A deletion or a weaker policy (reject → quarantine → none): needs --force (or the PR label). */
  risky: boolean;
}

/** Something seen that dmarcops will not change, shown in the plan. */
export interface PlanNotice {
  level: 'info' | 'warning';
  zone: string;
  name: string;
  message: string;
}

/** `dmarcops plan --format json`. The checksum covers changes and the before state. */
export interface Plan {
  version: 1;
  checksum: string;
  generatedAt: string;
  changes: RecordChange[];
  notices: PlanNotice[];
  /** Zones read, with their provider, for the summary line. */
  zones: { provider: DnsProviderName; zone: string; names: number }[];
  /** With `dmarcops plan --base <ref>`: which changes the base's domain files give too. Not in the checksum. */
  base?: PlanBase;
}

/**
 * The base a pull request's plan was compared with (`dmarcops plan --base <ref>`): the plan of the base
 * commit's domain files against the same provider listings. A change that plan has too is already
 * pending on the base (left by an earlier merge that apply refused, or by an edit to DNS), so it is not
 * the pull request's own; every other change is.
 */
export interface PlanBase {
  /** The commit the ref named, full sha. */
  commit: string;
  /** `changeIdentity` of each change of this plan that the base gives too. */
  pending: string[];
}

/**
 * A DNS provider behind dmarcops: octoDNS-style, small. It reads only the names asked for and
 * changes only the records a change names; every other record in the zone is invisible to it.
 */
export interface DnsProvider {
  readonly name: DnsProviderName;
  /** TXT records at these owner names (all of them, ours and not ours). One listing per zone, not per name. */
  listTxt(zone: string, names: readonly string[]): Promise<TxtRecord[]>;
  /**
   * Apply the changes of one zone, all or nothing where the provider can (Cloudflare batch,
   * PowerDNS PATCH). `current` is what listTxt returned for those names, so records not owned
   * (other TXT at `_dmarc`) can be preserved and provider ids found.
   */
  applyZone(zone: string, changes: readonly RecordChange[], current: readonly TxtRecord[]): Promise<void>;
}
