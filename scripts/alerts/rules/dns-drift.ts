/**
 * dns-drift: a read-only plan (scripts/dns/plan.ts, through the same providers as `dmarcops plan`)
 * has changes: the DMARC records in DNS are not what the domain files publish. Someone edited them
 * outside the repository, or a merged change was not applied. One alert per record name.
 * Pure: a plan in, alerts out; the plan is made by the caller with read-only credentials.
 */
import type { DomainPolicy } from '../../policy/model.ts';
import type { Plan, RecordChange } from '../../dns/types.ts';
import { domainPageUrl } from '../config.ts';
import type { Alert } from '../model.ts';
import { alertKey } from '../model.ts';

/** The domain file a changed name belongs to: `_dmarc.<domain>`, or `<domain>._report._dmarc.<host>`. */
function domainOfName(name: string, policies: readonly DomainPolicy[]): DomainPolicy | undefined {
  const policy = name.startsWith('_dmarc.') ? name.slice('_dmarc.'.length) : name.split('._report._dmarc.')[0];
  return policies.find((p) => p.domain === policy);
}

function describe(change: RecordChange): string {
  const list = (values: string[] | null): string =>
    values === null || values.length === 0 ? 'nothing' : values.map((v) => `"${v}"`).join(' and ');
  if (change.action === 'create') return `DNS has no DMARC record at ${change.name}; the repository publishes ${list(change.after)}.`;
  if (change.action === 'delete') return `DNS holds ${list(change.before)} at ${change.name}, which no domain file publishes.`;
  return `DNS holds ${list(change.before)} at ${change.name}; the repository publishes ${list(change.after)}.`;
}

export function dnsDriftAlerts(plan: Plan, policies: readonly DomainPolicy[], today: string, dashboard: string | null): Alert[] {
  return plan.changes.map((change): Alert => {
    const policy = domainOfName(change.name, policies);
    const file = policy?.file ?? 'the domain files';
    return {
      key: alertKey('dns-drift', change.name),
      rule: 'dns-drift',
      severity: 'critical',
      domain: policy?.domain ?? null,
      title: `DNS differs from the repository at ${change.name}`,
      summary: `${describe(change)} (${change.reason}). Found by a read-only plan against ${change.provider} zone ${change.zone}.`,
      since: today,
      figures: [
        { label: 'Name', value: change.name, format: 'text' },
        { label: 'In DNS', value: change.before === null ? '(none)' : change.before.join(' | ') || '(none)', format: 'text' },
        { label: 'In the repository', value: change.after === null ? '(none)' : change.after.join(' | ') || '(none)', format: 'text' },
        { label: 'Plan would', value: `${change.action}${change.risky ? ' (risky: needs --force)' : ''}`, format: 'text' },
      ],
      tables: [],
      link: policy === undefined ? null : domainPageUrl(dashboard, policy.domain),
      actions: [
        'If someone changed the record by hand, restore the reviewed one: run the dns-apply workflow (or `dmarcops apply`), ' +
          `or, if the change was intended, make it in ${file} through a pull request so it is reviewed.`,
        'If a merged change has not been applied yet, its dns-apply run fixes this; check that run when it failed.',
      ],
    };
  });
}
