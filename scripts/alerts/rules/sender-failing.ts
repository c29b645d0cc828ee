/**
 * sender-failing: a sender declared under `senders:` passes DMARC for too little of its own mail
 * (compliant + authorised-but-failing, as the dashboard counts a declared sender's mail) over the
 * last `recent_days`: below `min_pass_percent`, or more than `max_drop_points` below its pass rate
 * over the `baseline_days` before (when the baseline had at least `min_messages`). Typical cause: a
 * rotated or truncated DKIM key, a changed Return-Path. The alert carries the fix hint the dashboard
 * shows (classify()'s, weighted by messages). `since`: the first day of the failing streak that
 * reaches `asOf` (days without mail from the sender neither break nor extend it).
 */
import { formatCount, formatShare } from '../../lib/text.ts';
import { groupLabel } from '../../site/rollups/common.ts';
import { HintVotes } from '../../site/rollups/domains.ts';
import { domainPageUrl } from '../config.ts';
import type { Alert } from '../model.ts';
import { alertKey } from '../model.ts';
import { addDays } from '../window.ts';
import type { RuleContext } from './common.ts';
import { enforcing, ignored, num } from './common.ts';

const CATEGORY_AUTHORISED_FAILING = 2;

export interface SenderDay {
  day: string;
  compliant: number;
  failing: number;
}

export interface SenderFailingInput {
  dom: number;
  sender: string;
  /** Days with the sender's own mail, oldest first, within baseline + recent. */
  days: SenderDay[];
  hint: string | null;
}

/** The verdict for one sender: pure, so the thresholds can be tested with hand-made days. */
export interface SenderVerdict {
  recent: { compliant: number; failing: number };
  baseline: { compliant: number; failing: number };
  /** Why it alerts ("below 90%", "12.5 points below its baseline"); empty when it does not. */
  reasons: string[];
  since: string | null;
}

export async function senderFailingAlerts(rc: RuleContext): Promise<Alert[]> {
  const rule = rc.config.rules.senderFailing;
  const { sql } = rc.window;
  const first = rc.window.day(addDays(rc.asOf, -(rule.recentDays + rule.baselineDays - 1)));
  const recentStart = rc.window.day(addDays(rc.asOf, -(rule.recentDays - 1)));
  const last = rc.window.day(rc.asOf);
  const rows = await sql.rows(`
    SELECT d.dom, g.group_key, d.day, sum(d.compliant)::DOUBLE AS compliant, sum(d.authorised_failing)::DOUBLE AS failing
    FROM group_days d JOIN source_groups g USING (group_id)
    WHERE g.group_key LIKE 'sender:%' AND d.day BETWEEN ${first} AND ${last}
    GROUP BY ALL HAVING sum(d.compliant) + sum(d.authorised_failing) > 0
    ORDER BY d.dom, g.group_key, d.day`);
  const hintRows = await sql.rows(`
    SELECT f.dom, f.group_id, f.class_id, sum(f.messages)::DOUBLE AS messages FROM facts f
    WHERE f.category = ${CATEGORY_AUTHORISED_FAILING} AND f.day BETWEEN ${recentStart} AND ${last} GROUP BY ALL`);
  const groupIds = new Map(
    (await sql.rows(`SELECT group_id, group_key FROM source_groups WHERE group_key LIKE 'sender:%'`)).map((r) => [
      String(r.group_key),
      num(r.group_id),
    ]),
  );
  const hints = new HintVotes(hintRows, rc.window.classes.hints, (r) => `${num(r.dom)}/${num(r.group_id)}`);

  const inputs = new Map<string, SenderFailingInput>();
  for (const row of rows) {
    const dom = num(row.dom);
    const key = String(row.group_key);
    const id = `${dom}/${key}`;
    let input = inputs.get(id);
    if (input === undefined) {
      input = { dom, sender: groupLabel(key, false), days: [], hint: hints.winner(`${dom}/${groupIds.get(key) ?? -1}`) };
      inputs.set(id, input);
    }
    input.days.push({ day: rc.window.iso(num(row.day)), compliant: num(row.compliant), failing: num(row.failing) });
  }
  const alerts: Alert[] = [];
  for (const input of inputs.values()) {
    const loaded = rc.domains[input.dom];
    if (loaded === undefined || ignored(rule.ignore, loaded.policy.domain)) continue;
    const verdict = assessSender(input.days, rc.asOf, rule);
    if (verdict.reasons.length === 0) continue;
    alerts.push(senderFailingAlert(rc, input, verdict));
  }
  return alerts;
}

