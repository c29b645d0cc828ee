/**
 * Workflow files as GitHub reads them, for tests: expressions evaluated by GitHub's own evaluator
 * (@actions/expressions), and a job's `run:` steps executed the way a runner does (bash, `-eo pipefail`,
 * GITHUB_OUTPUT, `if:` and `env:` evaluated with the run's contexts), so a test drives the workflow's
 * own shell rather than a copy of it.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { data, Evaluator, Lexer, Parser } from '@actions/expressions';

/** A workflow expression (`${{ }}` optional) evaluated by GitHub's own evaluator with these contexts and status functions. */
export function evaluate(expression: string, contexts: Record<string, unknown>, statusFunctions: Record<string, boolean> = {}): string {
  const source = expression.replace(/^\$\{\{\s*/, '').replace(/\s*\}\}$/, '');
  const toData = (value: unknown): data.ExpressionData => {
    if (typeof value === 'string') return new data.StringData(value);
    if (typeof value === 'boolean') return new data.BooleanData(value);
    if (typeof value === 'number') return new data.NumberData(value);
    if (value === null || value === undefined) return new data.Null();
    if (Array.isArray(value)) {
      const array = new data.Array();
      for (const item of value) array.add(toData(item));
      return array;
    }
    return new data.Dictionary(
      ...Object.entries(value as Record<string, unknown>).map(([key, member]) => ({ key, value: toData(member) })),
    );
  };
  const functions = Object.entries(statusFunctions).map(([name, result]) => ({
    name,
    minArgs: 0,
    maxArgs: 0,
    call: () => new data.BooleanData(result),
  }));
  const { tokens } = new Lexer(source).lex();
  const tree = new Parser(tokens, Object.keys(contexts), functions).parse();
  return new Evaluator(tree, toData(contexts) as data.Dictionary, new Map(functions.map((f) => [f.name.toLowerCase(), f])))
    .evaluate()
    .coerceString();
}

/** Text with every `${{ … }}` in it replaced by its value. */
export function interpolate(text: string, contexts: Record<string, unknown>): string {
  return text.replace(/\$\{\{([\s\S]*?)\}\}/g, (_whole, expression: string) => evaluate(expression.trim(), contexts));
}

export interface WorkflowStep {
  name?: string;
  id?: string;
  if?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}

export interface StepRun {
  step: WorkflowStep;
  /** Skipped by its `if:`. */
  skipped: boolean;
  status: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
}

/**
 * Runs the `run:` steps of `steps` in order in `cwd`, as a runner does: `if:` (default `success()`)
 * and `env:` evaluated with `contexts` plus `steps.<id>.outputs`, bash with `-eo pipefail`, outputs read
 * from GITHUB_OUTPUT. `uses:` steps are the caller's to have done (say, the checkout). `npx` on PATH runs
 * `npx dmarcops …` as `<node> <bin>` (the checkout's own dmarcops), and fails for anything else. Stops at
 * the first failing step that does not continue on error.
 */
export async function runSteps(
  steps: readonly (WorkflowStep & { 'continue-on-error'?: boolean })[],
  options: { cwd: string; contexts: Record<string, unknown>; env: Record<string, string>; dmarcops: string },
): Promise<StepRun[]> {
  const bin = mkdtempSync(join(tmpdir(), 'dmarcops-runner-'));
  const npx = join(bin, 'npx');
  writeFileSync(
    npx,
    `#!/bin/sh\nif [ "$1" = dmarcops ]; then shift; exec "${process.execPath}" "${options.dmarcops}" "$@"; fi\necho "npx $1: not in this test" >&2; exit 127\n`,
  );
  chmodSync(npx, 0o755);
  const outputs: Record<string, { outputs: Record<string, string> }> = {};
  const runs: StepRun[] = [];
  let failed = false;
  for (const step of steps) {
    if (step.run === undefined) continue;
    const contexts = { ...options.contexts, steps: outputs };
    const condition =
      step.if === undefined ? (failed ? 'false' : 'true') : failed ? 'false' : evaluate(step.if, contexts, { success: true });
    if (condition !== 'true') {
      runs.push({ step, skipped: true, status: 0, stdout: '', stderr: '', outputs: {} });
      continue;
    }
    const outputFile = join(bin, `output-${runs.length}`);
    writeFileSync(outputFile, '');
    const env: Record<string, string> = { ...options.env, PATH: `${bin}:${process.env.PATH ?? ''}`, GITHUB_OUTPUT: outputFile };
    for (const [key, value] of Object.entries(step.env ?? {})) env[key] = interpolate(String(value), contexts);
    // Asynchronous: the servers a step talks to may live in this process.
    const result = await bash(step.run, options.cwd, env);
    const stepOutputs: Record<string, string> = {};
    for (const line of readFileSync(outputFile, 'utf8').split('\n')) {
      const at = line.indexOf('=');
      if (at > 0) stepOutputs[line.slice(0, at)] = line.slice(at + 1);
    }
    if (step.id !== undefined) outputs[step.id] = { outputs: stepOutputs };
    const status = result.status ?? 1;
    runs.push({ step, skipped: false, status, stdout: result.stdout, stderr: result.stderr, outputs: stepOutputs });
    if (status !== 0 && step['continue-on-error'] !== true) failed = true;
  }
  return runs;
}

function bash(
  script: string,
  cwd: string,
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => void (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => void (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
