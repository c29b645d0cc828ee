/**
 * The hand-over between the jobs of .github/workflows/ingest.yml, run as the runner runs its steps
 * (bash -eo pipefail) against a local bare repository: the ingest job's commit step, in a shallow
 * checkout, bundles the new report data; the push job's step, in another shallow checkout of the same
 * commit, checks that bundle as untrusted data and pushes its changes on top of the branch. A bundle
 * whose commits change anything outside reports/ (however they try to hide it), or that is not built
 * on this run's commit, is refused before any credential is set up, and nothing is pushed. The token
 * reaches the server as a header without being written anywhere in .git/; with a deploy key the push
 * goes over ssh with a pinned host key.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

interface Step {
  id?: string;
  run?: string;
  env?: Record<string, string>;
}
const PREFIX = join(tmpdir(), 'dmarcops-ingest-push-');
const workflow = parse(readFileSync('.github/workflows/ingest.yml', 'utf8')) as {
  jobs: { ingest: { steps: Step[] }; push: { steps: Step[] } };
};
const TOKEN = 'ghs_TestToken0123456789';
const DEPLOY_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAtestkeytestkey\n-----END OPENSSH PRIVATE KEY-----';
const BASIC = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
const commitStep = workflow.jobs.ingest.steps.find((step) => step.id === 'commit');
const pushStep = workflow.jobs.push.steps.find((step) => /git push/.test(step.run ?? ''));

let dir: string;
/** Git without the user's or the system's configuration, a `sleep` that returns at once, and a fake `ssh`. */
let env: NodeJS.ProcessEnv;

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function commitFile(repo: string, path: string, text: string, message: string): void {
  mkdirSync(join(repo, path, '..'), { recursive: true });
  writeFileSync(join(repo, path), text);
  git(repo, 'add', path);
  commit(repo, message);
}

function commit(repo: string, message: string): void {
  git(repo, '-c', 'user.name=dev', '-c', 'user.email=dev@example.com', 'commit', '-q', '-m', message);
}

interface Setup {
  remote: string;
  dev: string;
  /** The ingest job's checkout. */
  ingest: string;
  /** The push job's checkout, of the same commit. */
  push: string;
  /** The commit the run checked out (github.sha). */
  base: string;
  /** Where the push job finds the downloaded artifact's bundle. */
  bundle: string;
  name: string;
}

/** A bare "GitHub" with two commits, a developer clone of it, and the two jobs' shallow checkouts. */
function setup(name: string): Setup {
  const remote = join(dir, `${name}.git`);
  const dev = join(dir, `${name}-dev`);
  const ingest = join(dir, `${name}-ingest`);
  const push = join(dir, `${name}-push`);
  git(dir, 'init', '-q', '--bare', '-b', 'main', remote);
  git(dir, 'clone', '-q', remote, dev);
  git(dev, 'checkout', '-q', '-b', 'main');
  commitFile(dev, 'README.md', 'hello\n', 'initial');
  commitFile(dev, 'reports/ledger/run-1.parquet', 'run 1\n', 'reports: run 1');
  git(dev, 'push', '-q', 'origin', 'main');
  // actions/checkout fetches one commit, in each job.
  git(dir, 'clone', '-q', '--depth', '1', `file://${remote}`, ingest);
  git(dir, 'clone', '-q', '--depth', '1', `file://${remote}`, push);
  return {
    remote,
    dev,
    ingest,
    push,
    base: git(ingest, 'rev-parse', 'HEAD'),
    bundle: join(dir, `${name}-artifact`, 'reports.bundle'),
    name,
  };
}

interface Result {
  status: number | null;
  output: string;
}

function runScript(script: string, cwd: string, stepEnv: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], { cwd, env: stepEnv });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, output }));
  });
}

