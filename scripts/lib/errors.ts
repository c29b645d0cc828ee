/**
 * The one error model: every error a user can act on is a `DmarcopsError` with a stable `code` from
 * the catalogue (scripts/lib/error-catalogue.ts, published as docs/errors.md), a message that says
 * what happened, a hint that says what to do, and where it happened when that is known. The command
 * line's single catch (scripts/cli.ts) prints them; anything else that reaches it is a bug.
 *
 * Internal invariants (a caller broke a contract inside dmarcops) stay plain `Error`s: no user can fix
 * them, so they have no code and no hint, and the exit path asks for a bug report.
 */
import { ERRORS, errorHint } from './error-catalogue.ts';
import type { ErrorCode, ErrorEntry, MessageArgs, TemplatedCode } from './error-catalogue.ts';

export type { ErrorCode } from './error-catalogue.ts';

/** Exit codes, as documented in the README: 1 for findings and failures, 2 for a wrong command line. */
export const EXIT = { ok: 0, findings: 1, usage: 2 } as const;

/** Where an error happened: a file the user can open, or what it is about (a report input, a zone, a URL). */
export interface ErrorLocation {
  file?: string;
  /** 1-based. */
  line?: number;
  /** 1-based. */
  col?: number;
  /** What the error is about when it is not a file: `msg.eml › attachment › report.xml`, a zone, a URL. */
  source?: string;
}

export interface DmarcopsErrorOptions {
  /** Replaces the catalogue's hint when the site knows better (e.g. names the variable to set). */
  hint?: string;
  location?: ErrorLocation;
  /** Replaces the catalogue's exit code (rarely needed). */
  exitCode?: number;
  cause?: unknown;
}

export class DmarcopsError extends Error {
  /** Stable: documented in docs/errors.md, searchable, never reused for something else. */
  readonly code: ErrorCode;
  /** What to do about it, in a sentence; empty when the message says it all. */
  readonly hint: string;
  readonly location: ErrorLocation | undefined;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options: DmarcopsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DmarcopsError';
    this.code = code;
    this.hint = options.hint ?? errorHint(code);
    this.location = options.location;
    const entry: ErrorEntry = ERRORS[code];
    this.exitCode = options.exitCode ?? entry.exitCode ?? EXIT.findings;
  }
}

/**
 * An error whose message the catalogue writes (for errors raised in more than one place): the
 * arguments are what the message names.
 */
export function catalogueError<C extends TemplatedCode>(code: C, args: MessageArgs<C>, options: DmarcopsErrorOptions = {}): DmarcopsError {
  const template = ERRORS[code].message as (args: MessageArgs<C>) => string;
  return new DmarcopsError(code, template(args), options);
}

/** A command line that cannot be run as written (exit 2): wrong option value, missing argument. */
export function usageError(message: string, options: DmarcopsErrorOptions = {}): DmarcopsError {
  return new DmarcopsError('usage', message, options);
}

/** `file:line:col`, or the source, for printing; undefined when there is nothing to say. */
export function formatLocation(location: ErrorLocation | undefined): string | undefined {
  if (location === undefined) return undefined;
  if (location.file !== undefined) {
    const position = location.line === undefined ? '' : `:${location.line}${location.col === undefined ? '' : `:${location.col}`}`;
    return `${location.file}${position}${location.source === undefined ? '' : ` (${location.source})`}`;
  }
  return location.source;
}

/** The causes of an error, outermost first (stops at a cycle). */
export function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current = error instanceof Error ? error.cause : undefined;
  while (current !== undefined && current !== null && !chain.includes(current) && chain.length < 10) {
    chain.push(current);
    current = current instanceof Error ? current.cause : undefined;
  }
  return chain;
}

/** An error from the operating system (file system, network): ENOENT, EACCES, ECONNREFUSED… */
export function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  return (
    error instanceof Error &&
    typeof (error as NodeJS.ErrnoException).code === 'string' &&
    typeof (error as NodeJS.ErrnoException).syscall === 'string'
  );
}
