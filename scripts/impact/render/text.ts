/**
 * The impact for a terminal: per changed domain its change, the figures, the sources behind them,
 * the verdict and the next step. Names from reports and YAML pass through `printable`, so a PTR
 * name cannot move the cursor or recolour the screen; colours come from `style` (off without a TTY).
 */
import { printable } from '../../lib/escape.ts';
import { formatCount } from '../../lib/text.ts';
import type { Styler } from '../../lib/text.ts';
import type { ChangeCounts, DomainImpact, ImpactReport } from '../model.ts';
import { CATEGORY_LABEL, describeChange, describeMix } from './markdown.ts';

/** What the command line's Output offers: styleText, switched off without colours. */
type Style = Styler['style'];

const STATUS_STYLE: Record<DomainImpact['status'], 'red' | 'yellow' | 'green' | 'cyan'> = {
  'legitimate-impact': 'red',
  'no-data': 'yellow',
  'no-legitimate-impact': 'green',
  'no-effect': 'cyan',
};

function versionName(version: ImpactReport['base']): string {
  if (version.ref !== null) return `${printable(version.ref)}${version.commit === null ? '' : ` (${version.commit.slice(0, 12)})`}`;
  return printable(version.dir ?? '?');
}

export function renderImpactText(report: ImpactReport, output: { style: Style }): string {
  const { style } = output;
  const between = `base ${versionName(report.base)} → head ${versionName(report.head)}`;
  if (!report.changed) return `dmarcops impact: no policy-relevant change (${between}): nothing to replay`;
  const window =
    report.window.to === null
      ? 'the dataset holds no reports'
      : `${report.window.days} days of reports to ${report.window.to.slice(0, 10)}`;
  const lines: string[] = [style('bold', `dmarcops impact: ${window}, ${between}`), ''];
  const countsLine = (label: string, c: ChangeCounts): string =>
    `  ${label.padEnd(26)} ${formatCount(c.messages).padStart(12)} messages: ${formatCount(c.newlyQuarantined)} ` +
    `newly quarantined, ${formatCount(c.newlyRejected)} newly rejected, ${formatCount(c.relaxed)} relaxed`;
  for (const domain of report.domains) {
    lines.push(`${style('bold', printable(domain.domain))}  ${domain.changes.map((c) => printable(describeChange(c))).join('; ')}`);
    if (domain.status !== 'no-data') {
      const rfc7489 = domain.receiversDiffer;
      lines.push(countsLine(rfc7489 ? 'legitimate (RFC 9989)' : 'legitimate', domain.legitimate));
      lines.push(countsLine(rfc7489 ? 'unauthorised (RFC 9989)' : 'unauthorised', domain.unauthorised));
      if (rfc7489) {
        lines.push(countsLine('legitimate (RFC 7489)', domain.rfc7489.legitimate));
        lines.push(countsLine('unauthorised (RFC 7489)', domain.rfc7489.unauthorised));
      }
      for (const s of domain.sources) {
        const category =
          s.categoryBefore === undefined
            ? CATEGORY_LABEL[s.category]
            : `${CATEGORY_LABEL[s.categoryBefore]} → ${CATEGORY_LABEL[s.category]}`;
        const older = `${describeMix(s.rfc7489.before)} → ${describeMix(s.rfc7489.after)}`;
        const now = `${describeMix(s.before)} → ${describeMix(s.after)}`;
        lines.push(
          `    ${printable(s.name)} (${s.kind}, ${category}): ${formatCount(s.messages)} ` +
            `messages, ${now}${rfc7489 && older !== now ? ` (RFC 7489: ${older})` : ''}`,
        );
      }
      if (domain.otherSources !== null) {
        const o = domain.otherSources;
        lines.push(
          `    ${formatCount(o.sources)} other sources: ${formatCount(o.messages)} messages, ${formatCount(o.newlyQuarantined)} ` +
            `newly quarantined, ${formatCount(o.newlyRejected)} newly rejected, ${formatCount(o.relaxed)} relaxed`,
        );
      }
    }
    lines.push(`  ${style(STATUS_STYLE[domain.status], printable(domain.verdict))}`);
    if (domain.nextStep !== null) {
      const step = domain.nextStep;
      lines.push(`  ${style('dim', 'next step:')} ${step.step === null ? '' : `${printable(step.step)} — `}${printable(step.verdict)}`);
    }
    for (const assumption of domain.assumptions) lines.push(`  ${style('dim', 'note:')} ${printable(assumption)}`);
    lines.push('');
  }
  lines.push(style('dim', report.caveats.join(' ')));
  return lines.join('\n');
}
