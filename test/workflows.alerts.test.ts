/**
 * alerts.yml and digest.yml: least privilege (issues: write only on the jobs that write issues;
 * contents/pull-requests write only on the declare-sender job, which runs only when the alerts job
 * found proposals), triggered after ingest without touching ingest.yml, DNS read with READ secrets.
 * (Pins, actionlint and top-level permissions are checked for every workflow in workflows.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, test } from 'vitest';

interface Step {
  id?: string;
  run?: string;
  env?: Record<string, string>;
}
interface Job {
  if?: string;
  needs?: string;
  permissions?: Record<string, string>;
  outputs?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<string, Job>;
}

const read = (name: string): Workflow => parse(readFileSync(`.github/workflows/${name}`, 'utf8')) as Workflow;
const writes = (job: Job): string[] =>
  Object.entries(job.permissions ?? {})
    .filter(([, level]) => level === 'write')
    .map(([scope]) => scope)
    .sort();

describe('alerts.yml', () => {
  const workflow = read('alerts.yml');

  test('runs after ingest (workflow_run), daily and by hand', () => {
    expect(workflow.on.workflow_run).toEqual({ workflows: ['ingest'], types: ['completed'], branches: ['main'] });
    expect(Object.keys(workflow.on).sort()).toEqual(['schedule', 'workflow_dispatch', 'workflow_run']);
    expect(workflow.jobs.alerts?.if).toContain("github.event.workflow_run.conclusion == 'success'");
  });

  test('least privilege: the alerts job writes issues only; the declare-sender job writes contents and pull requests only, and only with proposals', () => {
    expect(workflow.permissions).toEqual({ contents: 'read' });
    const alerts = workflow.jobs.alerts!;
    const declare = workflow.jobs['declare-sender']!;
    expect(writes(alerts)).toEqual(['issues']);
    expect(writes(declare)).toEqual(['contents', 'pull-requests']);
    expect(Object.keys(workflow.jobs).sort()).toEqual(['alerts', 'declare-sender']);
    expect(declare.needs).toBe('alerts');
    expect(declare.if).toBe("needs.alerts.outputs.proposals != '' && needs.alerts.outputs.proposals != '0'");
    expect(alerts.outputs?.proposals).toBe('${{ steps.alerts.outputs.proposals }}');
    expect(declare.steps.map((s) => s.run).filter(Boolean)).toContain('npx dmarcops alerts --propose-senders');
  });

  test('the sync step has the workflow token and the DNS READ credentials dns-plan.yml uses, nothing more', () => {
    const step = workflow.jobs.alerts!.steps.find((s) => s.id === 'alerts')!;
    expect(step.run).toBe('npx dmarcops alerts');
    expect(step.env).toEqual({
      GITHUB_TOKEN: '${{ github.token }}',
      CLOUDFLARE_API_TOKEN: '${{ secrets.CLOUDFLARE_API_TOKEN_READ }}',
      PDNS_API_URL: '${{ secrets.PDNS_API_URL }}',
      PDNS_API_KEY: '${{ secrets.PDNS_API_KEY_READ }}',
    });
    const plan = readFileSync('.github/workflows/dns-plan.yml', 'utf8');
    for (const secret of ['CLOUDFLARE_API_TOKEN_READ', 'PDNS_API_URL', 'PDNS_API_KEY_READ']) expect(plan).toContain(`secrets.${secret}`);
  });
});

describe('digest.yml', () => {
  const workflow = read('digest.yml');

  test('weekly, by hand with an optional week; issues: write only; the SMTP secrets reach the step', () => {
    expect(Object.keys(workflow.on).sort()).toEqual(['schedule', 'workflow_dispatch']);
    expect((workflow.on.schedule as { cron: string }[])[0]?.cron).toMatch(/ \* \* 1$/);
    expect(workflow.permissions).toEqual({ contents: 'read' });
    expect(writes(workflow.jobs.digest!)).toEqual(['issues']);
    const step = workflow.jobs.digest!.steps.find((s) => (s.run ?? '').includes('dmarcops digest'))!;
    expect(step.run).toBe('npx dmarcops digest --issue --mail ${WEEK:+--week "$WEEK"}');
    // The input reaches the shell through the environment, quoted: never pasted into the script.
    expect(step.env?.WEEK).toBe('${{ inputs.week }}');
    for (const name of ['HOST', 'PORT', 'TLS', 'USER', 'PASSWORD', 'FROM', 'TO'])
      expect(step.env?.[`DMARCOPS_SMTP_${name}`]).toBe(`\${{ secrets.DMARCOPS_SMTP_${name} }}`);
  });
});