/** The ingest job's commit step; `changes` is what it wrote to $GITHUB_OUTPUT. */
async function runCommitStep(s: Setup): Promise<Result & { changes: string | undefined }> {
  const outputFile = join(dir, `${s.name}-github-output`);
  writeFileSync(outputFile, '');
  const result = await runScript(commitStep!.run!, s.ingest, { ...env, BASE: s.base, BUNDLE: s.bundle, GITHUB_OUTPUT: outputFile });
  const changes = /^changes=(.*)$/m.exec(readFileSync(outputFile, 'utf8'))?.[1];
  return { ...result, changes };
}

/** The push job's step; the repository is `<server>/<name>.git` here. */
function runPushStep(s: Setup, overrides: NodeJS.ProcessEnv = {}): Promise<Result> {
  const stepEnv = {
    ...env,
    BRANCH: 'main',
    BASE: s.base,
    BUNDLE: s.bundle,
    SERVER_URL: `file://${dir}`,
    REPOSITORY: `${s.name}.git`,
    RUN_ID: '42',
    DEPLOY_KEY: '',
    TOKEN,
  };
  return runScript(pushStep!.run!, s.push, { ...stepEnv, ...overrides });
}

/** A new report part in the ingest checkout, as `dmarcops fetch --keep-mail` leaves it. */
function newPart(ingest: string): void {
  mkdirSync(join(ingest, 'reports/ledger'), { recursive: true });
  writeFileSync(join(ingest, 'reports/ledger/run-2.parquet'), 'run 2\n');
}

/** Every regular file under .git/, so that a test can say a secret is not in any of them. */
function dotGitFiles(repo: string): { name: string; text: string }[] {
  return readdirSync(join(repo, '.git'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => ({ name: join(entry.parentPath, entry.name), text: readFileSync(join(entry.parentPath, entry.name), 'latin1') }));
}

/** The push step refused before it set up a credential or talked to the server. */
function expectRefusedOffline(s: Setup, result: Result, before: string): void {
  expect(result.status, result.output).toBe(1);
  expect(result.output).toContain('::error::Refusing to push: ');
  expect(result.output).not.toMatch(/Push failed|Nothing to push/);
  expect(git(s.remote, 'rev-parse', 'main')).toBe(before);
  expect(() => git(s.push, 'rev-parse', '--verify', '--quiet', 'refs/dmarcops/upstream')).toThrow();
}

beforeAll(() => {
  dir = mkdtempSync(PREFIX);
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'sleep'), '#!/bin/sh\nexit 0\n');
  // An ssh that records how git called it (and what it was given), then serves the request from
  // the local bare repositories: `git@github.com:owner/name.git` is $FAKE_SSH_ROOT/owner/name.git.
  writeFileSync(
    join(bin, 'ssh'),
    [
      '#!/bin/bash',
      'printf "%s\\n" "$@" > "$FAKE_SSH_LOG.args"',
      'prev=; for arg in "$@"; do [ "$prev" = -i ] && key=$arg; prev=$arg; done',
      'stat -c %a "$key" > "$FAKE_SSH_LOG.mode"; cat "$key" > "$FAKE_SSH_LOG.key"',
      'for arg in "$@"; do case $arg in UserKnownHostsFile=*) cat "${arg#UserKnownHostsFile=}" > "$FAKE_SSH_LOG.known_hosts";; esac; done',
      'env > "$FAKE_SSH_LOG.env"',
      'cd "$FAKE_SSH_ROOT" && exec sh -c "${!#}"',
      '',
    ].join('\n'),
  );
  chmodSync(join(bin, 'sleep'), 0o755);
  chmodSync(join(bin, 'ssh'), 0o755);
  env = {
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    HOME: dir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: join(dir, 'gitconfig'),
    LANG: 'C',
  };
  writeFileSync(join(dir, 'gitconfig'), '');
});

afterAll(() => {
  if (dir?.startsWith(PREFIX)) rmSync(dir, { recursive: true, force: true });
});

