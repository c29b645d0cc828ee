/**
 * The push step of .github/workflows/ingest.yml, run as the runner runs it (bash -eo pipefail) in a
 * shallow clone of a local bare repository: when main moved on since the checkout it rebases and
 * pushes; when it cannot push at all it fails the step (so `fetch --file-only` never runs and the
 * mail stays in the inbox); with nothing new it succeeds without a commit.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const PREFIX = join(tmpdir(), 'dmarcops-ingest-push-');
const workflow = parse(readFileSync('.github/workflows/ingest.yml', 'utf8')) as { jobs: { ingest: { steps: { run?: string; env?: Record<string, string> }[] } } };
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

function runStep(cwd: string): { status: number | null; output: string } {
  const result = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', pushStep!.run!], { cwd, env: { ...env, BRANCH: 'main' }, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
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
  test('is found, and takes the branch from the environment (no expression inside the script)', () => {
    expect(pushStep?.run).toBeDefined();
    expect(pushStep?.run).not.toContain('${{');
    expect(pushStep?.env?.BRANCH).toBe('${{ github.ref_name }}');
  });

  test('main moved on meanwhile: the commit is rebased on it and pushed', () => {
    const { remote, dev, runner } = setup('moved');
    // A pull request merged while the ingest ran.
    commitFile(dev, 'domains/new.example.yaml', 'policy: none\n', 'add new.example');
    git(dev, 'push', '-q', 'origin', 'main');
    // The ingest's new part.
    mkdirSync(join(runner, 'reports/ledger'), { recursive: true });
    writeFileSync(join(runner, 'reports/ledger/run-2.parquet'), 'run 2\n');

    const { status, output } = runStep(runner);
    expect(status, output).toBe(0);
    expect(output).toMatch(/Push failed \(attempt 1 of 5\)/);
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
    git(runner, 'remote', 'set-url', 'origin', `file://${join(dir, 'no-such-remote.git')}`);
    writeFileSync(join(runner, 'reports/ledger/run-2.parquet'), 'run 2\n');
    const { status, output } = runStep(runner);
    expect(status).toBe(1);
    expect(output).toMatch(/attempt 5 of 5/);
    expect(output).toContain('::error::Could not push the new report data');
  });

  test('nothing new: no commit, success', () => {
    const { remote, runner } = setup('quiet');
    const before = git(remote, 'rev-parse', 'main');
    const { status, output } = runStep(runner);
    expect(status, output).toBe(0);
    expect(output).toContain('No new reports.');
    expect(git(remote, 'rev-parse', 'main')).toBe(before);
  });
});
