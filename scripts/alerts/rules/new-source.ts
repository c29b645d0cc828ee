/**
 * new-source: a source group (as the dashboard groups sources: a named service, a reverse-DNS host
 * domain, or a bare IP) that sends failing mail as one of our domains and was not there before.
 *
 * A group of domain D is new when all of:
 *   - its first message (any category) is within the last `new_for_days` days up to `asOf`,
 *   - it sent nothing in the `baseline_days` days before those (the days the window classifies, by
 *     their first message; the earlier ones by `groupsSeen`, which needs no classification),
 *   - its failing messages (unauthorised + authorised-but-failing) since then reach `min_messages`,
 *   - it is not a declared sender (those are watched by sender-failing),
 *   - it has a name: a known service or a reverse-DNS domain. A mail server without reverse DNS is
 *     not one a legitimate service runs (large receivers refuse mail from such hosts), so bare IPs
 *     are spoofing, which spoofing-surge watches; `include_bare_ips: true` counts them too.
 * It clears when the source is declared (its mail then belongs to the sender), stops sending failing
 * mail above the threshold, or is no longer new (first seen more than `new_for_days` days ago).
 *
 * What the alert shows of a report is clipped as the dashboard clips it (a source IP as written, DKIM
 * and SPF domains, selectors and results: ../../site/rollups/common.ts CLIP; reporters' names:
 * `shownName`): a forged report may hold any text of any length there. The proposal's `senders:`
 * entry takes the values whole; the edited domain file must load before it is proposed.
 */
import { unique } from '../../lib/collections.ts';
import { inZone, organizationalDomain } from '../../lib/dns-name.ts';
import { clip, formatCount, formatShare, plural } from '../../lib/text.ts';
import { CLIP, groupLabel } from '../../site/rollups/common.ts';
import type { Row } from '../../site/rollups/duckdb.ts';
import { domainPageUrl } from '../config.ts';
import type { Alert, AlertTable, SenderProposal } from '../model.ts';
import { alertKey } from '../model.ts';
import { addDays } from '../window.ts';
import type { RuleContext } from './common.ts';
import { groupKind, ignored, num, reporterList, shownName } from './common.ts';

const CATEGORY_AUTHORISED_FAILING = 2;
const CATEGORY_UNAUTHORISED = 3;
const IPS_LISTED = 10;
const RESULTS_LISTED = 10;
const REPORTERS_LISTED = 10;

/** What the rule knows of one new group: sums over the window, from the site's tables. */
export interface NewSourceCandidate {
  dom: number;
  groupId: number;
  groupKey: string;
  firstDay: string;
  lastDay: string;
  messages: number;
  authorisedFailing: number;
  unauthorised: number;
  /** Failing messages that passed DKIM or SPF for some domain (not aligned). */
  authenticated: number;
  ipCount: number;
  /** Service type of its IPs (ESP, marketing…), when known. */
  type: string | null;
  ips: { ip: string; ptr: string | null; asn: number | null; asName: string | null; country: string | null; messages: number }[];
  reporters: { org: string; messages: number }[];
  /** Authentication results on its failing mail, by messages. */
  results: { kind: 'dkim' | 'spf'; domain: string; qualifier: string | null; result: string; aligned: boolean; messages: number }[];
}

export async function newSourceAlerts(rc: RuleContext): Promise<Alert[]> {
  const candidates = await newSourceCandidates(rc);
  return candidates.map((candidate) => newSourceAlert(rc, candidate));
}

