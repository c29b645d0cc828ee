/**
 * spoofing-surge: unauthorised mail (the dashboard's category: failing, not forwarded, not a declared
 * sender) far above its usual level. Per domain: its unauthorised messages per day over the last
 * `recent_days` against the `baseline_days` before (calendar days: a day without reports counts as
 * zero); alert when the recent days hold at least `min_messages` and their daily average is at least
 * `factor` times the baseline's. `since`: the first recent day at that level.
 */
import { formatCount, formatShare, plural } from '../../lib/text.ts';
import { groupLabel } from '../../site/rollups/common.ts';
import { domainPageUrl } from '../config.ts';
import type { Alert } from '../model.ts';
import { alertKey } from '../model.ts';
import { addDays } from '../window.ts';
import type { RuleContext } from './common.ts';
import { enforcing, ignored, num } from './common.ts';

const CATEGORY_UNAUTHORISED = 3;
const SOURCES_LISTED = 10;

export interface SurgeVerdict {
  recent: number;
  baseline: number;
  recentPerDay: number;
  baselinePerDay: number;
  /** recentPerDay / baselinePerDay; null when the baseline is zero. */
  factor: number | null;
  alert: boolean;
  since: string | null;
}

/** Pure: unauthorised messages by day (ISO → messages) → the verdict. */
export function assessSurge(
  byDay: ReadonlyMap<string, number>,
  asOf: string,
  rule: { recentDays: number; baselineDays: number; factor: number; minMessages: number },
): SurgeVerdict {
  const recentStart = addDays(asOf, -(rule.recentDays - 1));
  const baselineStart = addDays(asOf, -(rule.recentDays + rule.baselineDays - 1));
  let recent = 0;
  let baseline = 0;
  for (const [day, messages] of byDay) {
    if (day >= recentStart && day <= asOf) recent += messages;
    else if (day >= baselineStart && day < recentStart) baseline += messages;
  }
  const recentPerDay = recent / rule.recentDays;
  const baselinePerDay = baseline / rule.baselineDays;
  const alert = recent >= rule.minMessages && recentPerDay >= rule.factor * baselinePerDay;
  let since: string | null = null;
  if (alert) {
    for (let day = recentStart; day <= asOf; day = addDays(day, 1)) {
      const messages = byDay.get(day) ?? 0;
      if (messages > 0 && messages >= rule.factor * baselinePerDay) {
        since = day;
        break;
      }
    }
  }
  return {
    recent,
    baseline,
    recentPerDay,
    baselinePerDay,
    factor: baselinePerDay > 0 ? recentPerDay / baselinePerDay : null,
    alert,
    since: since ?? (alert ? recentStart : null),
  };
}

