/**
 * The category of a dataset row (one report record): compliant, forwarded, authorised but failing,
 * or unauthorised. It is not stored in the dataset: it depends on the `senders:` of the domain files,
 * which change, so the site computes it at build time with this module, and declaring a sender
 * re-labels the history. The rules in words, with examples: docs/categories.md.
 *
 * Rules, first match wins:
 *   1. `dmarc_pass`                                                          → compliant
 *   2. SPF not aligned, a DKIM signature by a domain aligned with the From domain (passing, or
 *      broken in transit), and the source is a known forwarder / mailbox provider (base domain or
 *      ASN) or the receiver reports ARC / forwarding evidence in its override reasons → forwarded
 *   3. the row matches a sender declared in the domain file's `senders:` (see `matchSender`)
 *                                                                          → authorised-failing (+ a hint)
 *   4. everything else                                                    → unauthorised
 *
 * Pure: no I/O, no clock. The known-forwarder lookup is injected (`context.isKnownForwarder`,
 * normally `isKnownForwarder` from ./enrich/index.ts), so tests and the site decide what it knows.
 */
import { BlockList } from 'node:net';
import type { DomainPolicy, Sender } from '../policy/model.ts';
import { applicablePolicy } from '../policy/orgdomain.ts';
import { alignmentMode, domainsAligned } from './derive.ts';
import { canonicalIp } from '../lib/ip.ts';
import { inZone, normaliseName } from '../lib/dns-name.ts';

// ---------------------------------------------------------------------------------------------
// Types

export type Category = 'compliant' | 'forwarded' | 'authorised-failing' | 'unauthorised';

export const CATEGORIES: readonly Category[] = ['compliant', 'forwarded', 'authorised-failing', 'unauthorised'];

export interface DkimResultRow {
  domain: string | null;
  selector?: string | null;
  result: string | null;
  human_result?: string | null;
}

export interface SpfResultRow {
  domain: string | null;
  scope?: string | null;
  result: string | null;
  human_result?: string | null;
}

export interface OverrideReasonRow {
  type: string | null;
  comment?: string | null;
}

/**
 * The dataset columns classification reads (docs/dataset.md), as DuckDB's `getRowObjectsJS()` returns
 * them: snake_case, nulls for unknowns, BIGINT columns possibly as `bigint`. Other columns may be present.
 */
export interface ClassifyRow {
  dmarc_pass?: boolean | null;
  dkim_aligned?: boolean | null;
  spf_aligned?: boolean | null;
  dkim_results?: readonly DkimResultRow[] | null;
  spf_results?: readonly SpfResultRow[] | null;
  source_ip?: string | null;
  source_ptr?: string | null;
  source_base_domain?: string | null;
  source_name?: string | null;
  source_type?: string | null;
  source_asn?: number | bigint | null;
  override_reasons?: readonly OverrideReasonRow[] | null;
  header_from?: string | null;
  envelope_from?: string | null;
  policy_domain?: string | null;
  policy_adkim?: string | null;
  policy_aspf?: string | null;
  message_count?: number | bigint | null;
}

export interface ClassifyContext {
  /** The domain file for the row's policy domain; undefined when there is none (no senders then). */
  policy: DomainPolicy | undefined;
  /** Whether a host is a known forwarder / mailbox provider, by base domain, else by ASN. Default: none is. */
  isKnownForwarder?: (baseDomain: string | null, asn: number | null) => boolean;
}

export interface Classification {
  category: Category;
  /** The declared sender's `name` (authorised-failing only). */
  sender?: string;
  /** Why, as short machine-readable strings such as `dkim-aligned`, `ip:192.0.2.0/24`, `arc:arc=pass`. */
  evidence: string[];
  /** What to do about it (authorised-failing, and unauthorised mail from a named service). */
  hint?: string;
}

/**
 * How a row was tied to a declared sender:
 * - `ip`: the source IP is inside one of the sender's `ips` (address or CIDR, IPv4 or IPv6);
 * - `dkim`: a DKIM result (any result) has the `domain` of one of the sender's `dkim` entries and,
 *   when the entry names a selector, that selector;
 * - `spf-include`: an SPF result for the MAIL FROM identity *passed* for a domain equal to or under
 *   one of the sender's `spfIncludes` (e.g. `eu-west-1.amazonses.com` under `amazonses.com`): the
 *   service's own bounce domain. A non-passing result is no evidence, as anyone can write any envelope.
 */