/** The new groups of the window, with their IPs, reporters and authentication results. */
export async function newSourceCandidates(rc: RuleContext): Promise<NewSourceCandidate[]> {
  const { sql } = rc.window;
  const rule = rc.config.rules.newSource;
  const newStart = rc.window.day(addDays(rc.asOf, -(rule.newForDays - 1)));
  const baselineStart = rc.window.day(addDays(rc.asOf, -(rule.newForDays + rule.baselineDays - 1)));
  const last = rc.window.day(rc.asOf);
  const rows = await sql.rows(`
    SELECT f.dom, f.group_id, g.group_key, min(f.day) AS first_day, max(f.day) AS last_day,
      sum(f.messages)::DOUBLE AS messages,
      coalesce(sum(f.messages) FILTER (WHERE f.category = ${CATEGORY_AUTHORISED_FAILING}), 0)::DOUBLE AS authorised_failing,
      coalesce(sum(f.messages) FILTER (WHERE f.category = ${CATEGORY_UNAUTHORISED}), 0)::DOUBLE AS unauthorised,
      coalesce(sum(f.messages) FILTER (
        WHERE f.category IN (${CATEGORY_AUTHORISED_FAILING}, ${CATEGORY_UNAUTHORISED}) AND c.authenticated
      ), 0)::DOUBLE AS authenticated,
      count(DISTINCT f.ip_id)::INTEGER AS ip_count
    FROM facts f JOIN source_groups g USING (group_id) JOIN classes c USING (class_id)
    WHERE f.day BETWEEN ${baselineStart} AND ${last} AND g.group_key NOT LIKE 'sender:%'
    GROUP BY f.dom, f.group_id, g.group_key
    HAVING min(f.day) >= ${newStart}
      AND coalesce(sum(f.messages) FILTER (WHERE f.category IN (${CATEGORY_AUTHORISED_FAILING}, ${CATEGORY_UNAUTHORISED})), 0) >= ${rule.minMessages}
    ORDER BY f.dom, g.group_key`);
  const kept = rows.filter((row) => {
    const domain = rc.domains[num(row.dom)]?.policy.domain ?? '';
    if (ignored(rule.ignore, domain)) return false;
    // Seen in the baseline days before the window (the window's own baseline days are in first_day).
    if (rc.seenBefore.has(`${num(row.dom)}\u0000${String(row.group_key)}`)) return false;
    return rule.includeBareIps || !String(row.group_key).startsWith('ip:');
  });
  if (kept.length === 0) return [];

  await sql.load(
    'alert_groups',
    [
      ['dom', 'INTEGER'],
      ['group_id', 'INTEGER'],
    ],
    kept.map((row) => [num(row.dom), num(row.group_id)]),
  );
  const where = `f.day BETWEEN ${newStart} AND ${last}`;
  const ipRows = await sql.rows(`
    SELECT * FROM (
      SELECT f.dom, f.group_id, i.ip, i.ptr, i.asn::DOUBLE AS asn, i.as_name, i.country, i.type, sum(f.messages)::DOUBLE AS messages
      FROM facts f JOIN alert_groups a USING (dom, group_id) JOIN ips i USING (ip_id) WHERE ${where} GROUP BY ALL)
    QUALIFY row_number() OVER (PARTITION BY dom, group_id ORDER BY messages DESC, ip) <= ${IPS_LISTED}
    ORDER BY dom, group_id, messages DESC, ip`);
  const reporterRows = await sql.rows(`
    SELECT f.dom, f.group_id, coalesce(r.org_name, '') AS org, sum(f.messages)::DOUBLE AS messages
    FROM facts f JOIN alert_groups a USING (dom, group_id) JOIN reports r USING (report_no) WHERE ${where}
    GROUP BY ALL ORDER BY dom, group_id, messages DESC, org`);
  const resultRows = await sql.rows(`
    SELECT f.dom, f.group_id, x.auth_id, sum(f.messages)::DOUBLE AS messages
    FROM facts f JOIN alert_groups a USING (dom, group_id) JOIN class_auth x USING (class_id)
    WHERE ${where} AND f.category IN (${CATEGORY_AUTHORISED_FAILING}, ${CATEGORY_UNAUTHORISED})
    GROUP BY ALL ORDER BY dom, group_id, messages DESC, auth_id`);
  await sql.run('DROP TABLE alert_groups');

  const of = (list: Row[], dom: number, groupId: number): Row[] =>
    list.filter((row) => num(row.dom) === dom && num(row.group_id) === groupId);
  return kept.map((row): NewSourceCandidate => {
    const dom = num(row.dom);
    const groupId = num(row.group_id);
    const ips = of(ipRows, dom, groupId);
    return {
      dom,
      groupId,
      groupKey: String(row.group_key),
      firstDay: rc.window.iso(num(row.first_day)),
      lastDay: rc.window.iso(num(row.last_day)),
      messages: num(row.messages),
      authorisedFailing: num(row.authorised_failing),
      unauthorised: num(row.unauthorised),
      authenticated: num(row.authenticated),
      ipCount: num(row.ip_count),
      type: (ips.map((ip) => ip.type).find((type) => typeof type === 'string' && type !== '') as string | undefined) ?? null,
      ips: ips.map((ip) => ({
        ip: String(ip.ip),
        ptr: typeof ip.ptr === 'string' ? ip.ptr : null,
        asn: ip.asn == null ? null : num(ip.asn),
        asName: typeof ip.as_name === 'string' ? ip.as_name : null,
        country: typeof ip.country === 'string' ? ip.country : null,
        messages: num(ip.messages),
      })),
      reporters: of(reporterRows, dom, groupId).map((r) => ({ org: String(r.org), messages: num(r.messages) })),
      results: of(resultRows, dom, groupId).map((r) => {
        const detail = rc.window.classes.details[num(r.auth_id)];
        if (detail === undefined) throw new Error(`internal: no authentication result #${num(r.auth_id)}`);
        return { ...detail, messages: num(r.messages) };
      }),
    };
  });
}

