/** planIssueSync, the pure decision behind the issue sync: every case the e2e test does not reach. */
import { describe, expect, test } from 'vitest';
import type { Alert } from '../../scripts/alerts/model.ts';
import { alertKey } from '../../scripts/alerts/model.ts';
import { issueBody, planIssueSync } from '../../scripts/github/issues.ts';
import type { TrackedIssue } from '../../scripts/github/issues.ts';

const alert = (rule: Alert['rule'], domain: string, since = '2026-03-05'): Alert => ({
  key: alertKey(rule, domain),
  rule,
  severity: 'warning',
  domain,
  title: `${rule} ${domain}`,
  summary: 's',
  since,
  figures: [],
  tables: [],
  link: null,
  actions: [],
});
const render = (a: Alert, since: string) => `body of ${a.key} since ${since}\n`;
const issue = (a: Alert, fields: Partial<TrackedIssue> = {}): TrackedIssue => ({
  number: 1,
  key: a.key,
  since: a.since,
  state: 'open',
  stateReason: null,
  title: a.title,
  body: issueBody(a.key, a.since, render(a, a.since)),
  url: 'u',
  ...fields,
});
const actions = (planned: ReturnType<typeof planIssueSync>) => planned.map((p) => [p.action.action, p.action.key]);

describe('planIssueSync', () => {
  test('at most maxNew issues are opened per run; the rest wait', () => {
    const alerts = ['a.example', 'b.example', 'c.example'].map((d) => alert('new-source', d));
    expect(actions(planIssueSync({ alerts, evaluated: ['new-source'], issues: [], render, maxNew: 2 }))).toEqual([
      ['create', 'new-source/a.example'],
      ['create', 'new-source/b.example'],
      ['deferred', 'new-source/c.example'],
    ]);
  });

  test('an unchanged issue is left alone; the first day seen is kept while it stays open', () => {
    const a = alert('dns-drift', 'x.example', '2026-03-09');
    const open = issue(a, { since: '2026-03-01', body: issueBody(a.key, '2026-03-01', render(a, '2026-03-01')) });
    expect(actions(planIssueSync({ alerts: [a], evaluated: ['dns-drift'], issues: [open], render, maxNew: 10 }))).toEqual([
      ['unchanged', a.key],
    ]);
    const stale = issue(a, { since: '2026-03-01', body: 'old' });
    const [update] = planIssueSync({ alerts: [a], evaluated: ['dns-drift'], issues: [stale], render, maxNew: 10 });
    expect(update?.action.action).toBe('update');
    expect(update?.body).toContain('since=2026-03-01 -->');
  });

  test('only rules that ran close issues; closed as not planned is muted; open beats closed among duplicates', () => {
    const drift = alert('dns-drift', 'x.example');
    const stopped = alert('reports-stopped', 'y.example');
    const surge = alert('spoofing-surge', 'z.example');
    const planned = planIssueSync({
      alerts: [surge],
      evaluated: ['reports-stopped', 'spoofing-surge'],
      issues: [
        issue(drift, { number: 3 }),
        issue(stopped, { number: 4 }),
        issue(surge, { number: 5, state: 'closed', stateReason: 'not_planned' }),
        issue(alert('new-source', 'old.example'), { number: 6, key: 'unknown-rule/old.example' }),
      ],
      render,
      maxNew: 10,
    });
    // dns-drift did not run: its issue stays open; reports-stopped ran and its condition is gone.
    expect(actions(planned)).toEqual([
      ['muted', surge.key],
      ['close', stopped.key],
    ]);
    expect(planned[1]?.comment).toMatch(/^Cleared: reports are coming in again\./);

    const duplicates = planIssueSync({
      alerts: [stopped],
      evaluated: ['reports-stopped'],
      issues: [issue(stopped, { number: 7, state: 'closed', stateReason: 'completed' }), issue(stopped, { number: 2 })],
      render,
      maxNew: 10,
    });
    expect(duplicates.map((p) => p.action)).toEqual([{ action: 'unchanged', key: stopped.key, number: 2 }]);
  });

  test('a returning condition reopens the closed issue with the new since and a comment', () => {
    const a = alert('policy-drift', 'p.example', '2026-03-09');
    const [reopen] = planIssueSync({
      alerts: [a],
      evaluated: ['policy-drift'],
      issues: [issue(a, { number: 9, state: 'closed', stateReason: 'completed', since: '2026-01-01' })],
      render,
      maxNew: 0,
    });
    expect(reopen?.action).toEqual({ action: 'reopen', key: a.key, number: 9 });
    expect(reopen?.body).toContain('since=2026-03-09 -->');
    expect(reopen?.comment).toMatch(/^The condition is back since 2026\\-03\\-09/);
  });
});
