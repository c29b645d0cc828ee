/**
 * The impact of a policy change as plain data: what `dmarcops impact --format json` prints and
 * `dmarcops comment --impact` reads. This is the stable JSON contract documented in docs/impact.md:
 * add fields freely, never rename or repurpose one without bumping `version`.
 *
 * Counts are whole messages. Receivers that apply `pct` (RFC 7489 §6.6.4) sample, so their figures
 * are expected values: they are summed unrounded and rounded once, at the end, each figure on its
 * own (so a total may differ by one from the sum of its rounded parts).
 */
import type { Category } from '../reports/classify.ts';

export type { Category } from '../reports/classify.ts';
export type { Disposition } from '../policy/model.ts';

export const IMPACT_VERSION = 1;

/** The keys of a domain file whose change can alter what receivers do with mail, plus `file` (added or removed). */
export const POLICY_KEYS = [
  'file',
  'policy',
  'subdomain_policy',
  'nonexistent_subdomain_policy',
  'testing',
  'percent',
  'alignment.dkim',
  'alignment.spf',
  'senders',
] as const;
export type PolicyKey = (typeof POLICY_KEYS)[number];

/** One changed key: its value before and after as the domain file says it (defaults merged); null = not set / no file. */
export interface KeyChange {
  key: PolicyKey;
  before: string | null;
  after: string | null;
  /** `defaults`: neither version of the domain file sets the key itself, so the change came through `_defaults.yaml`. */
  via: 'domain-file' | 'defaults';
}

/** Messages (expected, whole) per disposition a receiver would apply. `none` = delivered as usual (passing or p=none). */
export interface DispositionMix {
  none: number;
  quarantine: number;
  reject: number;
}

/** What the change does to a set of messages, for one generation of receivers. */
export interface ChangeCounts {
  /** All messages of the set in the window, changed or not. */
  messages: number;
  /** Delivered before, quarantined after. */
  newlyQuarantined: number;
  /** Delivered or quarantined before, rejected after. */
  newlyRejected: number;
  /** Handled less strictly after: rejected → quarantined or delivered, quarantined → delivered. */
  relaxed: number;
}

export interface LegitimateSplit {
  /** compliant + forwarded + authorised-failing. */
  legitimate: ChangeCounts;
  unauthorised: ChangeCounts;
}

/**
 * One source behind the changes: a declared sender (`sender`), a named service (`service`), the
 * base domain of the PTR name (`host`) or the bare IP address (`ip`) — as the dashboard names
 * sources — and one category of its mail.
 */
export interface ImpactSource {
  name: string;
  kind: 'sender' | 'service' | 'host' | 'ip';
  category: Category;
  legitimate: boolean;
  /** The category under the base's `senders`, when declaring or removing a sender re-labels this mail. */
  categoryBefore?: Category;
  messages: number;
  /** Messages that pass DMARC under the base and under the head (alignment recomputed with each version's modes). */
  dmarcPass: { before: number; after: number };
  /** RFC 9989 receivers. */
  before: DispositionMix;
  after: DispositionMix;
  newlyQuarantined: number;
  newlyRejected: number;
  relaxed: number;
  /** RFC 7489 receivers (which ignore `t` and sample by `pct`). */
  rfc7489: { before: DispositionMix; after: DispositionMix; newlyQuarantined: number; newlyRejected: number; relaxed: number };
}

/** The sources beyond the listed ones, summed. */
export interface OtherSources {
  sources: number;
  messages: number;
  newlyQuarantined: number;
  newlyRejected: number;
  relaxed: number;
}

export type DomainStatus = 'no-data' | 'no-effect' | 'no-legitimate-impact' | 'legitimate-impact';

/** The next rung of the RFC 9989 ramp from the head, replayed over the same window. */
export interface NextStep {
  /** What to change, e.g. "policy: quarantine, testing: true"; null at the end of the ramp. */
  step: string | null;
  changes: KeyChange[];
  status: 'no-data' | 'safe' | 'affects-legitimate' | 'end-of-ramp';
  /** RFC 9989 receivers. */
  legitimate: ChangeCounts;
  unauthorised: ChangeCounts;
  rfc7489: LegitimateSplit;
  /** Legitimate sources it would newly quarantine or reject (either generation), most messages first. */
  affectedSources: { name: string; category: Category; messages: number }[];
  verdict: string;
}

export interface DomainImpact {
  domain: string;
  /** The domain file in each version (null: none). */
  file: { before: string | null; after: string | null };
  /** Keys that changed, in POLICY_KEYS order (the contract's short form of `changes`). */
  changed: PolicyKey[];
  changes: KeyChange[];
  status: DomainStatus;
  /** Messages in the window whose From domain this domain file governs (its own, or as organizational domain). */
  messages: number;
  /** Distinct reporting organisations and UTC days of reports behind the figures. */
  reporters: number;
  days: number;
  /** RFC 9989 receivers: `t=y` applies one step less, `pct` is ignored. */
  legitimate: ChangeCounts;
  unauthorised: ChangeCounts;
  /** RFC 7489 receivers: `t` is ignored, `pct`% get the policy and the rest one step less. */
  rfc7489: LegitimateSplit;
  /** Whether the two generations of receivers would do different things with this domain's mail. */
  receiversDiffer: boolean;
  /** RFC 9989 figures per category. */
  categories: Record<Category, ChangeCounts>;
  /** Messages whose side (legitimate or unauthorised) changes because the head's `senders` differ from the base's. */
  relabelled: { toLegitimate: number; toUnauthorised: number };
  sources: ImpactSource[];
  otherSources: OtherSources | null;
  /** What had to be assumed (a subdomain's existence: sp or np), in words. */
  assumptions: string[];
  verdict: string;
  /** Null for a domain file the head removes. */
  nextStep: NextStep | null;
}

export interface ImpactReport {
  version: typeof IMPACT_VERSION;
  /** Where each version's domain files came from: a git ref (with its commit) or a folder. */
  base: { ref: string | null; commit: string | null; dir: string | null };
  head: { ref: string | null; commit: string | null; dir: string | null };
  /**
   * The window: reports that start after `from` and no later than `to`, where `to` is the newest
   * report end in the dataset and `from` is `days` × 24 h before it (ISO 8601, UTC). Null bounds:
   * the dataset holds no reports (or nothing was read because nothing changed).
   */
  window: { from: string | null; to: string | null; days: number };
  /** False when no domain changed a policy-relevant key: nothing to replay, no section in the pull request. */
  changed: boolean;
  domains: DomainImpact[];
  /**
   * Legitimate messages newly quarantined or rejected, over all domains, by the generation of
   * receivers that affects more of them (what `--fail-on-legitimate` compares).
   */
  legitimateAffected: number;
  /** Why real receivers may do less than these figures say. */
  caveats: string[];
}

export const CAVEATS: readonly string[] = [
  'Upper bound: receivers may apply local policy and override DMARC (RFC 7489 §6.7), and many deliver mail ' +
    'that fails only through forwarding or a mailing list when ARC or their own knowledge vouches for it.',
  'Replayed from aggregate reports: only receivers that send reports are seen, and a report describes what the receiver saw, not every copy of the mail.',
  "Alignment is recomputed from the reported DKIM and SPF results with each version's modes and the Public Suffix List " +
    '(RFC 7489 discovery); receivers that walk the DNS tree (RFC 9989) reach the same organizational domain for names the repository manages.',
];