export function newSourceAlert(rc: RuleContext, c: NewSourceCandidate): Alert {
  const loaded = rc.domains[c.dom];
  if (loaded === undefined) throw new Error(`internal: no domain file #${c.dom}`);
  const domain = loaded.policy.domain;
  const rule = rc.config.rules.newSource;
  const label = groupLabel(c.groupKey, false);
  const failing = c.unauthorised + c.authorisedFailing;
  const proposal = rc.config.declareSender.enabled ? senderProposal(rc, c) : undefined;
  const tables: AlertTable[] = [
    {
      title: 'IP addresses',
      head: ['IP address', 'reverse DNS', 'AS', 'country', 'messages'],
      rows: c.ips.map((ip) => [
        clip(ip.ip, CLIP.ip),
        ip.ptr,
        ip.asn === null ? null : `AS${ip.asn}${ip.asName ? ` ${ip.asName}` : ''}`,
        ip.country,
        ip.messages,
      ]),
    },
    {
      title: c.reporters.length > REPORTERS_LISTED ? `Reporters (top ${REPORTERS_LISTED} of ${c.reporters.length})` : 'Reporters',
      head: ['reporter', 'messages'],
      rows: c.reporters.slice(0, REPORTERS_LISTED).map((r) => [shownName(r.org), r.messages]),
    },
    {
      title: 'Authentication results of its failing mail',
      head: ['check', 'domain', 'selector / scope', 'result', `aligned with ${domain}`, 'messages'],
      rows: c.results
        .slice(0, RESULTS_LISTED)
        .map((r) => [
          r.kind.toUpperCase(),
          clip(r.domain, CLIP.name),
          r.qualifier === null ? null : clip(r.qualifier, CLIP.name),
          clip(r.result, CLIP.token),
          r.aligned ? 'yes' : 'no',
          r.messages,
        ]),
    },
  ];
  if (c.ipCount > c.ips.length) tables[0]!.title = `IP addresses (top ${c.ips.length} of ${c.ipCount})`;
  const split = [
    c.unauthorised > 0 ? `${formatCount(c.unauthorised)} unauthorised` : null,
    c.authorisedFailing > 0 ? `${formatCount(c.authorisedFailing)} matched a declared sender but failed` : null,
  ].filter((part) => part !== null);
  const actions =
    proposal !== undefined
      ? [
          `If ${domain} uses ${label}, declare it: the declare-sender pull request adds it under senders: ` +
            `in ${loaded.policy.file}; review it, then make ${label} sign with d=${domain} (DKIM) so its mail passes.`,
          `If you do not know this source, someone else is sending as ${domain}: close that pull request; ` +
            'the DMARC policy stops this mail once it is quarantine or reject.',
        ]
      : [
          `If ${domain} uses ${label}, declare it under senders: in ${loaded.policy.file} (by its DKIM selector, ` +
            `SPF include or IP addresses), then make it sign with d=${domain} so its mail passes DMARC.`,
          `If you do not know this source, someone else is sending as ${domain}: the DMARC policy ` +
            'stops this mail once it is quarantine or reject (see the readiness verdict on the dashboard).',
        ];
  return {
    key: alertKey('new-source', domain, c.groupKey),
    rule: 'new-source',
    severity: 'warning',
    domain,
    title: `New source sending as ${domain}: ${label}`,
    summary:
      `${label} (${c.type === null ? groupKind(c.groupKey) : `${groupKind(c.groupKey)}, ${c.type}`}) ` +
      `started sending mail as ${domain} on ${c.firstDay}; it sent nothing in the ${rule.baselineDays} days before. ` +
      `${formatCount(failing)} of its ${formatCount(c.messages)} messages since then failed DMARC (${split.join(', ')}).`,
    since: c.firstDay,
    figures: [
      { label: 'First seen', value: c.firstDay, format: 'day' },
      { label: 'Last seen', value: c.lastDay, format: 'day' },
      { label: 'Messages', value: c.messages, format: 'count' },
      { label: 'Failing DMARC', value: failing, format: 'count' },
      { label: 'Authenticated for another domain', value: c.authenticated, format: 'count' },
      { label: 'IP addresses', value: c.ipCount, format: 'count' },
    ],
    tables,
    link: domainPageUrl(rc.dashboard, domain, '7d'),
    actions,
    ...(proposal === undefined ? {} : { proposal }),
  };
}

