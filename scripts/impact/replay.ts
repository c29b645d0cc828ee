/**
 * The replay: one distinct key of the window's report records (From domain, DKIM and SPF results,
 * envelope, override reasons, and what the source IP tells: forwarder or not, inside which declared
 * senders' ranges) evaluated under a version of the domain files. Pure: no I/O, no clock.
 *
 * For each version:
 *  1. the record that applies to the From domain: its own domain file, else its organizational
 *     domain's (`applicablePolicy`, the site's offline discovery), with `p`, or `sp`/`np` for a
 *     subdomain — taken to exist (sp), with what np would do noted where the two differ;
 *  2. DMARC pass recomputed from the stored results under that record's `adkim`/`aspf`
 *     (`dkimAligned`/`spfAligned` of ../reports/derive.ts, as ingest derives it), so relaxed →
 *     strict turns mail that aligned only by organizational domain into failures;
 *  3. what receivers do with failing mail, per generation:
 *     - RFC 9989: the requested policy, one step less with `t=y` (reject → quarantine → none);
 *       `pct` no longer exists and is ignored;
 *     - RFC 7489: `t` is unknown and ignored; `pct`% of failing mail gets the policy and the rest one
 *       step less (RFC 7489 §6.6.4: reject → quarantine, quarantine → local classification, i.e.
 *       delivered), so its dispositions are expected values (a `Mix`).
 * Passing mail and mail no record governs are delivered (`none`).
 *
 * The category (../reports/classify.ts) is one per key: the head's `senders` (so declaring a sender
 * re-labels its mail), applied to the mail as it authenticates today — DMARC recomputed under the
 * base, or under the head for a domain the base did not govern. Mail that passes today only through
 * relaxed alignment is compliant, so tightening alignment shows as legitimate mail newly rejected.
 */
import type { AlignmentMode, Disposition, DomainPolicy } from '../policy/model.ts';
import { applicablePolicy } from '../policy/orgdomain.ts';
import { classify, matchSender } from '../reports/classify.ts';
import type { Category, ClassifyRow, DkimResultRow, OverrideReasonRow, SpfResultRow } from '../reports/classify.ts';
import { dkimAligned, spfAligned } from '../reports/derive.ts';
import type { ReportRecord } from '../reports/parse/types.ts';

// ---------------------------------------------------------------------------------------------
// Dispositions

/** Shares (or expected messages) per disposition: [none, quarantine, reject]. */
export type Mix = readonly [number, number, number];

const LEVEL: Record<Disposition, number> = { none: 0, quarantine: 1, reject: 2 };
const BY_LEVEL: readonly Disposition[] = ['none', 'quarantine', 'reject'];

export const DELIVERED: Mix = [1, 0, 0];

export function pure(disposition: Disposition): Mix {
  const mix: [number, number, number] = [0, 0, 0];
  mix[LEVEL[disposition]] = 1;
  return mix;
}

/** What "one step less" means for t=y (RFC 9989) and for mail `pct` sampled out (RFC 7489 §6.6.4). */
export function oneStepLess(disposition: Disposition): Disposition {
  return BY_LEVEL[Math.max(0, LEVEL[disposition] - 1)] ?? 'none';
}

/** What each generation of receivers does with failing mail under `policy` when it asks for `requested`. */
export function receiverMixes(policy: Pick<DomainPolicy, 'testing' | 'pct'>, requested: Disposition): { rfc9989: Mix; rfc7489: Mix } {
  const rfc9989 = pure(policy.testing ? oneStepLess(requested) : requested);
  const share = Math.min(1, Math.max(0, (policy.pct ?? 100) / 100));
  const selected = pure(requested);
  const sampledOut = pure(oneStepLess(requested));
  const spread = (i: 0 | 1 | 2): number => share * selected[i] + (1 - share) * sampledOut[i];
  const rfc7489: Mix = [spread(0), spread(1), spread(2)];
  return { rfc9989, rfc7489 };
}

export interface Movement {
  newlyQuarantined: number;
  newlyRejected: number;
  relaxed: number;
}

/**
 * How messages move between dispositions from `before` to `after` (both shares of the same messages):
 * the least movement that turns one spread into the other (messages matched in order of strictness),
 * so pct=50 → pct=100 of reject newly rejects half, not a random reshuffle of all.
 */
