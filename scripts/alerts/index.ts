/**
 * The alerts stage's public face: the dataset, the domain files and the config → `AlertRun`, plain
 * data (./model.ts) that ./render.ts prints and scripts/github/issues.ts keeps in sync with issues.
 *
 *   const run = await evaluateAlerts({ dataDir: 'reports', domains, config, now: new Date(), env, plan });
 *
 * Each rule is a module of ./rules/. The data rules share one window of the dataset (./window.ts:
 * the dashboard's grouping and classification over the days they need); reports-stopped reads the
 * ledger; dns-drift a read-only plan made by the caller. A rule that is disabled, or cannot run (no
 * DNS credentials), is not in `evaluated`, so its open issues are left as they are.
 */
import type { LoadedDomain } from '../policy/load.ts';
import type { Plan } from '../dns/types.ts';
import { isoDay } from '../site/rollups/common.ts';
import { dashboardRoot } from './config.ts';
import type { AlertsConfig } from './config.ts';
import type { Alert, AlertRule, AlertRun } from './model.ts';
import { compareAlerts } from './model.ts';
import type { RuleContext } from './rules/common.ts';
import { dnsDriftAlerts } from './rules/dns-drift.ts';
import { newSourceAlerts } from './rules/new-source.ts';
import { policyDriftAlerts } from './rules/policy-drift.ts';
import { reportsStoppedAlerts } from './rules/reports-stopped.ts';
import { senderFailingAlerts } from './rules/sender-failing.ts';
import { spoofingSurgeAlerts } from './rules/spoofing-surge.ts';
import { addDays, groupsSeen, openWindow, reporterCoverage } from './window.ts';

export interface AlertOptions {
  dataDir: string;
  /** The domain files that loaded without errors. */
  domains: readonly LoadedDomain[];
  config: AlertsConfig;
  now: Date;
  /** For the dashboard's default address (GITHUB_REPOSITORY). */
  env: NodeJS.ProcessEnv;
  /** Makes a read-only DNS plan; undefined leaves DNS drift out (`--skip-dns`). */
  plan?: () => Promise<Plan>;
}

/** The last full UTC day before `now`: today's reports are still coming in. */
export function lastFullDay(now: Date): string {
  return addDays(isoDay(now.getTime()), -1);
}

/** One domain file per domain, by name (as the dashboard does). */
export function uniqueDomains(domains: readonly LoadedDomain[]): LoadedDomain[] {
  const seen = new Set<string>();
  return domains
    .filter((d) => !seen.has(d.policy.domain) && seen.add(d.policy.domain))
    .sort((a, b) => a.policy.domain.localeCompare(b.policy.domain));
}

/**
 * Days up to `asOf` the enabled data rules classify (the window). new-source's baseline before its
 * `new_for_days` is not classified: it only asks which source groups were there (`groupsSeen`).
 */
export function windowDays(config: AlertsConfig): number {
  const r = config.rules;
  return Math.max(
    1,
    r.newSource.enabled ? r.newSource.newForDays : 0,
    r.senderFailing.enabled ? r.senderFailing.recentDays + r.senderFailing.baselineDays : 0,
    r.spoofingSurge.enabled ? r.spoofingSurge.recentDays + r.spoofingSurge.baselineDays : 0,
    r.policyDrift.enabled ? 14 : 0,
  );
}

export async function evaluateAlerts(options: AlertOptions): Promise<AlertRun> {
  const { config } = options;
  const rules = config.rules;
  const asOf = lastFullDay(options.now);
  const domains = uniqueDomains(options.domains);
  const dashboard = dashboardRoot(config, options.env);
  const alerts: Alert[] = [];
  const evaluated: AlertRule[] = [];
  const notes: string[] = [];

  const from = addDays(asOf, -(windowDays(config) - 1));
  const window = await openWindow({ dataDir: options.dataDir, domains, from, to: asOf, now: options.now });
  try {
    const baselineStart = addDays(asOf, -(rules.newSource.newForDays + rules.newSource.baselineDays - 1));
    const seenBefore = rules.newSource.enabled
      ? await groupsSeen(window.sql, options.dataDir, domains, baselineStart, addDays(from, -1))
      : new Set<string>();
    const rc: RuleContext = { window, domains, config, asOf, dashboard, seenBefore };
    const dataRules: [AlertRule, boolean, () => Promise<Alert[]>][] = [
      ['new-source', rules.newSource.enabled, () => newSourceAlerts(rc)],
      ['sender-failing', rules.senderFailing.enabled, () => senderFailingAlerts(rc)],
      ['spoofing-surge', rules.spoofingSurge.enabled, () => spoofingSurgeAlerts(rc)],
      ['policy-drift', rules.policyDrift.enabled, () => policyDriftAlerts(rc)],
    ];
    for (const [rule, enabled, run] of dataRules) {
      if (!enabled) continue;
      alerts.push(...(await run()));
      evaluated.push(rule);
    }
    if (rules.reportsStopped.enabled) {
      const coverage = await reporterCoverage(window.sql, options.dataDir, domains);
      alerts.push(...reportsStoppedAlerts(coverage, domains, asOf, rules.reportsStopped, dashboard));
      evaluated.push('reports-stopped');
    }
  } finally {
    window.close();
  }

  if (rules.dnsDrift.enabled && options.plan !== undefined) {
    try {
      const plan = await options.plan();
      alerts.push(
        ...dnsDriftAlerts(
          plan,
          domains.map((d) => d.policy),
          isoDay(options.now.getTime()),
          dashboard,
        ),
      );
      evaluated.push('dns-drift');
    } catch (error) {
      notes.push(`DNS drift was not checked: ${(error as Error).message}`);
    }
  } else if (rules.dnsDrift.enabled) {
    notes.push('DNS drift was not checked (--skip-dns).');
  }
  return { generatedAt: options.now.toISOString(), asOf, alerts: alerts.sort(compareAlerts), evaluated, notes };
}
