/**
 * The event payload Actions writes to GITHUB_EVENT_PATH, as far as dmarcops reads it: the pull
 * request's number, head commit and labels (the `dmarcops:force` label lets its own risky DNS changes
 * through), and the repository's default branch (the only branch apply runs on). Read by the sticky
 * comment, by `plan`'s job summary and by `apply`.
 */
import { readFileSync } from 'node:fs';
import { isPlainObject } from '../lib/collections.ts';
import { DmarcopsError } from '../lib/errors.ts';

/** A pull request as the event payload shows it when the run started. */
export interface EventPullRequest {
  /** Undefined when the payload does not say. */
  number: number | undefined;
  /** Label names, as of the event (`labeled`/`unlabeled` events carry the labels after the change). */
  labels: string[];
  /** The head commit the run checked out (merged into its base), full sha; undefined when the payload does not say. */
  headSha?: string;
}

/**
 * `pull_request` of the event payload Actions writes to GITHUB_EVENT_PATH: its number, head sha and label
 * names. Undefined outside Actions and for events without a pull request; throws when the file is
 * unreadable or not JSON (what the labels allow must not be guessed).
 */
export function pullRequestFromEvent(env: NodeJS.ProcessEnv = process.env): EventPullRequest | undefined {
  const payload = eventPayload(env);
  const pullRequest = isPlainObject(payload) ? payload.pull_request : undefined;
  if (!isPlainObject(pullRequest)) return undefined;
  const { number, labels, head } = pullRequest;
  const result: EventPullRequest = {
    number: typeof number === 'number' && Number.isSafeInteger(number) && number > 0 ? number : undefined,
    labels: Array.isArray(labels)
      ? labels.flatMap((label: unknown) => {
          const name = isPlainObject(label) ? label.name : undefined;
          return typeof name === 'string' ? [name] : [];
        })
      : [],
  };
  const sha = isPlainObject(head) ? head.sha : undefined;
  if (typeof sha === 'string' && isSha(sha)) result.headSha = sha;
  return result;
}

/** `repository.default_branch` of the event payload; undefined outside Actions or when it does not say. */
export function defaultBranchFromEvent(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const payload = eventPayload(env);
  const repository = isPlainObject(payload) ? payload.repository : undefined;
  const branch = isPlainObject(repository) ? repository.default_branch : undefined;
  return typeof branch === 'string' && branch !== '' ? branch : undefined;
}

/**
 * In GitHub Actions, the run's ref must be the repository's default branch: a workflow dispatched
 * from another branch runs that branch's workflow file and domain files. Returns the branch name;
 * throws a sentence saying why not, also when the default branch cannot be told (fail closed).
 */
export function requireDefaultBranch(env: NodeJS.ProcessEnv = process.env): string {
  let branch: string | undefined;
  try {
    branch = defaultBranchFromEvent(env);
  } catch (error) {
    throw new DmarcopsError('github-event-unreadable', `cannot tell the repository's default branch: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (branch === undefined)
    throw new DmarcopsError(
      'github-event-unreadable',
      "cannot tell the repository's default branch: the event payload at GITHUB_EVENT_PATH " +
        'has no repository.default_branch; apply runs only on the default branch',
    );
  const ref = env.GITHUB_REF ?? '';
  if (ref !== `refs/heads/${branch}`) {
    throw new DmarcopsError(
      'apply-not-default-branch',
      `apply runs only on the default branch (refs/heads/${branch}), ` +
        `not ${ref === '' ? 'an unknown ref (GITHUB_REF is not set)' : ref}: what another branch holds was not merged after review`,
    );
  }
  return branch;
}

/** A full commit sha: 40 hex digits (SHA-1) or 64 (SHA-256 repositories). */
export function isSha(text: string): boolean {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(text);
}

function eventPayload(env: NodeJS.ProcessEnv): unknown {
  const path = env.GITHUB_EVENT_PATH;
  if (path === undefined || path === '') return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new DmarcopsError(
      'github-event-unreadable',
      `cannot read the event payload at GITHUB_EVENT_PATH (${path}): ${(error as Error).message}`,
      { cause: error },
    );
  }
}