describe('the ingest job commits and bundles, without a credential', () => {
  test('the steps are found, and take what they need from the environment (no expression inside a script)', () => {
    expect(commitStep?.run).toBeDefined();
    expect(commitStep?.run).not.toContain('${{');
    expect(commitStep?.env).toEqual({ BASE: '${{ github.sha }}', BUNDLE: '${{ runner.temp }}/ingest/reports.bundle' });
    expect(pushStep?.run).toBeDefined();
    expect(pushStep?.run).not.toContain('${{');
    expect(pushStep?.env).toEqual({
      BRANCH: '${{ github.ref_name }}',
      // From the workflow, not from the ingest job: the bundle must be built on the commit this run checked out.
      BASE: '${{ github.sha }}',
      BUNDLE: '${{ runner.temp }}/ingest/reports.bundle',
      SERVER_URL: '${{ github.server_url }}',
      REPOSITORY: '${{ github.repository }}',
      RUN_ID: '${{ github.run_id }}',
      DEPLOY_KEY: '${{ secrets.DMARCOPS_INGEST_DEPLOY_KEY }}',
      TOKEN: '${{ secrets.GITHUB_TOKEN }}',
    });
  });

  test('nothing new: no commit, no bundle, changes=false', async () => {
    const s = setup('quiet');
    const result = await runCommitStep(s);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain('No new reports.');
    expect(result.changes).toBe('false');
    expect(existsSync(s.bundle)).toBe(false);
    expect(git(s.ingest, 'rev-parse', 'HEAD')).toBe(s.base);
  });

  test('new data: one commit of reports/ only, on the checked-out commit, in a bundle that needs it', async () => {
    const s = setup('bundle');
    newPart(s.ingest);
    writeFileSync(join(s.ingest, 'README.md'), 'changed by a step, not ours to commit\n');
    const result = await runCommitStep(s);
    expect(result.status, result.output).toBe(0);
    expect(result.changes).toBe('true');
    const listed = git(s.ingest, 'bundle', 'verify', s.bundle);
    expect(listed).toContain(`${git(s.ingest, 'rev-parse', 'HEAD')} refs/dmarcops/ingest`);
    expect(listed).toMatch(new RegExp(`requires this ref:\\n${s.base}`));
    expect(git(s.ingest, 'rev-parse', 'HEAD^')).toBe(s.base);
    expect(git(s.ingest, 'show', '--format=', '--name-only', 'HEAD')).toBe('reports/ledger/run-2.parquet');
  });
});