export function assessSender(
  days: readonly SenderDay[],
  asOf: string,
  rule: { recentDays: number; baselineDays: number; minPassPercent: number; maxDropPoints: number; minMessages: number },
): SenderVerdict {
  const recentStart = addDays(asOf, -(rule.recentDays - 1));
  const baselineStart = addDays(asOf, -(rule.recentDays + rule.baselineDays - 1));
  const sum = (list: readonly SenderDay[]) =>
    list.reduce((s, d) => ({ compliant: s.compliant + d.compliant, failing: s.failing + d.failing }), { compliant: 0, failing: 0 });
  const inRange = (from: string, to: string) => days.filter((d) => d.day >= from && d.day <= to);
  const recent = sum(inRange(recentStart, asOf));
  const baseline = sum(inRange(baselineStart, addDays(recentStart, -1)));
  const recentTotal = recent.compliant + recent.failing;
  const baselineTotal = baseline.compliant + baseline.failing;
  const verdict: SenderVerdict = { recent, baseline, reasons: [], since: null };
  if (recentTotal < rule.minMessages) return verdict;
  const recentPercent = (100 * recent.compliant) / recentTotal;
  const baselinePercent = baselineTotal >= rule.minMessages ? (100 * baseline.compliant) / baselineTotal : null;
  if (recentPercent < rule.minPassPercent)
    verdict.reasons.push(`passed DMARC for ${formatShare(recent.compliant, recentTotal)} of its mail, below ${rule.minPassPercent}%`);
  const drop = baselinePercent === null ? 0 : baselinePercent - recentPercent;
  if (baselinePercent !== null && drop > rule.maxDropPoints) {
    verdict.reasons.push(
      `${Math.round(drop * 10) / 10} points below its ${formatShare(baseline.compliant, baselineTotal)} ` +
        `of the ${rule.baselineDays} days before (at most ${rule.maxDropPoints})`,
    );
  }
  if (verdict.reasons.length === 0) return verdict;

  // The streak of failing days that reaches asOf.
  const floor = Math.max(rule.minPassPercent, baselinePercent === null ? 0 : baselinePercent - rule.maxDropPoints);
  let since: string | null = null;
  for (const day of days.filter((d) => d.day <= asOf && d.compliant + d.failing > 0).reverse()) {
    if ((100 * day.compliant) / (day.compliant + day.failing) >= floor) break;
    since = day.day;
  }
  // The last day passed on its own though the recent days together fail: the recent window's first day with mail.
  verdict.since = since ?? days.find((d) => d.day >= recentStart && d.compliant + d.failing > 0)?.day ?? recentStart;
  return verdict;
}

function senderFailingAlert(rc: RuleContext, input: SenderFailingInput, verdict: SenderVerdict): Alert {
  const loaded = rc.domains[input.dom]!;
  const policy = loaded.policy;
  const domain = policy.domain;
  const rule = rc.config.rules.senderFailing;
  const recentTotal = verdict.recent.compliant + verdict.recent.failing;
  const baselineTotal = verdict.baseline.compliant + verdict.baseline.failing;
  const lost = enforcing(policy);
  const action = lost
    ? `Receivers ${policy.p === 'reject' ? 'reject' : 'quarantine'} the failing part of it now (p=${policy.p}).`
    : `The policy (p=${policy.p}${policy.testing ? ', testing' : ''}) still lets it through, but it blocks enforcement.`;
  return {
    key: alertKey('sender-failing', domain, input.sender),
    rule: 'sender-failing',
    severity: lost ? 'critical' : 'warning',
    domain,
    title: `${input.sender} fails DMARC for ${domain}`,
    summary:
      `Over the last ${rule.recentDays === 1 ? 'day' : `${rule.recentDays} days`}, ${input.sender} ` +
      `(declared under senders: of ${policy.file}) ${verdict.reasons.join(', and ')}: ${formatCount(verdict.recent.failing)} ` +
      `of ${formatCount(recentTotal)} messages failed. ${action}`,
    since: verdict.since ?? rc.asOf,
    figures: [
      {
        label: `Pass rate, last ${rule.recentDays} days`,
        value: recentTotal > 0 ? verdict.recent.compliant / recentTotal : null,
        format: 'share',
      },
      {
        label: `Pass rate, ${rule.baselineDays} days before`,
        value: baselineTotal > 0 ? verdict.baseline.compliant / baselineTotal : null,
        format: 'share',
      },
      { label: 'Failing messages', value: verdict.recent.failing, format: 'count' },
      { label: 'Messages', value: recentTotal, format: 'count' },
    ],
    tables: [
      {
        title: 'Day by day',
        head: ['day', 'messages', 'passing DMARC'],
        rows: input.days
          .filter((d) => d.day >= addDays(rc.asOf, -13))
          .map((d) => [d.day, d.compliant + d.failing, formatShare(d.compliant, d.compliant + d.failing)]),
      },
    ],
    link: domainPageUrl(rc.dashboard, domain, '7d'),
    actions: [
      input.hint === null
        ? `Make ${input.sender} sign with d=${domain} (DKIM) or send with a Return-Path under ${domain} (SPF).`
        : `How to fix: ${input.hint}.`,
      `The dashboard's sources table shows ${input.sender}'s failing SPF and DKIM results and its IP addresses.`,
    ],
  };
}
