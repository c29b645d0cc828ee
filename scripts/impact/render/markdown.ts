/**
 * The impact as GitHub-flavoured Markdown: the second section of the pull request's sticky comment
 * (under the record diff) and of the job summary. Empty when nothing policy-relevant changed, so
 * the comment then has no impact section at all.
 *
 * Everything that comes from reports or YAML (source names, PTR domains, sender names, verdicts that
 * quote them) is inert: control and bidi characters made visible, then `escapeMarkdown`.
 */
import { escapeMarkdown, markdownTable, printable } from '../../lib/escape.ts';
import { capitalise, formatCount, plural } from '../../lib/text.ts';
import type { Category, ChangeCounts, DispositionMix, DomainImpact, ImpactReport, ImpactSource, KeyChange, NextStep } from '../model.ts';

export interface ImpactMarkdownOptions {
  /** Heading text (default "dmarcops impact"). */
  title?: string;
  /** Heading level (default 2). */
  level?: number;
}

/** Text from reports or YAML for Markdown. */
const md = (text: string): string => escapeMarkdown(printable(text));

export const CATEGORY_LABEL: Record<Category, string> = {
  compliant: 'compliant',
  forwarded: 'forwarded',
  'authorised-failing': 'authorised but failing',
  unauthorised: 'unauthorised',
};

const KIND_LABEL: Record<ImpactSource['kind'], string> = { sender: 'declared sender', service: 'service', host: 'host', ip: 'IP address' };

/** "none → reject", or the spread when sampling splits it: "quarantine 14 · reject 6". */
export function describeMix(mix: DispositionMix): string {
  const parts = (['none', 'quarantine', 'reject'] as const).filter((d) => mix[d] > 0);
  if (parts.length === 0) return '–';
  if (parts.length === 1) return parts[0] ?? '–';
  return parts.map((d) => `${d} ${formatCount(mix[d])}`).join(' · ');
}

/** "policy: none → reject", "senders: A → A, B", with "(via _defaults.yaml)" where the defaults changed it. */
export function describeChange(change: KeyChange): string {
  const show = (value: string | null): string => value ?? (change.key === 'file' ? 'none' : 'not set');
  if (change.key === 'file')
    return change.before === null ? `domain file added (${show(change.after)})` : `domain file removed (${show(change.before)})`;
  return `${change.key}: ${show(change.before)} → ${show(change.after)}${change.via === 'defaults' ? ' (via _defaults.yaml)' : ''}`;
}

const ALERT: Record<DomainImpact['status'], string> = {
  'legitimate-impact': 'CAUTION',
  'no-data': 'WARNING',
  'no-legitimate-impact': 'NOTE',
  'no-effect': 'NOTE',
};

export function renderImpactMarkdown(report: ImpactReport, options: ImpactMarkdownOptions = {}): string {
  if (!report.changed || report.domains.length === 0) return '';
  const level = options.level ?? 2;
  const hashes = '#'.repeat(level);
  const sections: string[] = [`${hashes} ${md(options.title ?? 'dmarcops impact')}`];
  sections.push(headline(report));
  sections.push(overviewTable(report.domains));
  for (const domain of report.domains) sections.push(...domainSection(domain, `${hashes}#`));
  sections.push(`<sub>${report.caveats.map(md).join(' ')}</sub>`);
  return `${sections.join('\n\n')}\n`;
}

function headline(report: ImpactReport): string {
  const affected = report.domains.filter((d) => d.status === 'legitimate-impact').length;
  const noData = report.domains.filter((d) => d.status === 'no-data').length;
  const withoutData = noData === 0 ? '' : ` ${plural(noData, 'domain')} without reports in the window: cannot predict.`;
  const lead =
    affected > 0
      ? `**${plural(report.legitimateAffected, 'legitimate message')} would be newly quarantined or rejected** (${plural(affected, 'domain')}).${withoutData}`
      : noData === report.domains.length
        ? '**No data: the impact cannot be predicted.**'
        : noData > 0
          ? `**No legitimate mail affected where there is data.**${withoutData}`
          : '**No legitimate mail affected.**';
  const window =
    report.window.to === null
      ? 'The dataset holds no reports yet.'
      : `Replayed over the ${plural(report.window.days, 'day')} of reports to ${md(report.window.to.slice(0, 10))}, ` +
        `under ${versionName(report.base, 'the base')} and ${versionName(report.head, 'the head')}.`;
  return `${lead} ${window}`;
}

function versionName(version: ImpactReport['base'], fallback: string): string {
  if (version.ref !== null) return `${md(version.ref)}${version.commit === null ? '' : ` (${md(version.commit.slice(0, 12))})`}`;
  if (version.dir !== null) return md(version.dir);
  return fallback;
}