describe('the push job checks the bundle, then pushes its report data', () => {
  test("a good bundle is pushed: one new commit by dmarcops on the branch, not the artifact's own commit", async () => {
    const s = setup('good');
    newPart(s.ingest);
    await runCommitStep(s);
    const result = await runPushStep(s);
    expect(result.status, result.output).toBe(0);
    expect(git(s.remote, 'show', 'main:reports/ledger/run-2.parquet')).toBe('run 2');
    expect(git(s.remote, 'log', '-1', '--format=%s|%an|%cn|%P', 'main')).toMatch(
      new RegExp(`^reports: ingest run .+\\|dmarcops\\|dmarcops\\|${s.base}$`),
    );
    expect(git(s.remote, 'log', '-1', '--format=%b', 'main')).toContain('/actions/runs/42');
    expect(() => git(s.remote, 'cat-file', '-e', git(s.ingest, 'rev-parse', 'HEAD'))).toThrow();
  });

  test('main moved on meanwhile: the changes go on top of it, and what was merged stays', async () => {
    const s = setup('moved');
    newPart(s.ingest);
    await runCommitStep(s);
    // A pull request merged while the ingest ran (its change is not the bundle's: it is not checked).
    commitFile(s.dev, 'domains/new.example.yaml', 'policy: none\n', 'add new.example');
    git(s.dev, 'push', '-q', 'origin', 'main');
    const result = await runPushStep(s);
    expect(result.status, result.output).toBe(0);
    expect(result.output).not.toMatch(/Refusing/);
    expect(git(s.remote, 'log', '--format=%s', 'main').split('\n')).toEqual([
      expect.stringMatching(/^reports: ingest run /),
      'add new.example',
      'reports: run 1',
      'initial',
    ]);
    expect(git(s.remote, 'show', 'main:reports/ledger/run-2.parquet')).toBe('run 2');
    expect(git(s.remote, 'show', 'main:domains/new.example.yaml')).toBe('policy: none');
  });

  test('main changed the same report file: a conflict fails the step, nothing is pushed', async () => {
    const s = setup('conflict');
    writeFileSync(join(s.ingest, 'reports/ledger/run-1.parquet'), 'run 1, ingested again\n');
    await runCommitStep(s);
    git(s.dev, 'rm', '-q', 'reports/ledger/run-1.parquet');
    commit(s.dev, 'reports: purge run 1');
    git(s.dev, 'push', '-q', 'origin', 'main');
    const before = git(s.remote, 'rev-parse', 'main');
    const result = await runPushStep(s);
    expect(result.status).toBe(1);
    expect(result.output).toContain('::error::The new report data conflicts with changes made to main since');
    expect(result.output).toContain('  reports/ledger/run-1.parquet');
    expect(git(s.remote, 'rev-parse', 'main')).toBe(before);
  });

  test('the branch already holds the data (a re-run of the push job): nothing to push, success', async () => {
    const s = setup('again');
    newPart(s.ingest);
    await runCommitStep(s);
    expect((await runPushStep(s)).status).toBe(0);
    const pushed = git(s.remote, 'rev-parse', 'main');
    const result = await runPushStep(s);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain('Nothing to push: main already holds this data.');
    expect(git(s.remote, 'rev-parse', 'main')).toBe(pushed);
  });

  test('the remote cannot be reached: the step fails after its attempts (fetch --file-only does not run)', async () => {
    const s = setup('gone');
    newPart(s.ingest);
    await runCommitStep(s);
    const result = await runPushStep(s, { REPOSITORY: 'no-such-remote.git' });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/attempt 5 of 5/);
    expect(result.output).toContain('::error::Could not push the new report data');
  });
});

