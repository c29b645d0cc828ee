/**
 * The records of one domain, ready for people to read: what dmarcops publishes for it (as data,
 * with the wire's character-strings) and the external report destinations it cannot publish itself.
 */
import type { DomainPolicy, ManagedRecord } from './model.ts';
import { externalReportDestinations, formatZoneFileTxt, managedRecords, splitCharacterStrings } from './record.ts';
import { printable } from '../printable.ts';

export interface DomainRecords {
  domain: string;
  file: string;
  records: (ManagedRecord & { characterStrings: string[][] })[];
  /** Authorisation records that must exist at a destination dmarcops does not manage. */
  unmanagedAuthorizations: { host: string; recordName: string }[];
}

export function recordsForDomain(policy: DomainPolicy, all: DomainPolicy[]): DomainRecords {
  const records = managedRecords(all)
    .filter((record) => record.domain === policy.domain)
    .sort((a, b) => (a.purpose === b.purpose ? 0 : a.purpose === 'policy' ? -1 : 1))
    .map((record) => ({ ...record, characterStrings: record.values.map((value) => splitCharacterStrings(value)) }));
  const published = new Set(records.map((record) => record.name));
  const unmanagedAuthorizations = externalReportDestinations(policy)
    .filter((destination) => !published.has(destination.recordName))
    .map(({ host, recordName }) => ({ host, recordName }));
  return { domain: policy.domain, file: policy.file, records, unmanagedAuthorizations };
}

/** Zone-file lines, one per record, with comments saying where each goes (names in comments through `printable`). */
export function renderZoneLines(result: DomainRecords): string {
  const lines = [`; ${printable(result.domain)} (${printable(result.file)})`];
  for (const record of result.records) {
    lines.push(`; ${record.purpose === 'policy' ? 'DMARC policy' : 'authorises reports for this domain'}: ${record.provider} zone ${record.zone}`);
    for (const strings of record.characterStrings) lines.push(`${record.name}. ${record.ttl} IN TXT ${formatZoneFileTxt(strings)}`);
  }
  for (const { host, recordName } of result.unmanagedAuthorizations) {
    lines.push(`; not managed here: ${printable(host)} must publish ${printable(recordName)}. TXT "v=DMARC1" or receivers will not send it reports`);
  }
  return lines.join('\n');
}
