/**
 * dns-plan-fork.yml runs on workflow_run with the repository's secrets and a token that can comment,
 * for pull requests from forks: it must run only for those, only the default branch's code, and read
 * only the fork's domain files, as data. (Its behaviour end to end: test/github/review-fork.e2e.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, test } from 'vitest';
import { evaluate } from './helpers/workflow.ts';
import type { WorkflowStep } from './helpers/workflow.ts';

const FILE = '.github/workflows/dns-plan-fork.yml';
const text = readFileSync(FILE, 'utf8');
const workflow = parse(text) as {
  on: Record<string, { workflows?: string[]; types?: string[] }>;
  permissions: Record<string, string>;
  concurrency: { group: string; 'cancel-in-progress': boolean };
  jobs: Record<string, { if: string; permissions: Record<string, string>; steps: WorkflowStep[] }>;
};
const plan = parse(readFileSync('.github/workflows/dns-plan.yml', 'utf8')) as {
  name: string;
  jobs: { plan: { steps: WorkflowStep[] } };
};
const job = workflow.jobs.plan!;
const runs = job.steps.filter((step) => step.run !== undefined);

describe('dns-plan-fork.yml: privileged work for a fork, on the default branch code, with its domain files as data', () => {
  test("triggers only on workflow_run of dns-plan, and its job runs only for a fork's pull_request run", () => {
    expect(Object.keys(workflow.on)).toEqual(['workflow_run']);
    expect(workflow.on.workflow_run).toEqual({ workflows: [plan.name], types: ['completed'] });
    expect(Object.keys(workflow.jobs)).toEqual(['plan']);
    const runsFor = (event: string, headRepository: string, conclusion = 'success') =>
      evaluate(job.if, {
        github: {
          repository: 'octo/dns',
          event: { workflow_run: { event, conclusion, head_repository: { full_name: headRepository } } },
        },
      });
    expect(runsFor('pull_request', 'someone/dns')).toBe('true');
    expect(runsFor('pull_request', 'someone/dns', 'failure')).toBe('true');
    expect(runsFor('pull_request', 'octo/dns')).toBe('false');
    expect(runsFor('push', 'someone/dns')).toBe('false');
    expect(runsFor('pull_request_target', 'someone/dns')).toBe('false');
    expect(runsFor('pull_request', 'someone/dns', 'cancelled')).toBe('false');
  });

  test('least privilege: contents read, pull-requests write for the comment, nothing else; one run per pull request', () => {
    expect(workflow.permissions).toEqual({ contents: 'read' });
    expect(job.permissions).toEqual({ contents: 'read', 'pull-requests': 'write' });
    expect(workflow.concurrency.group).toContain('github.event.workflow_run.head_repository.full_name');
    expect(workflow.concurrency.group).toContain('github.event.workflow_run.head_branch');
    expect(workflow.concurrency['cancel-in-progress']).toBe(true);
  });

  test("checks out the default branch, never the fork's ref; no credentials kept; no Actions cache restored", () => {
    const uses = job.steps.filter((step) => step.uses !== undefined);
    const checkout = uses.filter((step) => (step.uses ?? '').startsWith('actions/checkout@'));
    expect(checkout).toHaveLength(1);
    expect(checkout[0]?.with).toEqual({
      'persist-credentials': false,
      ref: '${{ github.event.repository.default_branch }}',
      'fetch-depth': 0,
    });
    for (const step of uses) {
      expect(step.uses ?? '').toMatch(/^actions\/(checkout|setup-node)@/);
      expect(step.with?.cache).toBeUndefined();
    }
    // No step switches the work tree to the fork's commits: they are read with git as objects only.
    for (const step of runs)
      expect(step.run ?? '').not.toMatch(/git (checkout|switch|reset|worktree|restore|clone)\b|\bgit merge (?!-tree)/);
    expect(text).not.toMatch(/actions\/download-artifact/);
  });

  test('no expression is pasted into a script: what the fork sets (branch name, sha) reaches the shell as environment only', () => {
    for (const step of runs) expect(step.run ?? '').not.toContain('${{');
  });

  test("runs npm only as `npm ci` of the default branch's lockfile, before anything of the fork is fetched; npx only for dmarcops", () => {
    const npm = runs.filter((step) => /\bnpm\b/.test(step.run ?? ''));
    expect(npm.map((step) => step.run?.trim())).toEqual(['npm ci --no-audit --no-fund']);
    const fetchAt = runs.findIndex((step) => /git fetch/.test(step.run ?? ''));
    expect(runs.indexOf(npm[0]!)).toBeLessThan(fetchAt);
    for (const step of runs)
      for (const line of (step.run ?? '').split('\n').filter((entry) => /\bnpx\b/.test(entry))) expect(line).toMatch(/^npx dmarcops /);
  });

  test('reads only domains/ of the merged tree into a folder outside the workspace, regular files only', () => {
    const extract = runs.find((step) => /git archive/.test(step.run ?? ''))?.run ?? '';
    expect(extract).toContain('git fetch --no-tags --quiet origin "+refs/pull/$PR_NUMBER/head:refs/dmarcops/pull-request-head"');
    expect(extract).toMatch(/"\$\(git rev-parse refs\/dmarcops\/pull-request-head\)" != "\$HEAD_SHA"/);
    expect(extract).toContain('git merge-tree --write-tree "$base" "$HEAD_SHA"');
    expect(extract).toContain('git archive "$tree" domains | tar -x -C "$out"');
    expect(extract).toContain('out="$RUNNER_TEMP/pull-request"');
    expect(extract).toContain("grep -qvE '^100(644|755) blob '");
    // A fork that changes what runs (dmarcops, npm, workflows) is not planned with main's code.
    expect(extract).toContain("grep -qE '^(scripts/|bin/|\\.github/|package\\.json$|package-lock\\.json$|\\.npmrc$)'");
  });

  test('the dmarcops steps read the extracted folder, against the checkout as the base; comment names the head it planned', () => {
    const dmarcops = runs.filter((step) => /npx dmarcops/.test(step.run ?? ''));
    const command = (name: string) => dmarcops.filter((step) => new RegExp(`npx dmarcops ${name}\\b`).test(step.run ?? ''));
    expect(command('validate')[0]?.run).toBe('npx dmarcops validate --domains "$DOMAINS"');
    expect(command('plan')[0]?.run).toContain('--domains "$DOMAINS" --base-domains domains --out plan.json');
    expect(command('impact')[0]?.run).toContain('--domains "$DOMAINS" --base-domains domains');
    for (const step of [...command('validate'), ...command('plan'), ...command('impact')])
      expect(step.env?.DOMAINS).toBe('${{ steps.files.outputs.domains }}');
    const comments = command('comment');
    expect(comments.map((step) => step.if)).toEqual(["steps.files.outputs.plan == 'dns'", "steps.files.outputs.plan == 'code'"]);
    for (const step of comments) {
      expect(step.run).toContain('--head "$HEAD_SHA"');
      expect(step.env?.HEAD_SHA).toBe('${{ github.event.workflow_run.head_sha }}');
    }
    expect(comments[1]?.run).toContain('--code-changed');
  });

  test("only dns-plan.yml's read-only DNS secrets, and only in the plan step", () => {
    const secrets = (step: WorkflowStep) => [...JSON.stringify(step).matchAll(/secrets\.([A-Z0-9_]+)/g)].map((match) => match[1]);
    const readOnly = plan.jobs.plan.steps.flatMap(secrets);
    expect(readOnly.length).toBeGreaterThan(0);
    const used = job.steps.flatMap((step) => secrets(step).map((secret) => [step.run ?? step.uses, secret] as const));
    for (const [where, secret] of used) {
      expect(where).toMatch(/npx dmarcops plan\b/);
      expect(readOnly).toContain(secret);
    }
    expect(used.map(([, secret]) => secret).sort()).toEqual([...readOnly].sort());
    const planStep = plan.jobs.plan.steps.find((step) => /dmarcops plan\b/.test(step.run ?? ''));
    const ours = job.steps.find((step) => /dmarcops plan\b/.test(step.run ?? ''));
    const secretEnv = (step: WorkflowStep | undefined) =>
      Object.fromEntries(Object.entries(step?.env ?? {}).filter(([, value]) => value.includes('secrets.')));
    expect(secretEnv(ours)).toEqual(secretEnv(planStep));
  });

  test('the same deletion cap as dns-apply.yml', () => {
    const apply = readFileSync('.github/workflows/dns-apply.yml', 'utf8');
    const cap = /MAX_DELETES: (.+?)(?:\s+#.*)?$/m.exec(apply)?.[1];
    expect([...text.matchAll(/MAX_DELETES: (.+?)(?:\s+#.*)?$/gm)].map((match) => match[1])).toEqual([cap, cap]);
  });
});
