/**
 * Which TXT values at a managed name are dmarcops's. The name says what kind of record lives there,
 * and only values of that kind are owned; any other TXT at the name belongs to someone else and is
 * never changed (unless --delete-unrelated). Shared by the planner, the providers and the DNS check.
 */
import { isStsRecord, isTlsRptRecord } from '../policy/mtasts.ts';
import { isDmarcRecord } from '../policy/record.ts';

export type RecordKind = 'dmarc' | 'mta-sts' | 'tls-rpt';

/** `_mta-sts.<d>` holds MTA-STS, `_smtp._tls.<d>` TLS reporting; `_dmarc.<d>` and `<d>._report._dmarc.<h>` DMARC. */
export function recordKind(name: string): RecordKind {
  const lower = name.toLowerCase();
  if (lower.startsWith('_mta-sts.')) return 'mta-sts';
  if (lower.startsWith('_smtp._tls.')) return 'tls-rpt';
  return 'dmarc';
}

/** Whether dmarcops owns this TXT value at this name: it is a record of the name's kind (by its version tag). */
export function isOwnedValue(name: string, value: string): boolean {
  const kind = recordKind(name);
  if (kind === 'mta-sts') return isStsRecord(value);
  if (kind === 'tls-rpt') return isTlsRptRecord(value);
  return isDmarcRecord(value);
}

/** How plans name each kind of record. */
export const KIND_LABEL: Record<RecordKind, string> = { dmarc: 'DMARC', 'mta-sts': 'MTA-STS', 'tls-rpt': 'TLS-RPT' };

/** Several records of one kind at a name void them all: who ignores them, and where the RFC says so. */
export const DUPLICATES_IGNORED: Record<RecordKind, string> = {
  dmarc: 'receivers ignore them all (RFC 7489 §6.6.3)',
  'mta-sts': 'senders ignore them all and apply no MTA-STS policy (RFC 8461 §3.1)',
  'tls-rpt': 'senders ignore them all and send no TLS reports (RFC 8460 §3)',
};