describe("a bundle that is not only new report data on this run's commit is refused, before any credential", () => {
  /** Ways a compromised ingest job could try to slip something past: each prepares the ingest checkout. */
  const attacks: { name: string; prepare: (s: Setup) => void; message: string; listed?: string }[] = [
    {
      name: 'a commit touching domains/ under the report commit',
      prepare: (s) => commitFile(s.ingest, 'domains/example.com.yaml', 'policy: none\n', 'weaken the policy'),
      message: 'changes files outside reports/',
      listed: 'domains/example.com.yaml',
    },
    {
      name: 'a commit changing a workflow',
      prepare: (s) => commitFile(s.ingest, '.github/workflows/ingest.yml', 'on: push\n', 'ci: tweak'),
      message: 'changes files outside reports/',
      listed: '.github/workflows/ingest.yml',
    },
    {
      name: 'a change to domains/ brought in by a merge',
      prepare: (s) => {
        git(s.ingest, 'checkout', '-q', '-b', 'side');
        commitFile(s.ingest, 'domains/example.com.yaml', 'policy: none\n', 'weaken the policy');
        git(s.ingest, 'checkout', '-q', 'main');
        git(s.ingest, '-c', 'user.name=dev', '-c', 'user.email=dev@example.com', 'merge', '-q', '--no-ff', '-m', 'merge', 'side');
      },
      message: 'the bundle holds merge commits:',
    },
    {
      name: 'a change to domains/ that a later commit reverts (the total diff is clean)',
      prepare: (s) => {
        commitFile(s.ingest, 'domains/example.com.yaml', 'policy: none\n', 'weaken the policy');
        git(s.ingest, '-c', 'user.name=dev', '-c', 'user.email=dev@example.com', 'revert', '--no-edit', 'HEAD');
      },
      message: 'changes files outside reports/',
      listed: 'domains/example.com.yaml',
    },
    {
      name: 'a symlink under reports/ pointing at a domain file',
      prepare: (s) => {
        mkdirSync(join(s.ingest, 'reports/ledger'), { recursive: true });
        symlinkSync('../../domains/example.com.yaml', join(s.ingest, 'reports/ledger/run-3.parquet'));
      },
      message: 'not regular files',
      listed: 'reports/ledger/run-3.parquet',
    },
  ];

  test.each(attacks)('$name', async ({ prepare, message, listed }) => {
    const s = setup(`attack-${attacks.findIndex((attack) => attack.prepare === prepare)}`);
    const before = git(s.remote, 'rev-parse', 'main');
    prepare(s);
    newPart(s.ingest);
    const bundled = await runCommitStep(s);
    expect(bundled.changes, bundled.output).toBe('true');
    const result = await runPushStep(s);
    expectRefusedOffline(s, result, before);
    expect(result.output).toContain(message);
    if (listed) expect(result.output).toContain(`  ${listed}`);
  });

  test("also when main moved on: the check is of the bundle's commits, not of what is on the branch", async () => {
    const s = setup('attack-moved');
    commitFile(s.dev, 'README.md', 'moved on\n', 'docs');
    git(s.dev, 'push', '-q', 'origin', 'main');
    const before = git(s.remote, 'rev-parse', 'main');
    commitFile(s.ingest, 'domains/evil.example.yaml', 'policy: none\n', 'sneak');
    newPart(s.ingest);
    await runCommitStep(s);
    const result = await runPushStep(s);
    expectRefusedOffline(s, result, before);
    expect(result.output).toContain('  domains/evil.example.yaml');
  });

  test("a bundle built on another commit (the one before this run's)", async () => {
    const s = setup('older');
    const before = git(s.remote, 'rev-parse', 'main');
    git(s.dev, 'checkout', '-q', '--detach', 'HEAD^');
    commitFile(s.dev, 'reports/ledger/run-2.parquet', 'run 2\n', 'reports: run 2');
    git(s.dev, 'update-ref', 'refs/dmarcops/ingest', 'HEAD');
    mkdirSync(join(s.bundle, '..'), { recursive: true });
    git(s.dev, 'bundle', 'create', s.bundle, 'refs/dmarcops/ingest', '^HEAD^');
    const result = await runPushStep(s);
    expectRefusedOffline(s, result, before);
    expect(result.output).toContain(`the artifact is not a git bundle of refs/dmarcops/ingest on ${s.base}.`);
  });

  test('a bundle of unrelated history (a whole repository of its own, with report data only on top)', async () => {
    const s = setup('unrelated');
    const before = git(s.remote, 'rev-parse', 'main');
    const other = join(dir, 'unrelated-other');
    git(dir, 'init', '-q', '-b', 'main', other);
    commitFile(other, 'README.md', 'hello\n', 'initial');
    commitFile(other, 'reports/ledger/run-2.parquet', 'run 2\n', 'reports: run 2');
    git(other, 'update-ref', 'refs/dmarcops/ingest', 'HEAD');
    mkdirSync(join(s.bundle, '..'), { recursive: true });
    git(other, 'bundle', 'create', s.bundle, 'refs/dmarcops/ingest');
    const result = await runPushStep(s);
    expectRefusedOffline(s, result, before);
    expect(result.output).toContain(`the bundle's commits are not based on ${s.base}, the commit this run checked out.`);
  });

  test('an artifact that is not a bundle, or no artifact file at all', async () => {
    const s = setup('garbage');
    const before = git(s.remote, 'rev-parse', 'main');
    expectRefusedOffline(s, await runPushStep(s), before);
    mkdirSync(join(s.bundle, '..'), { recursive: true });
    writeFileSync(s.bundle, '#!/bin/sh\necho pwned\n');
    const result = await runPushStep(s);
    expectRefusedOffline(s, result, before);
    expect(result.output).toContain('the artifact is not a git bundle of refs/dmarcops/ingest');
  });
});

