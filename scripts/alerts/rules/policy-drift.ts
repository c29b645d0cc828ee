/**
 * policy-drift: the policy receivers report in `policy_published` differs from the record the
 * repository defines, on each of the latest `days` days that had reports for the domain (default 2:
 * for more than a day, so a change still sitting in receivers' DNS caches does not count).
 *
 * Only reports whose policy domain is the domain itself are compared (a subdomain without a record
 * reports its organizational domain's). A day's reported policy is the one most of that day's reports
 * carry. Only what a report states is compared: a reporter that leaves out `np` or `testing` (RFC 7489
 * has neither) or `sp` says nothing about them. Defaults as RFC 9989 applies them: sp defaults to p,
 * np to sp, adkim/aspf to r, pct to 100, t to n.
 *
 * A reported tag may be any text of any length (a forged report): the alert shows it clipped as the
 * dashboard does (CLIP.token), and reporters' names clipped too (`shownName`).
 */
import { clip, plural } from '../../lib/text.ts';
import type { DomainPolicy } from '../../policy/model.ts';
import { formatDmarcRecord, policyRecord } from '../../policy/record.ts';
import { domainPageUrl } from '../config.ts';
import type { Alert } from '../model.ts';
import { alertKey } from '../model.ts';
import { CLIP } from '../../site/rollups/common.ts';
import { addDays } from '../window.ts';
import type { RuleContext } from './common.ts';
import { ignored, num, reporterList } from './common.ts';

/** Days before `asOf` whose reports are compared. */
const LOOKBACK_DAYS = 14;

/** A `policy_published` as reported (raw values, lower-cased; null when the report left it out). */
export interface ReportedTags {
  p: string | null;
  sp: string | null;
  np: string | null;
  adkim: string | null;
  aspf: string | null;
  pct: number | null;
  testing: string | null;
}

export interface ReportedDay {
  day: string;
  tags: ReportedTags;
  reports: number;
  reporters: string[];
}

const STRENGTH: Record<string, number> = { none: 0, quarantine: 1, reject: 2 };

/** Each tag the report states that differs from the repository's policy, e.g. `p: none reported, quarantine in the repository`. */
export function policyDifferences(policy: DomainPolicy, tags: ReportedTags): string[] {
  const defined = {
    p: policy.p,
    sp: policy.sp ?? policy.p,
    np: policy.np ?? policy.sp ?? policy.p,
    adkim: policy.adkim,
    aspf: policy.aspf,
    pct: policy.pct ?? 100,
    testing: policy.testing ? 'y' : 'n',
  };
  const differences: string[] = [];
  const compareTag = (tag: keyof typeof defined, reported: string | number | null): void => {
    if (reported === null || reported === '') return;
    const value = typeof reported === 'string' ? reported.trim().toLowerCase() : reported;
    if (String(value) !== String(defined[tag]))
      differences.push(
        `${tag === 'testing' ? 't' : tag}: ${clip(String(value), CLIP.token)} reported, ${String(defined[tag])} in the repository`,
      );
  };
  compareTag('p', tags.p);
  compareTag('sp', tags.sp);
  compareTag('np', tags.np);
  compareTag('adkim', tags.adkim);
  compareTag('aspf', tags.aspf);
  compareTag('pct', tags.pct);
  compareTag('testing', tags.testing === null ? null : tags.testing.trim().toLowerCase().startsWith('y') ? 'y' : 'n');
  return differences;
}

/** Pure: the drifting streak, latest day first, when the latest `days` report days all differ; else null. */
export function driftStreak(policy: DomainPolicy, reported: readonly ReportedDay[], days: number): ReportedDay[] | null {
  const latestFirst = [...reported].sort((a, b) => b.day.localeCompare(a.day));
  const streak: ReportedDay[] = [];
  for (const day of latestFirst) {
    if (policyDifferences(policy, day.tags).length === 0) break;
    streak.push(day);
  }
  return streak.length >= days ? streak : null;
}