export function movement(before: Mix, after: Mix): Movement {
  // flow[3 * from + to]: the share that goes from disposition `from` to `to`, matching both spreads
  // from the least strict disposition up (a merge of their cumulative sums).
  const flow = Array.from({ length: 9 }, () => 0);
  let from = 0;
  let to = 0;
  let left = before[0];
  let right = after[0];
  const EPSILON = 1e-12;
  while (from < 3 && to < 3) {
    const moved = Math.min(left, right);
    flow[3 * from + to] = (flow[3 * from + to] ?? 0) + moved;
    left -= moved;
    right -= moved;
    if (left <= EPSILON) left = before[++from] ?? 0;
    if (right <= EPSILON) right = after[++to] ?? 0;
  }
  const f = (a: number, b: number): number => flow[3 * a + b] ?? 0;
  return { newlyQuarantined: f(0, 1), newlyRejected: f(0, 2) + f(1, 2), relaxed: f(1, 0) + f(2, 0) + f(2, 1) };
}

// ---------------------------------------------------------------------------------------------
// Versions of the domain files

export interface Governing {
  /** The domain file whose record applies; undefined when none does (no DMARC for this From domain). */
  policy: DomainPolicy | undefined;
  /** What the record asks for failing mail, the subdomain taken to exist. */
  disposition: Disposition | null;
  /** For a subdomain inheriting its organizational domain's record: what applies if it does not exist (np). */
  ifNonexistent: Disposition | null;
  inherited: boolean;
}

const UNGOVERNED: Governing = { policy: undefined, disposition: null, ifNonexistent: null, inherited: false };

/** One version of the domain files, answering "which record applies to this From domain" once per name. */
export class PolicyVersion {
  readonly policies: DomainPolicy[];
  #memo = new Map<string, Governing>();

  constructor(policies: readonly DomainPolicy[]) {
    this.policies = [...policies];
  }

  governing(from: string): Governing {
    let found = this.#memo.get(from);
    if (found === undefined) {
      found = this.#discover(from);
      this.#memo.set(from, found);
    }
    return found;
  }

