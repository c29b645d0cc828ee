/**
 * reports-stopped, from the ledger (every report ever stored, cheap to read):
 *   - a domain whose latest report began `days` or more days before `asOf` (the last full day) —
 *     only domains that have had reports (a new domain file is not "stopped"), and not parked
 *     domains, for which silence is expected;
 *   - a reporter that sent daily (reports on at least `reporter_active_days` of the 14 days up to
 *     its last one) and has been silent for `reporter_days` days, while the domain still gets reports.
 * `since`: the first day without a report.
 *
 * Reporter names come from reports (a forged one may be 48 KiB long): the alerts show them clipped
 * (`shownName`); the key is made from the whole name, which alertKey keeps short.
 */
import { shellQuote } from '../../lib/escape.ts';
import { formatCount, plural } from '../../lib/text.ts';
import type { LoadedDomain } from '../../policy/load.ts';
import { domainPageUrl } from '../config.ts';
import type { ReportsStoppedConfig } from '../config.ts';
import type { Alert } from '../model.ts';
import { alertKey } from '../model.ts';
import { addDays, daysBetween } from '../window.ts';
import type { ReporterCoverage } from '../window.ts';
import { ignored, reporterList, shownName } from './common.ts';

export interface StoppedDomain {
  dom: number;
  lastDay: string;
  silentDays: number;
  reporters: ReporterCoverage[];
}

export interface StoppedReporter {
  coverage: ReporterCoverage;
  silentDays: number;
  /** Reporters of the domain that reported since this one stopped. */
  stillReporting: string[];
}

/**
 * What to pass to `dmarcops ledger --org` to find a reporter: its name, or when that was clipped, the
 * part that is shown without the ellipsis. `--org` matches names that contain the text, case aside,
 * so the start of the name finds the reporter.
 */
export function ledgerOrgQuery(org: string): string {
  const shown = shownName(org);
  return shown === org ? org : shown.slice(0, -1);
}

/** Pure: the coverage and the day → who stopped. */
export function findStopped(
  coverage: readonly ReporterCoverage[],
  domains: readonly LoadedDomain[],
  asOf: string,
  rule: ReportsStoppedConfig,
): { domains: StoppedDomain[]; reporters: StoppedReporter[] } {
  const stoppedDomains: StoppedDomain[] = [];
  const stoppedReporters: StoppedReporter[] = [];
  domains.forEach((loaded, dom) => {
    if (loaded.spec.parked === true || ignored(rule.ignore, loaded.policy.domain)) return;
    const reporters = coverage.filter((c) => c.dom === dom);
    if (reporters.length === 0) return;
    const lastDay = reporters.reduce((latest, c) => (c.lastDay > latest ? c.lastDay : latest), '');
    const silentDays = daysBetween(lastDay, asOf);
    if (silentDays >= rule.days) {
      stoppedDomains.push({ dom, lastDay, silentDays, reporters });
      return;
    }
    for (const c of reporters) {
      const silent = daysBetween(c.lastDay, asOf);
      if (c.activeDays < rule.reporterActiveDays || silent < rule.reporterDays) continue;
      stoppedReporters.push({
        coverage: c,
        silentDays: silent,
        stillReporting: reporters
          .filter((o) => o.lastDay > c.lastDay)
          .map((o) => o.org)
          .sort(),
      });
    }
  });
  return { domains: stoppedDomains, reporters: stoppedReporters };
}

