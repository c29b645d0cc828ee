/**
 * The plan for a terminal, Terraform/octoDNS style:
 *
 *   ~ _dmarc.example.com TXT (cloudflare example.com)
 *       - "v=DMARC1; p=none"
 *       + "v=DMARC1; p=reject"
 *       p=none → p=reject
 *
 *   Plan: 1 to create, 2 to update, 0 to delete.
 *
 * Values are shown JSON-quoted and names with control characters escaped, so a TXT value read from
 * DNS cannot move the cursor or recolour the terminal. Colours come from `Styler.style` (the CLI's output) and are off
 * without a TTY or with NO_COLOR.
 */
import { printable } from '../../lib/escape.ts';
import type { GateReport, ZoneOutcome, DnsCheck } from '../apply.ts';
import { changeIdentity } from '../checksum.ts';
import { describeRisk, planCounts } from '../plan.ts';
import type { Plan, RecordChange } from '../types.ts';
import { plural, type Styler } from '../../lib/text.ts';

const SIGN = { create: '+', update: '~', delete: '-' } as const;
const SIGN_STYLE = { create: 'green', update: 'yellow', delete: 'red' } as const;

export interface TextOptions {
  /** Gate report to show (what apply would do); computed with defaults when absent. */
  gates?: GateReport;
}

export function renderPlanText(plan: Plan, output: Styler, options: TextOptions = {}): string {
  const lines: string[] = [];
  lines.push(output.style('bold', `dmarcops plan: ${readSummary(plan)}`));
  lines.push('');
  const pending = new Set(plan.base?.pending ?? []);
  for (const change of plan.changes) {
    lines.push(...renderChange(change, output));
    if (plan.base !== undefined && pending.has(changeIdentity(change))) {
      lines.push(`    ${output.style('dim', `already pending on the base ${plan.base.commit.slice(0, 12)}: not part of this change`)}`);
    }
    lines.push('');
  }
  for (const notice of plan.notices) {
    const label = notice.level === 'warning' ? output.style(['bold', 'yellow'], 'warning') : output.style(['bold', 'cyan'], 'info');
    lines.push(`${label}: ${printable(notice.name)}: ${printable(notice.message)}`);
  }
  if (plan.notices.length > 0) lines.push('');
  lines.push(summaryLine(plan, output));
  const gates = options.gates;
  if (gates !== undefined && plan.changes.length > 0) {
    if (gates.ok) {
      const forced = gates.risky.length > 0 ? ` (${gates.risky.length} risky, allowed by --force)` : '';
      lines.push(output.style('green', `apply would make these changes${forced}.`));
    } else {
      lines.push(output.style(['bold', 'red'], 'apply would refuse and change nothing:'));
      for (const problem of gates.problems) lines.push(`  ${output.style('red', '!')} ${problem}`);
    }
  }
  lines.push(output.style('dim', `checksum ${plan.checksum}`));
  return lines.join('\n');
}

function renderChange(change: RecordChange, output: Styler): string[] {
  const sign = output.style(['bold', SIGN_STYLE[change.action]], SIGN[change.action]);
  const where = output.style('dim', `(${change.provider} ${printable(change.zone)})`);
  const lines = [`${sign} ${output.style('bold', printable(change.name))} ${change.type} ${where}`];
  const before = change.before ?? [];
  const after = change.after ?? [];
  // Values on both sides are shown once, unmarked (a TTL change rewrites them; the reason line says so).
  const kept = new Set(before.filter((value) => after.includes(value)));
  for (const value of before) {
    if (kept.has(value)) lines.push(`      ${quoteValue(value)}`);
    else lines.push(`    ${output.style('red', `- ${quoteValue(value)}`)}`);
  }
  for (const value of after) {
    if (!kept.has(value)) lines.push(`    ${output.style('green', `+ ${quoteValue(value)}`)}`);
  }
  const ttl = change.action === 'create' ? `ttl ${change.ttlAfter}` : change.action === 'delete' ? `ttl ${change.ttlBefore}` : undefined;
  lines.push(`    ${output.style('dim', [ttl, printable(change.reason)].filter(Boolean).join(' · '))}`);
  const risk = describeRisk(change);
  if (risk !== undefined) lines.push(`    ${output.style(['bold', 'red'], '! risky:')} ${printable(risk)}; apply needs --force`);
  return lines;
}