/**
 * The `senders:` entry that declares a new source, when it looks legitimate: a known service
 * (named by the enrichment's sender map), or mail whose DKIM signature passes with a key of one of
 * the managed domains. Undefined when it does not, or when a sender of that name is declared already.
 * The entry matches the source the way classify() matches senders (docs/categories.md):
 * DKIM entries for signatures that passed with one of our domains' keys; else the organizational
 * domains of the service's passing SPF (MAIL FROM) domains as `spf_includes`; else its passing DKIM domains.
 */
export function senderProposal(rc: RuleContext, c: NewSourceCandidate): SenderProposal | undefined {
  const loaded = rc.domains[c.dom];
  if (loaded === undefined) return undefined;
  const ours = rc.domains.map((d) => d.policy.domain);
  const isOurs = (domain: string): boolean => ours.some((zone) => inZone(domain, zone));
  const passing = c.results.filter((r) => r.result === 'pass');
  const ourKeys = passing.filter((r) => r.kind === 'dkim' && isOurs(r.domain));
  const service = c.groupKey.startsWith('service:');
  if (!service && ourKeys.length === 0) return undefined;

  const name = groupLabel(c.groupKey, false);
  if (loaded.policy.senders.some((s) => s.name.toLowerCase() === name.toLowerCase())) return undefined;
  const evidence: string[] = [];
  if (service) evidence.push(`${name} is a known ${c.type ?? 'mail service'} (its IP addresses' reverse DNS or network belongs to it).`);
  const dkimEntry = (r: NewSourceCandidate['results'][number]) =>
    r.qualifier === null ? { domain: r.domain } : { domain: r.domain, selector: r.qualifier };

  const sender: SenderProposal['sender'] = { name };
  if (c.type !== null) sender.type = c.type;
  if (ourKeys.length > 0) {
    sender.dkim = unique(ourKeys.map(dkimEntry), (e) => `${e.domain} ${e.selector ?? ''}`).slice(0, 3);
    for (const r of ourKeys.slice(0, 3))
      evidence.push(
        `DKIM passes with d=${clip(r.domain, CLIP.name)}${r.qualifier === null ? '' : ` s=${clip(r.qualifier, CLIP.name)}`}, ` +
          'a key published under ' +
          `one of your domains, on ${formatCount(r.messages)} failing messages (not aligned with the From domain).`,
      );
  } else {
    const spf = passing.filter((r) => r.kind === 'spf' && (r.qualifier === null || r.qualifier === 'mfrom') && !isOurs(r.domain));
    const includes = unique(
      spf.map((r) => organizationalDomain(r.domain) ?? r.domain),
      (d) => d,
    ).slice(0, 2);
    if (includes.length > 0) {
      sender.spf_includes = includes;
      for (const r of spf.slice(0, 2))
        evidence.push(`SPF passes for its bounce domain ${clip(r.domain, CLIP.name)} on ${formatCount(r.messages)} messages.`);
    } else {
      const dkim = passing.filter((r) => r.kind === 'dkim');
      if (dkim.length === 0) return undefined;
      sender.dkim = unique(dkim.map(dkimEntry), (e) => `${e.domain} ${e.selector ?? ''}`).slice(0, 2);
      for (const r of dkim.slice(0, 2))
        evidence.push(`DKIM passes for its own domain d=${clip(r.domain, CLIP.name)} on ${formatCount(r.messages)} messages.`);
    }
  }
  const failing = c.unauthorised + c.authorisedFailing;
  evidence.push(
    `${formatCount(c.messages)} messages from ${plural(c.ipCount, 'IP address', 'IP addresses')} ` +
      `since ${c.firstDay}, ${formatShare(failing, c.messages)} failing DMARC, ` +
      `reported by ${reporterList(c.reporters.map((r) => r.org)) || 'nobody'}.`,
  );
  return { domain: loaded.policy.domain, file: loaded.policy.file, sender, evidence };
}
