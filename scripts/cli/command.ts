/** The shape every command module has, and the error that carries an exit code to the one top-level catch. */
import type { ParseArgsConfig } from 'node:util';
import type { Output } from './output.ts';

/** Exit codes, as documented in the README. */
export const EXIT = { ok: 0, findings: 1, usage: 2 } as const;

export interface CommandContext {
  args: string[];
  output: Output;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Lines of help after the usage line: options and examples. */
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  allowPositionals: boolean;
  run(values: Record<string, string | boolean | (string | boolean)[] | undefined>, positionals: string[], context: CommandContext): Promise<number>;
}

/** An error the user can fix: printed without a stack, with its exit code. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.findings) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export const DOMAINS_OPTION = { domains: { type: 'string', default: 'domains' } } as const;
export const JSON_OPTION = { json: { type: 'boolean', default: false } } as const;
