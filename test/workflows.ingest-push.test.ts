/**
 * The push step of .github/workflows/ingest.yml, run as the runner runs it (bash -eo pipefail) in a
 * shallow clone of a local bare repository: when main moved on since the checkout it rebases and
 * pushes; when it cannot push at all it fails the step (so `fetch --file-only` never runs and the
 * mail stays in the inbox); with nothing new it succeeds without a commit. It refuses to push
 * commits that touch anything outside reports/ (however an earlier step tried to hide them), and
 * the token it gets reaches the server as a header without being written anywhere in .git/.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const PREFIX = join(tmpdir(), 'dmarcops-ingest-push-');
const workflow = parse(readFileSync('.github/workflows/ingest.yml', 'utf8')) as { jobs: { ingest: { steps: { run?: string; env?: Record<string, string> }[] } } };
const TOKEN = 'ghs_TestToken0123456789';
const pushStep = workflow.jobs.ingest.steps.find((step) => /git push/.test(step.run ?? ''));

let dir: string;
/** Git without the user's or the system's configuration, and a `sleep` that returns at once. */
let env: NodeJS.ProcessEnv;

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function commitFile(repo: string, path: string, text: string, message: string): void {
  mkdirSync(join(repo, path, '..'), { recursive: true });
  writeFileSync(join(repo, path), text);
  git(repo, 'add', path);
  git(repo, '-c', 'user.name=dev', '-c', 'user.email=dev@example.com', 'commit', '-q', '-m', message);
}

/** A bare "GitHub" with one commit, a developer clone of it, and a shallow runner checkout. */
function setup(name: string): { remote: string; dev: string; runner: string } {
  const remote = join(dir, `${name}.git`);
  const dev = join(dir, `${name}-dev`);
  const runner = join(dir, `${name}-runner`);
  git(dir, 'init', '-q', '--bare', '-b', 'main', remote);
  git(dir, 'clone', '-q', remote, dev);
  git(dev, 'checkout', '-q', '-b', 'main');
  commitFile(dev, 'README.md', 'hello\n', 'initial');
  commitFile(dev, 'reports/ledger/run-1.parquet', 'run 1\n', 'reports: run 1');
  git(dev, 'push', '-q', 'origin', 'main');
  // actions/checkout fetches one commit.
  git(dir, 'clone', '-q', '--depth', '1', `file://${remote}`, runner);
  return { remote, dev, runner };
}

/** The step's environment as the workflow gives it: the repository is `<server>/<name>.git` here. */
function stepEnv(name: string, server = `file://${dir}`): NodeJS.ProcessEnv {
  return { ...env, BRANCH: 'main', SERVER_URL: server, REPOSITORY: `${name}.git`, TOKEN };
}

function runStep(cwd: string, name: string): { status: number | null; output: string } {
  const result = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', pushStep!.run!], { cwd, env: stepEnv(name), encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A new report part in the runner's checkout, as the ingest leaves it. */
function newPart(runner: string): void {
  mkdirSync(join(runner, 'reports/ledger'), { recursive: true });
  writeFileSync(join(runner, 'reports/ledger/run-2.parquet'), 'run 2\n');
}

beforeAll(() => {
  dir = mkdtempSync(PREFIX);
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'sleep'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(bin, 'sleep'), 0o755);
  env = { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: dir, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: join(dir, 'gitconfig'), LANG: 'C' };
  writeFileSync(join(dir, 'gitconfig'), '');
});

afterAll(() => {
  if (dir?.startsWith(PREFIX)) rmSync(dir, { recursive: true, force: true });
});