export type SenderEvidence =
  | { type: 'ip'; ip: string; range: string }
  | { type: 'dkim'; domain: string; selector: string | null; result: string; entry: { domain: string; selector?: string } }
  | { type: 'spf-include'; domain: string; include: string };

export interface SenderMatch {
  sender: Sender;
  evidence: SenderEvidence[];
}

// ---------------------------------------------------------------------------------------------
// Matching declared senders

interface IpRange {
  text: string;
  list: BlockList;
}

const rangeCache = new WeakMap<Sender, IpRange[]>();

/** One BlockList per `ips` entry (so evidence can name it). Entries that do not parse are skipped: validation is the policy stage's job. */
function ipRanges(sender: Sender): IpRange[] {
  let ranges = rangeCache.get(sender);
  if (ranges !== undefined) return ranges;
  ranges = [];
  for (const raw of sender.ips ?? []) {
    const text = raw.trim();
    const slash = text.indexOf('/');
    const address = canonicalIp(slash === -1 ? text : text.slice(0, slash));
    if (address === null) continue;
    const family = address.includes(':') ? 'ipv6' : 'ipv4';
    const max = family === 'ipv4' ? 32 : 128;
    const prefixText = slash === -1 ? String(max) : text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) continue;
    const prefix = Number(prefixText);
    if (prefix > max) continue;
    const list = new BlockList();
    list.addSubnet(address, prefix, family);
    ranges.push({ text, list });
  }
  rangeCache.set(sender, ranges);
  return ranges;
}

/** SPF results for the MAIL FROM identity (scope `mfrom`, or no scope). */
function mfromResults(row: ClassifyRow): SpfResultRow[] {
  return (row.spf_results ?? []).filter((r) => {
    const scope = (r.scope ?? '').trim().toLowerCase();
    return scope === '' || scope === 'mfrom';
  });
}

const isPass = (result: string | null | undefined): boolean => (result ?? '').trim().toLowerCase() === 'pass';

function senderEvidence(row: ClassifyRow, sender: Sender): SenderEvidence[] {
  const evidence: SenderEvidence[] = [];
  const ip = row.source_ip ? canonicalIp(row.source_ip) : null;
  if (ip !== null) {
    const family = ip.includes(':') ? 'ipv6' : 'ipv4';
    for (const range of ipRanges(sender)) {
      if (range.list.check(ip, family)) {
        evidence.push({ type: 'ip', ip, range: range.text });
        break;
      }
    }
  }
  for (const entry of sender.dkim ?? []) {
    const wantDomain = normaliseName(entry.domain);
    const wantSelector = entry.selector?.trim().toLowerCase();
    for (const sig of row.dkim_results ?? []) {
      const domain = normaliseName(sig.domain);
      if (domain === '' || domain !== wantDomain) continue;
      const selector = sig.selector?.trim().toLowerCase() || null;
      if (wantSelector !== undefined && wantSelector !== '' && selector !== wantSelector) continue;
      evidence.push({ type: 'dkim', domain, selector, result: (sig.result ?? 'none').toLowerCase(), entry });
    }
  }
  const passing = mfromResults(row).filter((r) => isPass(r.result));
  for (const include of sender.spfIncludes ?? []) {
    const parent = normaliseName(include);
    const hit = passing.find((r) => inZone(normaliseName(r.domain), parent));
    if (hit) evidence.push({ type: 'spf-include', domain: normaliseName(hit.domain), include: parent });
  }
  return evidence;
}

/** How strong a match is: the source IP cannot be forged, a passing DKIM or SPF is authenticated, a failing DKIM signature is a claim. */
function strength(evidence: SenderEvidence[]): number {
  let best = 0;
  for (const e of evidence) {
    const score = e.type === 'ip' ? 3 : e.type === 'dkim' ? (e.result === 'pass' ? 2 : 1) : 2;
    best = Math.max(best, score);
  }
  return best;
}

/**
 * The declared sender a row belongs to, with the evidence that tied it (see `SenderEvidence`).
 * When several senders match, the strongest evidence wins, then the order of declaration.
 */
export function matchSender(row: ClassifyRow, senders: readonly Sender[]): SenderMatch | null {
  let best: SenderMatch | null = null;
  let bestStrength = 0;
  for (const sender of senders) {
    const evidence = senderEvidence(row, sender);
    const s = strength(evidence);
    if (s > bestStrength) {
      best = { sender, evidence };
      bestStrength = s;
    }
  }
  return best;
}

