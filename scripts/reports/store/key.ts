/**
 * `report_key`: the identity of an aggregate report, used to store each report once.
 *
 * Why these five fields (the reports in test/fixtures and the public issues named below):
 * - `report_id` alone is not unique: different reporters use the same ids
 *   (techsneeze/dmarcts-report-parser#112, solarissmoke/php-dmarc#13), so the reporter is part
 *   of the key (`org_name`, trimmed and lower-cased because one reporter writes `FastMail Pty Ltd`
 *   and `Fastmail Pty Ltd`, `Comcast.net` and `comcast.net`).
 * - Google and Mimecast reuse one report id for different date ranges (liuch/dmarc-srg#81):
 *   `date_begin` and `date_end` keep those reports apart.
 * - One reporter sends one report per policy domain, and some reuse ids across them: the policy
 *   domain is part of the key.
 * - Relays and forwarding deliver the very same report twice (other message-id, other gzip bytes;
 *   cry-inc/dmarc-report-viewer#75): nothing that depends on the transport (message-id, file hash,
 *   email) is in the key, so the second copy gets the same key and is recorded as a duplicate.
 */
import { createHash } from 'node:crypto';
import type { ReportHeader } from '../parse/types.ts';

export type ReportIdentity = Pick<ReportHeader, 'orgName' | 'reportId' | 'dateBegin' | 'dateEnd'> & {
  policy: Pick<ReportHeader['policy'], 'domain'>;
};

/** sha256 (first 32 hex digits) over the normalised identity fields, JSON-encoded so no separator can collide. */
export function reportKey(header: ReportIdentity): string {
  const domain = header.policy.domain.trim().toLowerCase().replace(/\.$/, '');
  const identity = JSON.stringify([header.orgName.trim().toLowerCase(), header.reportId.trim(), domain, header.dateBegin, header.dateEnd]);
  return createHash('sha256').update(identity).digest('hex').slice(0, 32);
}