describe('the ingest push step', () => {
  test('is found, and takes the branch, the repository and the token from the environment (no expression inside the script)', () => {
    expect(pushStep?.run).toBeDefined();
    expect(pushStep?.run).not.toContain('${{');
    expect(pushStep?.env).toEqual({
      BRANCH: '${{ github.ref_name }}',
      SERVER_URL: '${{ github.server_url }}',
      REPOSITORY: '${{ github.repository }}',
      TOKEN: '${{ secrets.GITHUB_TOKEN }}',
    });
  });

  test('main moved on meanwhile: the commit is rebased on it and pushed', () => {
    const { remote, dev, runner } = setup('moved');
    // A pull request merged while the ingest ran.
    commitFile(dev, 'domains/new.example.yaml', 'policy: none\n', 'add new.example');
    git(dev, 'push', '-q', 'origin', 'main');
    // The ingest's new part.
    newPart(runner);

    const { status, output } = runStep(runner, 'moved');
    expect(status, output).toBe(0);
    // The merged change is not ours: the check looks only at the commits on top of the branch.
    expect(output).not.toMatch(/Refusing/);
    const log = git(remote, 'log', '--format=%s', 'main');
    expect(log.split('\n')[0]).toMatch(/^reports: ingest run /);
    expect(log).toContain('add new.example');
    expect(git(remote, 'show', 'main:reports/ledger/run-2.parquet')).toBe('run 2');
    expect(git(remote, 'show', 'main:domains/new.example.yaml')).toBe('policy: none');
    // Linear history: the merged change is the parent of the ingest commit.
    expect(git(remote, 'log', '-1', '--format=%s', 'main^')).toBe('add new.example');
  });

  test('the remote cannot be reached: the step fails after its attempts', () => {
    const { runner } = setup('gone');
    newPart(runner);
    const { status, output } = runStep(runner, 'no-such-remote');
    expect(status).toBe(1);
    expect(output).toMatch(/attempt 5 of 5/);
    expect(output).toContain('::error::Could not push the new report data');
  });

  test('nothing new: no commit, success', () => {
    const { remote, runner } = setup('quiet');
    const before = git(remote, 'rev-parse', 'main');
    const { status, output } = runStep(runner, 'quiet');
    expect(status, output).toBe(0);
    expect(output).toContain('No new reports.');
    expect(git(remote, 'rev-parse', 'main')).toBe(before);
  });

  test('a commit touching domains/ (made by an earlier step) is refused: nothing is pushed', () => {
    const { remote, runner } = setup('policy');
    const before = git(remote, 'rev-parse', 'main');
    commitFile(runner, 'domains/example.com.yaml', 'policy: none\n', 'weaken the policy');
    newPart(runner);
    const { status, output } = runStep(runner, 'policy');
    expect(status).toBe(1);
    expect(output).toContain('::error::Refusing to push: the commits to push touch files outside reports/:');
    expect(output).toContain('  domains/example.com.yaml');
    expect(git(remote, 'rev-parse', 'main')).toBe(before);
  });

  test('also when the earlier step moved origin/main and the origin URL to hide its commit, or changed a workflow', () => {
    const { remote, runner } = setup('hidden');
    const before = git(remote, 'rev-parse', 'main');
    commitFile(runner, '.github/workflows/ingest.yml', 'on: push\n', 'ci: tweak');
    git(runner, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
    git(runner, 'remote', 'set-url', 'origin', `file://${join(dir, 'elsewhere.git')}`);
    newPart(runner);
    const { status, output } = runStep(runner, 'hidden');
    expect(status).toBe(1);
    expect(output).toContain('  .github/workflows/ingest.yml');
    expect(git(remote, 'rev-parse', 'main')).toBe(before);
  });

  test('also after a rebase: a commit outside reports/ under the report commit is still found', () => {
    const { remote, dev, runner } = setup('rebased');
    commitFile(dev, 'README.md', 'moved on\n', 'docs');
    git(dev, 'push', '-q', 'origin', 'main');
    commitFile(runner, 'domains/evil.example.yaml', 'policy: none\n', 'sneak');
    newPart(runner);
    const { status, output } = runStep(runner, 'rebased');
    expect(status).toBe(1);
    expect(output).toContain('  domains/evil.example.yaml');
    expect(git(remote, 'log', '-1', '--format=%s', 'main')).toBe('docs');
  });

  test('the token reaches the server as an Authorization header, and is written nowhere in .git/', async () => {
    const { runner } = setup('header');
    newPart(runner);
    const seen: string[] = [];
    const server = createServer((request, response) => {
      seen.push(`${request.method} ${request.url} ${request.headers.authorization ?? '(none)'}`);
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const output = await new Promise<{ status: number | null; text: string }>((resolve, reject) => {
        const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', pushStep!.run!], { cwd: runner, env: stepEnv('owner/header', url) });
        let text = '';
        child.stdout.on('data', (d: Buffer) => (text += d.toString()));
        child.stderr.on('data', (d: Buffer) => (text += d.toString()));
        child.on('error', reject);
        child.on('close', (status) => resolve({ status, text }));
      });
      expect(output.status, output.text).toBe(1);
      const basic = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
      expect(seen.length).toBeGreaterThan(0);
      expect(seen[0]).toBe(`GET /owner/header.git/info/refs?service=git-upload-pack basic ${basic}`);
      // Masked in the log, and not left behind for later steps.
      expect(output.text).toContain(`::add-mask::${basic}`);
      expect(output.text).not.toContain(TOKEN);
      const dotGit = readdirSync(join(runner, '.git'), { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
      for (const entry of dotGit) {
        const text = readFileSync(join(entry.parentPath, entry.name), 'latin1');
        expect(text.includes(TOKEN) || text.includes(basic), `${entry.name} holds the token`).toBe(false);
      }
    } finally {
      server.close();
    }
  });
});