/** `Plan: 1 to create, 2 to update, 0 to delete.`, or the no-change sentence. */
export function summaryLine(plan: Plan, output: Styler): string {
  const counts = planCounts(plan);
  if (plan.changes.length === 0) return output.style(['bold', 'green'], 'No changes. DNS matches the domain files.');
  const risky = counts.risky > 0 ? ` ${output.style(['bold', 'red'], `${counts.risky} risky.`)}` : '';
  return `${output.style('bold', `Plan: ${counts.create} to create, ${counts.update} to update, ${counts.delete} to delete.`)}${risky}`;
}

/** `6 names read in 3 zones (cloudflare 2, powerdns 1)`. */
export function readSummary(plan: Plan): string {
  const names = plan.zones.reduce((sum, zone) => sum + zone.names, 0);
  const byProvider = new Map<string, number>();
  for (const zone of plan.zones) byProvider.set(zone.provider, (byProvider.get(zone.provider) ?? 0) + 1);
  const providers = [...byProvider.entries()].map(([provider, count]) => `${provider} ${count}`).join(', ');
  const zones = plural(plan.zones.length, 'zone');
  return `${plural(names, 'name')} read in ${zones}${providers === '' ? '' : ` (${providers})`}`;
}

/** The outcome of `dmarcops apply`, after the plan. */
export function renderApplyText(
  outcomes: readonly ZoneOutcome[],
  verification: Plan | undefined,
  dns: readonly DnsCheck[] | undefined,
  output: Styler,
): string {
  const lines: string[] = [];
  for (const outcome of outcomes) {
    const head = `${outcome.provider} ${printable(outcome.zone)}: ${plural(outcome.changes.length, 'change')}`;
    if (outcome.status === 'applied') lines.push(`${output.style('green', '✓')} ${head} applied`);
    else if (outcome.status === 'failed')
      lines.push(`${output.style('red', '✗')} ${head} failed: ${printable(outcome.error ?? 'unknown error')}`);
    else lines.push(`${output.style('dim', '-')} ${head} not started (an earlier zone failed)`);
  }
  if (verification !== undefined) {
    const partial = outcomes.some((outcome) => outcome.status !== 'applied');
    if (verification.changes.length === 0)
      lines.push(
        output.style(
          'green',
          partial
            ? 'The zones written converged (planning them again gives no changes); the others were not applied.'
            : 'Verified: planning again gives no changes.',
        ),
      );
    else {
      lines.push(
        output.style(['bold', 'red'], `Not converged: planning again still gives ${plural(verification.changes.length, 'change')}:`),
      );
      for (const change of verification.changes)
        lines.push(
          `  ${SIGN[change.action]} ${printable(change.name)} (${change.provider} ${printable(change.zone)}): ${printable(change.reason)}`,
        );
    }
  }
  if (dns !== undefined) {
    const bad = dns.filter((check) => !check.ok);
    if (bad.length === 0) lines.push(output.style('green', `DNS: ${plural(dns.length, 'answer')} as expected.`));
    for (const check of bad) {
      const got = check.error ?? (check.found.length === 0 ? 'nothing' : check.found.map(quoteValue).join(', '));
      const want = check.expected.length === 0 ? 'nothing' : check.expected.map(quoteValue).join(', ');
      lines.push(`${output.style('red', '✗')} DNS ${printable(check.name)} at ${check.server}: expected ${want}, got ${printable(got)}`);
    }
  }
  return lines.join('\n');
}

/** A TXT value as shown: JSON-quoted, then `printable`. */
export function quoteValue(value: string): string {
  return printable(JSON.stringify(value));
}