describe('the credential', () => {
  test('the token reaches the server as an Authorization header, and is written nowhere in .git/', async () => {
    const s = setup('header');
    newPart(s.ingest);
    await runCommitStep(s);
    const seen: string[] = [];
    const server = createServer((request, response) => {
      seen.push(`${request.method} ${request.url} ${request.headers.authorization ?? '(none)'}`);
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const result = await runPushStep(s, { SERVER_URL: url, REPOSITORY: 'owner/header.git' });
      expect(result.status, result.output).toBe(1);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen[0]).toBe(`GET /owner/header.git/info/refs?service=git-upload-pack basic ${BASIC}`);
      // Masked in the log, and not left behind.
      expect(result.output).toContain(`::add-mask::${BASIC}`);
      expect(result.output).not.toContain(TOKEN);
      for (const file of dotGitFiles(s.push)) {
        expect(file.text.includes(TOKEN) || file.text.includes(BASIC), `${file.name} holds the token`).toBe(false);
      }
    } finally {
      server.close();
    }
  });

  test('with DMARCOPS_INGEST_DEPLOY_KEY the push goes over ssh: its own key file (0600), pinned github.com host keys, no token', async () => {
    mkdirSync(join(dir, 'owner'), { recursive: true });
    const s = setup('owner/ssh');
    newPart(s.ingest);
    await runCommitStep(s);
    const log = join(dir, 'ssh-log');
    const result = await runPushStep(s, {
      SERVER_URL: 'https://github.com',
      REPOSITORY: 'owner/ssh',
      DEPLOY_KEY,
      FAKE_SSH_LOG: log,
      FAKE_SSH_ROOT: dir,
    });
    expect(result.status, result.output).toBe(0);
    expect(git(s.remote, 'show', 'main:reports/ledger/run-2.parquet')).toBe('run 2');

    // The last call is the push.
    const args = readFileSync(`${log}.args`, 'utf8').trimEnd().split('\n');
    const keyFile = args[args.indexOf('-i') + 1]!;
    const options = args.filter((_, index) => args[index - 1] === '-o');
    expect(args.slice(0, 2)).toEqual(['-F', '/dev/null']);
    expect(options).toEqual(
      expect.arrayContaining(['IdentitiesOnly=yes', 'StrictHostKeyChecking=yes', 'GlobalKnownHostsFile=/dev/null', 'BatchMode=yes']),
    );
    expect(options).toContainEqual(expect.stringMatching(/^UserKnownHostsFile=/));
    expect(args.slice(-2)).toEqual(['git@github.com', "git-receive-pack 'owner/ssh.git'"]);
    expect(readFileSync(`${log}.mode`, 'utf8').trim()).toBe('600');
    expect(readFileSync(`${log}.key`, 'utf8')).toBe(`${DEPLOY_KEY}\n`);
    // GitHub's published host keys: one of each type, all for github.com.
    const knownHosts = readFileSync(`${log}.known_hosts`, 'utf8').trimEnd().split('\n');
    expect(knownHosts.map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual([
      'github.com ssh-ed25519',
      'github.com ecdsa-sha2-nistp256',
      'github.com ssh-rsa',
    ]);
    // The key is gone after the step, and was never in .git/; the token was not around.
    expect(existsSync(keyFile)).toBe(false);
    expect(readFileSync(`${log}.env`, 'utf8')).not.toMatch(new RegExp(`${TOKEN}|${BASIC}|AUTHORIZATION|PRIVATE KEY`));
    for (const file of dotGitFiles(s.push)) {
      expect(file.text.includes('testkeytestkey'), `${file.name} holds the key`).toBe(false);
    }
  });

  test('the deploy key is for github.com: on another server the step says so and pushes nothing', async () => {
    const s = setup('ghes');
    newPart(s.ingest);
    await runCommitStep(s);
    const before = git(s.remote, 'rev-parse', 'main');
    const result = await runPushStep(s, { DEPLOY_KEY });
    expect(result.status).toBe(1);
    expect(result.output).toContain('::error::DMARCOPS_INGEST_DEPLOY_KEY is set up for github.com only');
    expect(git(s.remote, 'rev-parse', 'main')).toBe(before);
  });
});