export function reportsStoppedAlerts(
  coverage: readonly ReporterCoverage[],
  domains: readonly LoadedDomain[],
  asOf: string,
  rule: ReportsStoppedConfig,
  dashboard: string | null,
): Alert[] {
  const stopped = findStopped(coverage, domains, asOf, rule);
  const watched = domains.filter((d, dom) => d.spec.parked !== true && coverage.some((c) => c.dom === dom)).length;
  const everyone = stopped.domains.length > 1 && stopped.domains.length === watched;
  const alerts: Alert[] = stopped.domains.map((s): Alert => {
    const policy = domains[s.dom]!.policy;
    const mailboxes =
      policy.rua.map((r) => r.uri.replace(/^mailto:/i, '')).join(', ') || '(none: the domain file lists no reports: mailbox)';
    return {
      key: alertKey('reports-stopped', policy.domain),
      rule: 'reports-stopped',
      severity: 'warning',
      domain: policy.domain,
      title: `No DMARC reports for ${policy.domain} for ${plural(s.silentDays, 'day')}`,
      summary:
        `The last aggregate report for ${policy.domain} covers ${s.lastDay}; ` +
        `nothing came in for the ${plural(s.silentDays, 'day')} since (through ${asOf}).` +
        (everyone ? ' No watched domain got a report in that time: the ingest workflow or the report mailbox is the likely cause.' : ''),
      since: addDays(s.lastDay, 1),
      figures: [
        { label: 'Last report', value: s.lastDay, format: 'day' },
        { label: 'Days without a report', value: s.silentDays, format: 'count' },
        { label: 'Report mailboxes (rua)', value: mailboxes, format: 'text' },
      ],
      tables: [
        {
          title: 'Reporters until then',
          head: ['reporter', 'last report', 'reports'],
          rows: [...s.reporters]
            .sort((a, b) => b.lastDay.localeCompare(a.lastDay) || a.org.localeCompare(b.org))
            .map((c) => [shownName(c.org), c.lastDay, c.reports]),
        },
      ],
      link: domainPageUrl(dashboard, policy.domain),
      actions: [
        `Check that _dmarc.${policy.domain} still publishes rua=mailto:${mailboxes.split(', ')[0]} (\`dmarcops plan\`, or the DNS drift alert).`,
        `Check that the mailbox receives mail and that the ingest workflow's latest runs succeeded (\`dmarcops ledger --domain ${policy.domain}\`).`,
      ],
    };
  });
  for (const r of stopped.reporters) {
    const policy = domains[r.coverage.dom]!.policy;
    const org = shownName(r.coverage.org);
    const query = ledgerOrgQuery(r.coverage.org);
    alerts.push({
      // The whole name (case and spaces aside), as reporters are told apart: alertKey keeps it short.
      key: alertKey('reports-stopped', policy.domain, r.coverage.org.trim().toLowerCase()),
      rule: 'reports-stopped',
      severity: 'info',
      domain: policy.domain,
      title: `${org} stopped sending DMARC reports for ${policy.domain}`,
      summary:
        `${org} sent a report for ${policy.domain} on ${r.coverage.activeDays} ` +
        `of the 14 days up to ${r.coverage.lastDay}, then none for ${plural(r.silentDays, 'day')} ` +
        `(through ${asOf}), while ${reporterList(r.stillReporting)} kept reporting.`,
      since: addDays(r.coverage.lastDay, 1),
      figures: [
        { label: 'Last report', value: r.coverage.lastDay, format: 'day' },
        { label: 'Days without a report', value: r.silentDays, format: 'count' },
        { label: 'Reports from it so far', value: r.coverage.reports, format: 'count' },
      ],
      tables: [],
      link: domainPageUrl(dashboard, policy.domain),
      actions: [
        `Receivers change how they report; nothing in ${policy.file} needs to change while ` +
          `other reporters still send. \`dmarcops ledger --org ${shellQuote(query)} ` +
          `--domain ${policy.domain}\` lists what came from it, including reports that could not be read` +
          (query === r.coverage.org
            ? '.'
            : ` (its name is ${formatCount(r.coverage.org.length)} characters long: --org finds it by its start).`),
        `If ${org}'s users are a large part of your audience, its missing reports hide ` +
          `that part of your mail from the dashboard (${formatCount(r.coverage.reports)} reports so far).`,
      ],
    });
  }
  return alerts;
}