  #discover(from: string): Governing {
    if (from === '') return UNGOVERNED;
    try {
      const applies = applicablePolicy(from, this.policies);
      const policy = applies.policyDomain === null ? undefined : this.policies.find((p) => p.domain === applies.policyDomain);
      if (policy === undefined || applies.disposition === null) return UNGOVERNED;
      const inherited = applies.source === 'organizational';
      const ifNonexistent = inherited ? applicablePolicy(from, this.policies, { exists: false }).disposition : applies.disposition;
      return { policy, disposition: applies.disposition, ifNonexistent, inherited };
    } catch {
      return UNGOVERNED; // not a domain name (a report with junk in it)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One key under one version

/** The stored columns DMARC evaluation and classification read (docs/dataset.md), as DuckDB returns them. */
export interface AuthInputs {
  header_from: string | null;
  policy_domain: string | null;
  envelope_from: string | null;
  envelope_from_derived: boolean | null;
  dkim_results: DkimResultRow[] | null;
  spf_results: SpfResultRow[] | null;
  override_reasons: OverrideReasonRow[] | null;
}

/** What the replay knows of a source IP (its enrichment as stored, and facts drawn from it). */
export interface IpFacts {
  ip: string;
  baseDomain: string | null;
  name: string | null;
  asn: number | null;
  /** A known forwarder or mailbox provider (../reports/enrich isKnownForwarder). */
  forwarder: boolean;
}

type AuthRecord = Pick<ReportRecord, 'dkim' | 'spf' | 'envelopeFrom' | 'envelopeFromDerived' | 'headerFrom'>;

/** The stored row in the parser's shape, so that derive.ts evaluates it exactly as ingest did. */
export function authRecord(inputs: AuthInputs): AuthRecord {
  const record: AuthRecord = {
    headerFrom: inputs.header_from ?? '',
    dkim: (inputs.dkim_results ?? []).map((d) => ({
      domain: d.domain ?? '',
      result: d.result ?? null,
      ...(d.selector ? { selector: d.selector } : {}),
    })),
    spf: (inputs.spf_results ?? []).map((s) => ({
      domain: s.domain ?? '',
      result: s.result ?? null,
      ...(s.scope ? { scope: s.scope } : {}),
    })),
  };
  if (inputs.envelope_from !== null && inputs.envelope_from !== undefined) record.envelopeFrom = inputs.envelope_from;
  if (inputs.envelope_from_derived === true) record.envelopeFromDerived = true;
  return record;
}

export interface Outcome {
  governed: boolean;
  pass: boolean;
  dkimAligned: boolean;
  spfAligned: boolean;
  adkim: AlignmentMode;
  aspf: AlignmentMode;
  rfc9989: Mix;
  rfc7489: Mix;
  /** Failing mail of a subdomain whose sp and np differ: what each would ask for. */
  existence: { ifExists: Disposition; ifNot: Disposition } | null;
}

export function evaluate(version: PolicyVersion, from: string, record: AuthRecord): Outcome {
  const governing = version.governing(from);
  const adkim = governing.policy?.adkim ?? 'r';
  const aspf = governing.policy?.aspf ?? 'r';
  const dkim = dkimAligned(record, adkim);
  const spf = spfAligned(record, aspf);
  const pass = dkim || spf;
  const base = { governed: governing.policy !== undefined, pass, dkimAligned: dkim, spfAligned: spf, adkim, aspf };
  if (governing.policy === undefined || governing.disposition === null || pass) {
    return { ...base, rfc9989: DELIVERED, rfc7489: DELIVERED, existence: null };
  }
  const mixes = receiverMixes(governing.policy, governing.disposition);
  const existence =
    governing.inherited && governing.ifNonexistent !== null && governing.ifNonexistent !== governing.disposition
      ? { ifExists: governing.disposition, ifNot: governing.ifNonexistent }
      : null;
  return { ...base, ...mixes, existence };
}

// ---------------------------------------------------------------------------------------------
// One key under every version, and its category

export interface EntryVersions {
  base: PolicyVersion;
  head: PolicyVersion;
  /** The head with the entry's next ramp rung applied; null when there is none. */
  next: PolicyVersion | null;
}

export interface KeyOutcome {
  base: Outcome;
  head: Outcome;
  next: Outcome | null;
  category: Category;
  /** The declared sender (head's `senders`) the mail belongs to, passing or failing; null when none. */
  sender: string | null;
  /** The category under the base's `senders`, when a base file governs the From domain. */
  categoryBefore: Category | null;
  /** How its messages move, base → head, per generation of receivers (shares of one message). */
  moved: { rfc9989: Movement; rfc7489: Movement };
  /** Head → next rung. */
  nextMoved: { rfc9989: Movement; rfc7489: Movement } | null;
}

function classifyRow(inputs: AuthInputs, ip: IpFacts, reference: Outcome): ClassifyRow {
  return {
    dmarc_pass: reference.pass,
    dkim_aligned: reference.dkimAligned,
    spf_aligned: reference.spfAligned,
    dkim_results: inputs.dkim_results,
    spf_results: inputs.spf_results,
    override_reasons: inputs.override_reasons,
    header_from: inputs.header_from,
    policy_domain: inputs.policy_domain,
    // The modes the reference version evaluated with (classify prefers a reported mode to the file's).
    policy_adkim: reference.adkim,
    policy_aspf: reference.aspf,
    source_ip: ip.ip,
    source_base_domain: ip.baseDomain,
    source_asn: ip.asn,
    source_name: ip.name,
  };
}

/** `from`: the canonical From domain (the policy domain when the report gave none). */
export function replayKey(from: string, inputs: AuthInputs, ip: IpFacts, versions: EntryVersions): KeyOutcome {
  const record = authRecord(inputs);
  const base = evaluate(versions.base, from, record);
  const head = evaluate(versions.head, from, record);
  const next = versions.next === null ? null : evaluate(versions.next, from, record);

  // Today's authentication (the base), else the head's when no base file governed this mail.
  const reference = base.governed ? base : head;
  const row = classifyRow(inputs, ip, reference);
  const isKnownForwarder = (): boolean => ip.forwarder;
  const headPolicy = versions.head.governing(from).policy;
  const basePolicy = versions.base.governing(from).policy;
  const sendersPolicy = headPolicy ?? basePolicy;
  const result = classify(row, { policy: sendersPolicy, isKnownForwarder });
  // classify names the sender of failing mail only; passing mail of a declared sender is its too (as on the site).
  const sender =
    result.sender ??
    (result.category === 'compliant' && sendersPolicy !== undefined
      ? (matchSender(row, sendersPolicy.senders)?.sender.name ?? null)
      : null);
  const categoryBefore =
    basePolicy === undefined
      ? null
      : basePolicy === sendersPolicy
        ? result.category
        : classify(row, { policy: basePolicy, isKnownForwarder }).category;
  return {
    base,
    head,
    next,
    category: result.category,
    sender,
    categoryBefore,
    moved: { rfc9989: movement(base.rfc9989, head.rfc9989), rfc7489: movement(base.rfc7489, head.rfc7489) },
    nextMoved: next === null ? null : { rfc9989: movement(head.rfc9989, next.rfc9989), rfc7489: movement(head.rfc7489, next.rfc7489) },
  };
}

export const isLegitimate = (category: Category): boolean => category !== 'unauthorised';