function affectedCell(counts: ChangeCounts): string {
  const parts = [
    counts.newlyRejected > 0 ? `${formatCount(counts.newlyRejected)} rejected` : null,
    counts.newlyQuarantined > 0 ? `${formatCount(counts.newlyQuarantined)} quarantined` : null,
    counts.relaxed > 0 ? `${formatCount(counts.relaxed)} relaxed` : null,
  ].filter((p) => p !== null);
  return parts.length === 0 ? '–' : parts.join(', ');
}

function overviewTable(domains: readonly DomainImpact[]): string {
  const rows = domains.map((d) => [
    `**${md(d.domain)}**`,
    md(d.changes.map(describeChange).join('; ')),
    d.status === 'no-data' ? 'no data' : formatCount(d.messages),
    d.status === 'no-data'
      ? '–'
      : md(affectedCell(d.legitimate)) + (d.receiversDiffer ? `<br>RFC 7489: ${md(affectedCell(d.rfc7489.legitimate))}` : ''),
    d.status === 'no-data'
      ? '–'
      : md(affectedCell(d.unauthorised)) + (d.receiversDiffer ? `<br>RFC 7489: ${md(affectedCell(d.rfc7489.unauthorised))}` : ''),
  ]);
  return markdownTable(['domain', 'change', 'messages', 'legitimate', 'unauthorised'], rows);
}

function domainSection(domain: DomainImpact, hashes: string): string[] {
  const out: string[] = [`${hashes} ${md(domain.domain)}`];
  out.push(`> [!${ALERT[domain.status]}]\n> ${md(capitalise(domain.verdict))}.`);
  if (domain.status !== 'no-data') {
    out.push(countsTable(domain));
    if (domain.sources.length > 0) out.push(sourcesTable(domain));
  }
  const notes: string[] = [];
  if (domain.nextStep !== null) notes.push(`- **Next step:** ${nextStepLine(domain.nextStep)}`);
  for (const assumption of domain.assumptions) notes.push(`- ${md(assumption)}`);
  if (notes.length > 0) out.push(notes.join('\n'));
  return out;
}

function countsTable(domain: DomainImpact): string {
  const row = (label: string, c: ChangeCounts): string[] => [
    label,
    ...[c.messages, c.newlyQuarantined, c.newlyRejected, c.relaxed].map(formatCount),
  ];
  const rows = [row('legitimate', domain.legitimate), row('unauthorised', domain.unauthorised)];
  if (domain.receiversDiffer) {
    rows[0] = row('legitimate (RFC 9989 receivers)', domain.legitimate);
    rows[1] = row('unauthorised (RFC 9989 receivers)', domain.unauthorised);
    rows.push(
      row('legitimate (RFC 7489 receivers)', domain.rfc7489.legitimate),
      row('unauthorised (RFC 7489 receivers)', domain.rfc7489.unauthorised),
    );
  }
  return markdownTable(['mail', 'messages', 'newly quarantined', 'newly rejected', 'relaxed'], rows);
}

function sourcesTable(domain: DomainImpact): string {
  const rows = domain.sources.map((s) => {
    const category =
      s.categoryBefore === undefined ? CATEGORY_LABEL[s.category] : `${CATEGORY_LABEL[s.categoryBefore]} → ${CATEGORY_LABEL[s.category]}`;
    const change = `${describeMix(s.before)} → ${describeMix(s.after)}`;
    const older = `${describeMix(s.rfc7489.before)} → ${describeMix(s.rfc7489.after)}`;
    return [
      `${md(s.name)} <sub>${KIND_LABEL[s.kind]}</sub>`,
      md(category),
      formatCount(s.messages),
      `${formatCount(s.dmarcPass.before)} → ${formatCount(s.dmarcPass.after)}`,
      md(change) + (domain.receiversDiffer && older !== change ? `<br>RFC 7489: ${md(older)}` : ''),
    ];
  });
  if (domain.otherSources !== null) {
    const o = domain.otherSources;
    rows.push([
      `${plural(o.sources, 'other source')}`,
      '',
      formatCount(o.messages),
      '',
      md(affectedCell({ messages: o.messages, newlyQuarantined: o.newlyQuarantined, newlyRejected: o.newlyRejected, relaxed: o.relaxed })),
    ]);
  }
  return markdownTable(['source', 'category', 'messages', 'DMARC pass', 'receivers do'], rows);
}

function nextStepLine(step: NextStep): string {
  if (step.step === null) return md(capitalise(step.verdict));
  const label = step.status === 'safe' ? 'safe' : step.status === 'no-data' ? 'unknown' : 'affects legitimate mail';
  return `${md(step.step)} (${label}): ${md(step.verdict)}.`;
}
