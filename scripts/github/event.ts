/**
 * The event payload Actions writes to GITHUB_EVENT_PATH, as far as dmarcops reads it: the pull
 * request's number and labels (the `dmarcops:force` label lets risky DNS changes through). Read by
 * the sticky comment and by `plan`'s job summary alike.
 */
import { readFileSync } from 'node:fs';

/** A pull request as the event payload shows it when the run started. */
export interface EventPullRequest {
  /** Undefined when the payload does not say. */
  number: number | undefined;
  /** Label names, as of the event (`labeled`/`unlabeled` events carry the labels after the change). */
  labels: string[];
}

/**
 * `pull_request` of the event payload Actions writes to GITHUB_EVENT_PATH: its number and label names.
 * Undefined outside Actions and for events without a pull request; throws when the file is unreadable
 * or not JSON (what the labels allow must not be guessed).
 */
export function pullRequestFromEvent(env: NodeJS.ProcessEnv = process.env): EventPullRequest | undefined {
  const path = env.GITHUB_EVENT_PATH;
  if (path === undefined || path === '') return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read the event payload at GITHUB_EVENT_PATH (${path}): ${(error as Error).message}`, { cause: error });
  }
  const pullRequest = typeof payload === 'object' && payload !== null ? (payload as { pull_request?: unknown }).pull_request : undefined;
  if (typeof pullRequest !== 'object' || pullRequest === null) return undefined;
  const { number, labels } = pullRequest as { number?: unknown; labels?: unknown };
  return {
    number: typeof number === 'number' && Number.isSafeInteger(number) && number > 0 ? number : undefined,
    labels: Array.isArray(labels) ? labels.flatMap((label: unknown) => {
      const name = typeof label === 'object' && label !== null ? (label as { name?: unknown }).name : undefined;
      return typeof name === 'string' ? [name] : [];
    }) : [],
  };
}