export async function spoofingSurgeAlerts(rc: RuleContext): Promise<Alert[]> {
  const rule = rc.config.rules.spoofingSurge;
  const { sql } = rc.window;
  const first = rc.window.day(addDays(rc.asOf, -(rule.recentDays + rule.baselineDays - 1)));
  const recentStart = rc.window.day(addDays(rc.asOf, -(rule.recentDays - 1)));
  const last = rc.window.day(rc.asOf);
  const rows = await sql.rows(`SELECT dom, day, sum(unauthorised)::DOUBLE AS unauthorised FROM domain_days
    WHERE day BETWEEN ${first} AND ${last} GROUP BY ALL ORDER BY dom, day`);
  const byDom = new Map<number, Map<string, number>>();
  for (const row of rows) {
    const dom = num(row.dom);
    const days = byDom.get(dom) ?? new Map<string, number>();
    days.set(rc.window.iso(num(row.day)), num(row.unauthorised));
    byDom.set(dom, days);
  }
  const surging: { dom: number; verdict: SurgeVerdict }[] = [];
  for (const [dom, days] of byDom) {
    const domain = rc.domains[dom]?.policy.domain;
    if (domain === undefined || ignored(rule.ignore, domain)) continue;
    const verdict = assessSurge(days, rc.asOf, rule);
    if (verdict.alert) surging.push({ dom, verdict });
  }
  if (surging.length === 0) return [];

  const doms = surging.map((s) => s.dom).join(', ');
  const sources = await sql.rows(`
    SELECT * FROM (
      SELECT f.dom, g.group_key, sum(f.messages)::DOUBLE AS messages, count(DISTINCT f.ip_id)::INTEGER AS ips
      FROM facts f JOIN source_groups g USING (group_id)
      WHERE f.category = ${CATEGORY_UNAUTHORISED} AND f.day BETWEEN ${recentStart} AND ${last} AND f.dom IN (${doms})
      GROUP BY ALL)
    QUALIFY row_number() OVER (PARTITION BY dom ORDER BY messages DESC, group_key) <= ${SOURCES_LISTED}
    ORDER BY dom, messages DESC, group_key`);
  const dispositions = await sql.rows(`
    SELECT dom, coalesce(sum(messages) FILTER (WHERE rejected), 0)::DOUBLE AS rejected,
      coalesce(sum(messages) FILTER (WHERE quarantined), 0)::DOUBLE AS quarantined
    FROM facts WHERE category = ${CATEGORY_UNAUTHORISED} AND day BETWEEN ${recentStart} AND ${last} AND dom IN (${doms}) GROUP BY dom`);

  return surging.map(({ dom, verdict }): Alert => {
    const policy = rc.domains[dom]!.policy;
    const domain = policy.domain;
    const handled = dispositions.find((r) => num(r.dom) === dom);
    const rejected = num(handled?.rejected);
    const quarantined = num(handled?.quarantined);
    const stopped = enforcing(policy);
    const level =
      verdict.factor === null
        ? `after ${formatCount(verdict.baseline)} in the ${rule.baselineDays} days before`
        : `${Math.round(verdict.factor * 10) / 10} times the usual ${formatCount(verdict.baselinePerDay)} a day`;
    return {
      key: alertKey('spoofing-surge', domain),
      rule: 'spoofing-surge',
      severity: stopped ? 'info' : 'warning',
      domain,
      title: `Spoofing surge for ${domain}`,
      summary:
        `${formatCount(verdict.recent)} unauthorised messages claimed to be from ${domain} ` +
        `over the last ${plural(rule.recentDays, 'day')}: ${formatCount(verdict.recentPerDay)} a day, ${level}. ` +
        `Receivers rejected ${formatShare(rejected, verdict.recent)} and ` +
        `quarantined ${formatShare(quarantined, verdict.recent)} of it.`,
      since: verdict.since ?? rc.asOf,
      figures: [
        { label: `Unauthorised, last ${rule.recentDays} days`, value: verdict.recent, format: 'count' },
        { label: 'Per day', value: verdict.recentPerDay, format: 'count' },
        { label: `Per day, ${rule.baselineDays} days before`, value: verdict.baselinePerDay, format: 'count' },
        { label: 'Above usual', value: verdict.factor, format: 'factor' },
        { label: 'Rejected by receivers', value: rejected, format: 'count' },
        { label: 'Quarantined by receivers', value: quarantined, format: 'count' },
      ],
      tables: [
        {
          title: 'Largest unauthorised sources',
          head: ['source', 'IP addresses', 'messages'],
          rows: sources.filter((r) => num(r.dom) === dom).map((r) => [groupLabel(String(r.group_key), false), num(r.ips), num(r.messages)]),
        },
      ],
      link: domainPageUrl(rc.dashboard, domain, '7d'),
      actions: stopped
        ? [
            `Your policy (p=${policy.p}) is doing its job: receivers that enforce ` +
              `DMARC ${policy.p === 'reject' ? 'reject' : 'quarantine'} this mail. ` +
              `Nothing to fix unless one of these sources is yours (then declare it under senders: in ${policy.file}).`,
          ]
        : [
            `With p=${policy.p}${policy.testing ? ' in testing mode' : ''}, receivers deliver this mail. ` +
              `The dashboard's readiness verdict for ${domain} says when the next enforcement step is safe.`,
            `If one of these sources is yours, declare it under senders: in ${policy.file}.`,
          ],
    };
  });
}
