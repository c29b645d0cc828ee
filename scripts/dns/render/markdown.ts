/**
 * The plan as GitHub-flavoured Markdown, for the pull-request comment and the job summary: a summary
 * line, what apply would do (GitHub alert), one table row per change, the values as a `diff` block,
 * the notices and the checksum.
 *
 * Everything that comes from YAML or DNS is inert: table text goes through `escapeMarkdown` (Markdown
 * and HTML characters escaped), values and names in the diff block sit in a fenced code block whose
 * fence is longer than any backtick run inside it, with control characters escaped so nothing can
 * end a line early.
 */
import { escapeMarkdown, fenced, markdownTable, printable } from '../../lib/escape.ts';
import type { ApplyResult, GateReport } from '../apply.ts';
import { evaluateGates, FORCE_LABEL } from '../apply.ts';
import { describeRisk, planCounts } from '../plan.ts';
import { splitByBase } from '../review.ts';
import type { Plan, RecordChange } from '../types.ts';
import { quoteValue, readSummary } from './text.ts';

export interface MarkdownOptions {
  /** Heading text (default "dmarcops plan"). */
  title?: string;
  /** Heading level (default 2). */
  level?: number;
  /** What apply would do; computed with the default gates when absent. */
  gates?: GateReport;
  /**
   * For a pull request (the sticky comment): whether it carries the FORCE_LABEL. True says risky
   * changes are allowed by the label on this pull request; false names the label as the way to allow
   * them. Absent elsewhere (plan, apply), where nothing is known about a pull request.
   */
  forceLabel?: boolean;
}

export function renderPlanMarkdown(plan: Plan, options: MarkdownOptions = {}): string {
  const hashes = '#'.repeat(options.level ?? 2);
  const sections: string[] = [`${hashes} ${md(options.title ?? 'dmarcops plan')}`];
  const counts = planCounts(plan);
  const read = md(`${readSummary(plan)}.`);
  if (plan.changes.length === 0) {
    sections.push(`**No changes.** DNS matches \`domains/\`: ${read}`);
  } else {
    sections.push(`**Plan: ${counts.create} to create, ${counts.update} to update, ${counts.delete} to delete.** ${read}`);
    sections.push(gateAlert(options.gates ?? evaluateGates(plan), options.forceLabel));
    const { own, pending } = splitByBase(plan);
    if (plan.base === undefined || pending.length === 0) {
      sections.push(changeTable(plan.changes));
      sections.push(diffBlock(plan.changes));
    } else {
      // Changes the base gives too are not this change's: shown apart, so nobody approves them unawares.
      sections.push(`${hashes}# Changes of this pull request`);
      sections.push(
        own.length === 0 ? 'None: everything below was already pending on the base.' : `${changeTable(own)}\n\n${diffBlock(own)}`,
      );
      sections.push(`${hashes}# Already pending on the base: not part of this pull request`);
      sections.push(
        [
          `Left on the base branch (\`${escapeCode(plan.base.commit.slice(0, 12))}\`) by an earlier merge that apply refused, or by an edit to DNS since.`,
          'Merging this pull request applies them too when they pass the gates, but the',
          `\`${FORCE_LABEL}\` label covers only this pull request's own risky changes, never these.`,
        ].join(' '),
      );
      sections.push(changeTable(pending));
      sections.push(diffBlock(pending));
    }
  }
  if (plan.notices.length > 0) {
    sections.push(`${hashes}# Notices`);
    sections.push(plan.notices.map((notice) => `- **${notice.level}** ${md(notice.name)}: ${md(notice.message)}`).join('\n'));
  }
  sections.push(`<sub>checksum \`${escapeCode(plan.checksum)}\` · planned ${md(plan.generatedAt)}</sub>`);
  return `${sections.join('\n\n')}\n`;
}

function gateAlert(gates: GateReport, forceLabel: boolean | undefined): string {
  const one = gates.risky.length === 1;
  const risky = `${gates.risky.length} risky change${one ? '' : 's'}`;
  if (!gates.ok) {
    const problems = gates.problems.map((problem) => `> - ${md(problem)}`);
    const lines = ['> [!CAUTION]', '> `dmarcops apply` would refuse and change nothing:', ...problems];
    // With review evidence, only this pull request's own risky changes are its label's to allow.
    const review = gates.review;
    const labelWould =
      review === undefined
        ? gates.risky.length
        : review.unforced.filter((entry) => review.merged !== undefined && entry.owners.includes(review.merged)).length;
    if (forceLabel === false && labelWould > 0 && !gates.force) {
      lines.push('>', `> Add the \`${FORCE_LABEL}\` label to this pull request to allow the risky change${labelWould === 1 ? '' : 's'}.`);
    }
    return lines.join('\n');
  }
  if (gates.risky.length > 0 && forceLabel === true) {
    return [
      '> [!WARNING]',
      `> Includes ${risky}, allowed because this pull request carries the \`${FORCE_LABEL}\` label: ` +
        `\`dmarcops apply\` will make ${one ? 'it' : 'them'} when the pull request is merged.`,
    ].join('\n');
  }
  if (gates.risky.length > 0) {
    return ['> [!WARNING]', `> Includes ${risky}, allowed by \`--force\` / the \`${FORCE_LABEL}\` label.`].join('\n');
  }
  return `> [!NOTE]\n> \`dmarcops apply\` on \`main\` would make these changes. Risky changes: none.`;
}