/** Evidence as the short strings `Classification.evidence` carries. */
export function describeEvidence(e: SenderEvidence): string {
  switch (e.type) {
    case 'ip':
      return `ip:${e.ip} in ${e.range}`;
    case 'dkim':
      return `dkim:d=${e.domain}${e.selector === null ? '' : ` s=${e.selector}`} ${e.result}`;
    case 'spf-include':
      return `spf-include:${e.domain} under ${e.include}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Forwarding evidence

const FORWARDING_REASON_TYPES = new Set(['forwarded', 'trusted_forwarder', 'mailing_list']);

/** Override reasons that say the receiver saw forwarding (RFC 7489 reason types) or a passing ARC chain. */
export function arcEvidence(row: ClassifyRow): string[] {
  const evidence: string[] = [];
  for (const reason of row.override_reasons ?? []) {
    const type = (reason.type ?? '').trim().toLowerCase();
    const comment = reason.comment ?? '';
    if (FORWARDING_REASON_TYPES.has(type)) evidence.push(`override:${type}`);
    else if (/\barc\s*=\s*pass\b/i.test(comment)) evidence.push(`arc:${comment.trim()}`);
  }
  return evidence;
}

function toNumber(value: number | bigint | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'bigint' ? Number(value) : value;
}

// ---------------------------------------------------------------------------------------------
// Hints

function fromDomain(row: ClassifyRow, context: ClassifyContext): string {
  return normaliseName(row.header_from) || normaliseName(row.policy_domain) || (context.policy?.domain ?? 'your domain');
}

/** What the owner of a declared sender should change so that its mail passes DMARC. */
function fixHint(row: ClassifyRow, context: ClassifyContext, sender: Sender): string {
  const domain = fromDomain(row, context);
  const adkim = alignmentMode(row.policy_adkim, context.policy?.adkim);
  const aspf = alignmentMode(row.policy_aspf, context.policy?.aspf);
  const signatures = row.dkim_results ?? [];
  const aligned = signatures.filter((sig) => domainsAligned(sig.domain ?? undefined, domain, adkim));
  const hints: string[] = [];

  if (aligned.length === 0) {
    const others = [...new Set(signatures.map((sig) => normaliseName(sig.domain)).filter((d) => d !== ''))];
    const now = others.length === 0 ? 'it sends no DKIM signature' : `it signs with d=${others.join(', d=')} only`;
    hints.push(`DKIM: ${now}; configure ${sender.name} to sign with d=${domain} (publish its selector's key under ${domain})`);
  } else if (!aligned.some((sig) => isPass(sig.result))) {
    const keys = [
      ...new Set(aligned.map((sig) => `${sig.selector ? sig.selector : '<selector>'}._domainkey.${normaliseName(sig.domain)}`)),
    ];
    hints.push(
      `DKIM: the signature with d=${normaliseName(aligned[0]?.domain)} fails; ` +
        `check the selector's public key at ${keys.join(', ')} (missing, rotated or truncated key)`,
    );
  }

  const mfrom = mfromResults(row);
  const passingUnaligned = mfrom.filter((r) => isPass(r.result) && !domainsAligned(r.domain ?? undefined, domain, aspf));
  const failingAligned = mfrom.filter((r) => !isPass(r.result) && domainsAligned(r.domain ?? undefined, domain, aspf));
  if (passingUnaligned.length > 0) {
    const spfDomain = normaliseName(passingUnaligned[0]?.domain);
    hints.push(
      `SPF: passes for ${spfDomain}, which does not align with ${domain}; use a Return-Path under ${domain} (custom MAIL FROM) in ${sender.name}`,
    );
  } else if (failingAligned.length > 0) {
    const spfDomain = normaliseName(failingAligned[0]?.domain);
    const what = sender.spfIncludes.length > 0 ? `include:${sender.spfIncludes.join(' include:')}` : `${sender.name}'s sending IPs`;
    hints.push(`SPF: fails for ${spfDomain}; add ${what} to the SPF record of ${spfDomain}`);
  }
  return hints.join('. ');
}

// ---------------------------------------------------------------------------------------------
// Classification

/** The category of one row (see the module comment for the rules). */
export function classify(row: ClassifyRow, context: ClassifyContext): Classification {
  const spfAligned = row.spf_aligned === true;
  const dkimAligned = row.dkim_aligned === true;

  // 1. DMARC passed: nothing to do, whoever sent it.
  if (row.dmarc_pass === true || (row.dmarc_pass == null && (dkimAligned || spfAligned))) {
    const evidence: string[] = [];
    if (dkimAligned) evidence.push('dkim-aligned');
    if (spfAligned) evidence.push('spf-aligned');
    if (evidence.length === 0) evidence.push('dmarc-pass');
    return { category: 'compliant', evidence };
  }

  // 2. Forwarded: our (From-aligned) DKIM signature arrived through a forwarder, which broke SPF
  //    (and often the signature too: mailing lists edit the subject and body).
  const domain = fromDomain(row, context);
  const adkim = alignmentMode(row.policy_adkim, context.policy?.adkim);
  const alignedSignature = dkimAligned || (row.dkim_results ?? []).some((sig) => domainsAligned(sig.domain ?? undefined, domain, adkim));
  if (!spfAligned && alignedSignature) {
    const forwarding: string[] = [];
    const baseDomain = normaliseName(row.source_base_domain) || null;
    const asn = toNumber(row.source_asn);
    if (context.isKnownForwarder && (baseDomain !== null || asn !== null) && context.isKnownForwarder(baseDomain, asn)) {
      forwarding.push(`known-forwarder:${baseDomain ?? `AS${asn}`}`);
    }
    forwarding.push(...arcEvidence(row));
    if (forwarding.length > 0) {
      return { category: 'forwarded', evidence: [dkimAligned ? 'dkim-aligned' : 'dkim-aligned-signature-failed', ...forwarding] };
    }
  }

  // 3. A declared sender that fails alignment: the domain owner's own configuration to fix.
  const senders = context.policy?.senders ?? [];
  const match = matchSender(row, senders);
  if (match !== null) {
    const hint = fixHint(row, context, match.sender);
    return {
      category: 'authorised-failing',
      sender: match.sender.name,
      evidence: match.evidence.map(describeEvidence),
      ...(hint === '' ? {} : { hint }),
    };
  }

  // 4. Everything else: spoofing, or a service nobody declared.
  const evidence = [context.policy === undefined ? 'no-domain-file' : 'no-declared-sender'];
  if (row.source_name) {
    evidence.push(`source:${row.source_name}`);
    const where = context.policy === undefined ? `a domain file for ${domain}` : `senders: of ${context.policy.file}`;
    return {
      category: 'unauthorised',
      evidence,
      hint: `If ${domain} uses ${row.source_name}, declare it in ${where}; otherwise this is someone else using your domain`,
    };
  }
  return { category: 'unauthorised', evidence };
}

/**
 * The domain file that governs a row: the one for its `policy_domain` (else its `header_from`), or
 * for that name's organizational domain (RFC 7489 §6.6.3, via `applicablePolicy`). Undefined when none does.
 */
export function policyForRow(row: ClassifyRow, policies: readonly DomainPolicy[]): DomainPolicy | undefined {
  const name = row.policy_domain || row.header_from;
  if (!name) return undefined;
  try {
    const found = applicablePolicy(name, [...policies]);
    return found.policyDomain === null ? undefined : policies.find((p) => p.domain === found.policyDomain);
  } catch {
    return undefined; // not a domain name (a report with junk in it)
  }
}

export interface CategoryTotal {
  /** Sum of `message_count` (null counts as 0). */
  messages: number;
  /** Report records (rows). */
  records: number;
}

export type CategorySummary = Record<Category, CategoryTotal>;

/**
 * Messages per category over dataset rows, one row per report record: pass rows as stored, never
 * rows exploded per DKIM/SPF result (one message carries several signatures). `context` is one
 * context for all rows, or a function giving each row its own (e.g. via `policyForRow`).
 */
export function summarizeByCategory(
  rows: Iterable<ClassifyRow>,
  context: ClassifyContext | ((row: ClassifyRow) => ClassifyContext),
): CategorySummary {
  const summary = Object.fromEntries(CATEGORIES.map((c) => [c, { messages: 0, records: 0 }])) as CategorySummary;
  for (const row of rows) {
    const { category } = classify(row, typeof context === 'function' ? context(row) : context);
    summary[category].messages += toNumber(row.message_count) ?? 0;
    summary[category].records += 1;
  }
  return summary;
}
