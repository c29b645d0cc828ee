/**
 * DMARC identifier alignment for one report record (RFC 7489 §3.1, §3.1.1, §3.1.2), derived
 * from the authentication results the reporter sent — not from its `policy_evaluated`, which is
 * stored as reported (`eval_dkim`/`eval_spf`) and which reporters sometimes get wrong.
 *
 * - relaxed: the organizational domains are equal (`organizationalDomain` in scripts/lib/dns-name.ts:
 *   the public suffix list, ICANN section only); a public suffix never aligns.
 * - strict: the names are equal. Both compare case-insensitively, trailing dot ignored, IDNs as A-labels.
 * - DKIM is aligned when any signature with result `pass` has an aligned `d=` domain.
 * - SPF is aligned when an SPF result for the MAIL FROM identity (scope `mfrom`, or no scope) is
 *   `pass` and its domain aligns. HELO results count only when the message had no MAIL FROM
 *   domain (no envelope_from, or one the parser derived from the SPF results) and no mfrom result.
 * - Anything but `pass` (fail, softfail, unknown values, null) counts as not passing.
 *
 * Pure functions: same inputs, same outputs (organizationalDomain's memo only caches tldts lookups).
 */
import { normaliseName, organizationalDomain } from '../lib/dns-name.ts';
import type { AlignmentMode as PolicyAlignmentMode } from '../policy/model.ts';
import type { AlignmentMode, PolicyPublished, ReportRecord, SpfAuthResult } from './parse/types.ts';

export interface AlignmentModes {
  adkim: AlignmentMode;
  aspf: AlignmentMode;
}

export interface Alignment {
  dkimAligned: boolean;
  spfAligned: boolean;
  /** DKIM aligned or SPF aligned: what DMARC evaluation should have concluded. */
  dmarcPass: boolean;
}

/**
 * The modes to align with: the report's `adkim`/`aspf` when it states a valid one (that is what
 * the receiver evaluated), else the fallback (e.g. our own domain file), else `r`, the RFC default.
 */
export function alignmentModes(
  policy: Pick<PolicyPublished, 'adkim' | 'aspf'>,
  fallback?: { adkim?: PolicyAlignmentMode; aspf?: PolicyAlignmentMode },
): AlignmentModes {
  return { adkim: alignmentMode(policy.adkim, fallback?.adkim), aspf: alignmentMode(policy.aspf, fallback?.aspf) };
}

/** One mode: the report's when it states `r` or `s` (any case, spaces aside), else ours, else `r`. */
export function alignmentMode(reported: unknown, ours?: PolicyAlignmentMode): AlignmentMode {
  const value = typeof reported === 'string' ? reported.trim().toLowerCase() : '';
  return value === 'r' || value === 's' ? value : (ours ?? 'r');
}

/** Whether an authenticated domain aligns with the RFC5322.From domain under `mode`. */
export function domainsAligned(authenticated: string | undefined, headerFrom: string | undefined, mode: AlignmentMode): boolean {
  const a = normaliseName(authenticated);
  const b = normaliseName(headerFrom);
  if (a === '' || b === '') return false;
  if (mode === 's') return a === b;
  const org = organizationalDomain(a);
  return org !== null && org === organizationalDomain(b);
}

export function dkimAligned(record: Pick<ReportRecord, 'dkim' | 'headerFrom'>, mode: AlignmentMode): boolean {
  return record.dkim.some((sig) => sig.result === 'pass' && domainsAligned(sig.domain, record.headerFrom, mode));
}

/** The SPF results that speak for DMARC's SPF identity (see the module comment). */
export function spfIdentityResults(record: Pick<ReportRecord, 'spf' | 'envelopeFrom' | 'envelopeFromDerived'>): SpfAuthResult[] {
  const mfrom = record.spf.filter((r) => r.scope === undefined || r.scope === '' || r.scope === 'mfrom');
  if (mfrom.length > 0) return mfrom;
  // HELO stands in only for a null reverse-path; a stated envelope_from without an mfrom result
  // means the reporter did not tell us how MAIL FROM fared.
  const stated = record.envelopeFrom !== undefined && record.envelopeFrom !== '' && record.envelopeFromDerived !== true;
  return stated ? [] : record.spf.filter((r) => r.scope === 'helo');
}

export function spfAligned(
  record: Pick<ReportRecord, 'spf' | 'envelopeFrom' | 'envelopeFromDerived' | 'headerFrom'>,
  mode: AlignmentMode,
): boolean {
  return spfIdentityResults(record).some((r) => {
    if (r.result !== 'pass') return false;
    // An mfrom result without its domain still authenticated the stated MAIL FROM domain.
    const domain = r.domain !== '' || r.scope === 'helo' ? r.domain : record.envelopeFrom;
    return domainsAligned(domain, record.headerFrom, mode);
  });
}

export function deriveAlignment(record: ReportRecord, modes: AlignmentModes): Alignment {
  const dkim = dkimAligned(record, modes.adkim);
  const spf = spfAligned(record, modes.aspf);
  return { dkimAligned: dkim, spfAligned: spf, dmarcPass: dkim || spf };
}