export async function policyDriftAlerts(rc: RuleContext): Promise<Alert[]> {
  const rule = rc.config.rules.policyDrift;
  const first = rc.window.day(addDays(rc.asOf, -(LOOKBACK_DAYS - 1)));
  const last = rc.window.day(rc.asOf);
  const rows = await rc.window.sql.rows(`
    SELECT dom, day, lower(trim(p)) AS p, lower(trim(sp)) AS sp, lower(trim(np)) AS np, lower(trim(adkim)) AS adkim, lower(trim(aspf)) AS aspf,
      pct::DOUBLE AS pct, lower(trim(testing)) AS testing, count(*)::INTEGER AS reports,
      list(DISTINCT coalesce(org_name, '') ORDER BY coalesce(org_name, '')) AS reporters
    FROM reports WHERE dom IS NOT NULL AND day BETWEEN ${first} AND ${last}
    GROUP BY ALL ORDER BY dom, day, reports DESC, p, sp, np, adkim, aspf, pct, testing`);
  const byDom = new Map<number, Map<number, ReportedDay>>();
  for (const row of rows) {
    const dom = num(row.dom);
    const loaded = rc.domains[dom];
    // Only the domain's own record: a subdomain without a file reports the policy it inherits.
    if (loaded === undefined) continue;
    const days = byDom.get(dom) ?? new Map<number, ReportedDay>();
    byDom.set(dom, days);
    const day = num(row.day);
    // Rows come most reports first within a day: the first is the day's policy.
    if (days.has(day)) continue;
    const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
    days.set(day, {
      day: rc.window.iso(day),
      tags: {
        p: str(row.p),
        sp: str(row.sp),
        np: str(row.np),
        adkim: str(row.adkim),
        aspf: str(row.aspf),
        pct: row.pct == null ? null : num(row.pct),
        testing: str(row.testing),
      },
      reports: num(row.reports),
      reporters: (row.reporters as string[] | null) ?? [],
    });
  }
  const alerts: Alert[] = [];
  for (const [dom, days] of byDom) {
    const policy = rc.domains[dom]!.policy;
    if (ignored(rule.ignore, policy.domain)) continue;
    const streak = driftStreak(policy, [...days.values()], rule.days);
    if (streak === null) continue;
    alerts.push(policyDriftAlert(rc, policy, streak));
  }
  return alerts;
}

function policyDriftAlert(rc: RuleContext, policy: DomainPolicy, streak: ReportedDay[]): Alert {
  const latest = streak[0]!;
  const oldest = streak.at(-1)!;
  const differences = policyDifferences(policy, latest.tags);
  const weaker = latest.tags.p !== null && (STRENGTH[latest.tags.p] ?? 0) < (STRENGTH[policy.p] ?? 0);
  const shown = (tags: ReportedTags): string =>
    (['p', 'sp', 'np', 'adkim', 'aspf', 'pct', 'testing'] as const)
      .filter((tag) => tags[tag] !== null && tags[tag] !== '')
      .map((tag) => `${tag === 'testing' ? 't' : tag}=${clip(String(tags[tag]), CLIP.token)}`)
      .join('; ');
  const reporters = [...new Set(streak.flatMap((d) => d.reporters))].sort();
  const differing = `${plural(reporters.length, 'reporter')}: ${reporterList(reporters)}`;
  return {
    key: alertKey('policy-drift', policy.domain),
    rule: 'policy-drift',
    severity: weaker ? 'critical' : 'warning',
    domain: policy.domain,
    title: `Receivers see another DMARC policy for ${policy.domain}`,
    summary:
      `Since ${oldest.day}, the reports for ${policy.domain} show a policy that differs from the repository's ` +
      `(${differences.join('; ')}).${weaker ? ' It is weaker than the reviewed one: less of the spoofed mail is stopped.' : ''}`,
    since: oldest.day,
    figures: [
      { label: 'Repository record', value: formatDmarcRecord(policyRecord(policy)), format: 'text' },
      { label: 'Reported', value: shown(latest.tags), format: 'text' },
      { label: 'Days with reports that differ', value: streak.length, format: 'count' },
      { label: 'Seen by', value: differing, format: 'text' },
    ],
    tables: [
      {
        title: 'Reported policy by day',
        head: ['day', 'policy as reported', 'reports', 'reporters'],
        rows: streak.map((d) => [d.day, shown(d.tags), d.reports, reporterList(d.reporters)]),
      },
    ],
    link: domainPageUrl(rc.dashboard, policy.domain),
    actions: [
      `Compare with DNS: \`dmarcops plan\` (or the DNS drift alert) shows whether _dmarc.${policy.domain} ` +
        'holds another record. If it does, someone changed it outside the repository: run the dns-apply workflow ' +
        `again to restore the reviewed record, or make the change in ${policy.file} through a pull request.`,
      "If DNS holds the repository's record, a merged change may not have reached every receiver yet, " +
        'or a reporter reads another name (a CNAME, a stale cache): it clears once the reports agree.',
    ],
  };
}