function changeTable(changes: readonly RecordChange[]): string {
  const rows = changes.map((change) => {
    const risk = describeRisk(change);
    return [
      change.risky ? `**${change.action}** ⚠️` : change.action,
      md(change.name),
      md(`${change.provider} ${change.zone}`),
      md(change.reason) + (risk === undefined ? '' : `<br>**risky:** ${md(risk)}`),
    ];
  });
  return markdownTable(['change', 'record', 'where', 'why'], rows);
}

const SIGN = { create: '+', update: '~', delete: '-' } as const;

/** The values as a `diff` block: `@@` headers per record, `-` old values, `+` new ones. */
function diffBlock(changes: readonly RecordChange[]): string {
  const lines: string[] = [];
  for (const change of changes) {
    const ttl =
      change.ttlBefore === change.ttlAfter || change.action !== 'update'
        ? `ttl ${change.ttlAfter ?? change.ttlBefore}`
        : `ttl ${change.ttlBefore} → ${change.ttlAfter}`;
    lines.push(
      `@@ ${SIGN[change.action]} ${printable(change.name)} ${change.type} (${change.provider} ${printable(change.zone)}) ${ttl} @@`,
    );
    const before = change.before ?? [];
    const after = change.after ?? [];
    for (const value of before) lines.push(`${after.includes(value) ? ' ' : '-'} ${quoteValue(value)}`);
    for (const value of after) if (!before.includes(value)) lines.push(`+ ${quoteValue(value)}`);
  }
  return fenced('diff', lines.join('\n'));
}

/** Text from YAML or DNS for Markdown: control and bidi characters made visible, then escaped. */
function md(text: string): string {
  return escapeMarkdown(printable(text));
}

/** Text for an inline code span: backticks cannot be escaped there, so they are left out. */
function escapeCode(text: string): string {
  return text.replace(/[`\r\n]/g, '');
}

/** The job summary of `dmarcops apply`: what was applied, zone by zone, and the checks after it. */
export function renderApplyMarkdown(result: ApplyResult): string {
  const status = {
    'no-changes': '✅ Nothing to apply: DNS already matches `domains/`.',
    refused: '⛔ Apply refused: nothing was changed.',
    applied: '✅ Applied and verified.',
    failed: '❌ Apply failed or did not converge.',
  }[result.status];
  const sections = ['## dmarcops apply', status];
  if (result.outcomes.length > 0) {
    const rows = result.outcomes.map((outcome) => [
      md(outcome.provider),
      md(outcome.zone),
      String(outcome.changes.length),
      outcome.status === 'failed'
        ? `failed: ${md(outcome.error ?? 'unknown error')}`
        : outcome.status === 'skipped'
          ? 'not started (an earlier zone failed)'
          : 'applied',
    ]);
    sections.push(markdownTable(['provider', 'zone', 'changes', 'result'], rows));
  }
  if (result.verification !== undefined) {
    sections.push(
      result.verification.changes.length === 0
        ? 'Planning again after apply gives **no changes**.'
        : `Planning again after apply still gives **${result.verification.changes.length} ` +
            `changes**: ${md(result.verification.changes.map((change) => change.name).join(', '))}`,
    );
  }
  if (result.dns !== undefined) {
    const bad = result.dns.filter((check) => !check.ok);
    sections.push(
      bad.length === 0
        ? `DNS answers as expected (${result.dns.length} ${result.dns.length === 1 ? 'query' : 'queries'}).`
        : markdownTable(
            ['name', 'server', 'expected', 'answer'],
            bad.map((check) => [
              md(check.name),
              md(check.server),
              md(check.expected.join(' | ') || 'nothing'),
              md(check.error ?? (check.found.join(' | ') || 'nothing')),
            ]),
          ),
    );
  }
  sections.push(
    renderPlanMarkdown(result.plan, {
      title: result.status === 'refused' ? 'The plan apply refused' : 'The plan',
      level: 3,
      gates: result.gates,
    }).trimEnd(),
  );
  return `${sections.join('\n\n')}\n`;
}
