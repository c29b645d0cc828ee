/**
 * The records of one domain, ready for people to read: what dmarcops publishes for it (as data,
 * with the wire's character-strings), the MTA-STS policy file it serves, and the external report
 * destinations it cannot publish itself.
 */
import type { DomainPolicy, ManagedRecord } from './model.ts';
import { formatMtaStsPolicy, mtaStsId, mtaStsPolicyUrl } from './mtasts.ts';
import { externalReportDestinations, managedRecords } from './record.ts';
import { formatZoneFileTxt, splitCharacterStrings } from '../lib/dns-txt.ts';
import { printable } from '../lib/escape.ts';

export interface DomainRecords {
  domain: string;
  file: string;
  records: (ManagedRecord & { characterStrings: string[][] })[];
  /** Authorisation records that must exist at a destination dmarcops does not manage. */
  unmanagedAuthorizations: { host: string; recordName: string }[];
  /** With `mta_sts`: the policy file (CRLF line ends), where it must be served, and its id. */
  mtaSts?: { url: string; id: string; policy: string };
}

/** The order records are listed in for a domain: its own records first, then what it authorises elsewhere. */
const PURPOSE_ORDER: Record<ManagedRecord['purpose'], number> = { policy: 0, 'mta-sts': 1, 'tls-rpt': 2, 'report-authorization': 3 };
const PURPOSE_LABEL: Record<ManagedRecord['purpose'], string> = {
  policy: 'DMARC policy',
  'mta-sts': 'MTA-STS policy id (RFC 8461; the policy file is below)',
  'tls-rpt': 'SMTP TLS reporting (RFC 8460)',
  'report-authorization': 'authorises reports for this domain',
};

export function recordsForDomain(policy: DomainPolicy, all: DomainPolicy[]): DomainRecords {
  const records = managedRecords(all)
    .filter((record) => record.domain === policy.domain)
    .sort((a, b) => PURPOSE_ORDER[a.purpose] - PURPOSE_ORDER[b.purpose])
    .map((record) => ({ ...record, characterStrings: record.values.map((value) => splitCharacterStrings(value)) }));
  const published = new Set(records.map((record) => record.name));
  const unmanagedAuthorizations = externalReportDestinations(policy)
    .filter((destination) => !published.has(destination.recordName))
    .map(({ host, recordName }) => ({ host, recordName }));
  const result: DomainRecords = { domain: policy.domain, file: policy.file, records, unmanagedAuthorizations };
  if (policy.mtaSts !== undefined)
    result.mtaSts = { url: mtaStsPolicyUrl(policy.domain), id: mtaStsId(policy.mtaSts), policy: formatMtaStsPolicy(policy.mtaSts) };
  return result;
}

/** Zone-file lines, one per record, with comments saying where each goes (names in comments through `printable`). */
export function renderZoneLines(result: DomainRecords): string {
  const lines = [`; ${printable(result.domain)} (${printable(result.file)})`];
  for (const record of result.records) {
    lines.push(`; ${PURPOSE_LABEL[record.purpose]}: ${record.provider} zone ${record.zone}`);
    for (const strings of record.characterStrings) lines.push(`${record.name}. ${record.ttl} IN TXT ${formatZoneFileTxt(strings)}`);
  }
  for (const { host, recordName } of result.unmanagedAuthorizations) {
    lines.push(
      `; not managed here: ${printable(host)} must publish ${printable(recordName)}. TXT "v=DMARC1" or receivers will not send it reports`,
    );
  }
  if (result.mtaSts !== undefined) {
    lines.push(`; MTA-STS policy file, served at ${printable(result.mtaSts.url)} (lines end in CRLF; dmarcops mta-sts build writes it):`);
    for (const line of result.mtaSts.policy.split('\r\n').filter((entry) => entry !== '')) lines.push(`;   ${printable(line)}`);
  }
  return lines.join('\n');
}
