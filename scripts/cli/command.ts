/**
 * The shape every command module has. A command is a table: its options (name, type, default, value
 * name, description, repeatable), arguments, actions, notes, environment, examples and exit codes.
 * From that one table come the `parseArgs` configuration, `--help`, docs/cli.md and the README's
 * command table (scripts/cli/reference.ts); test/cli/reference.test.ts keeps them in step.
 */
import type { Output } from './output.ts';

export { EXIT } from '../lib/errors.ts';

export interface CommandContext {
  args: string[];
  output: Output;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface OptionSpec {
  /** Without the dashes: `max-deletes`. */
  name: string;
  type: 'string' | 'boolean';
  /** The value's name in help and docs (`--max-deletes <n>`); string options only. */
  value?: string;
  /** What `parseArgs` fills in when the option is not given; also shown as the default. */
  default?: string | boolean;
  /** The default as shown, when there is no parsed default or it says less ("16 to read, 8 to write"). */
  defaultText?: string;
  /** May be given more than once; the values come as a list. */
  multiple?: boolean;
  /** A one-letter alias (`-h`). */
  short?: string;
  /** The command refuses to run without it (a usage error). */
  required?: boolean;
  /** One sentence or a few; wrapped for --help. Backticks mark commands and file names. */
  description: string;
  /** Only with these actions (`site build`); given with another it is a usage error. */
  actions?: string[];
  /** The heading it is listed under in --help and the docs (default "options"). */
  group?: string;
}

export interface ArgumentSpec {
  /** As shown in the usage line: `files…`, `domain`, `txt…`. */
  name: string;
  description: string;
  optional?: boolean;
}

/** A subcommand: `site build`, `mta-sts check`, `sandbox cloudflare`. */
export interface ActionSpec {
  name: string;
  summary: string;
  arguments?: ArgumentSpec[];
}

/** A paragraph, or a list of terms with their explanation. */
export type TextBlock = string | { items: { term: string; text: string }[] };

export interface CommandSpec {
  name: string;
  /** One line: what the command does (the README's table and `dmarcops --help`). */
  summary: string;
  /** What comes after the command name (and after the action, for commands with actions). */
  arguments?: ArgumentSpec[];
  /** Subcommands: the first argument names one. */
  actions?: ActionSpec[];
  /** Paragraphs after the usage line: what the command does and how. */
  description: TextBlock[];
  options: OptionSpec[];
  /** Groups of options that exclude each other (two or more): shown as `[--a | --b]`, refused together. */
  exclusive?: string[][];
  /** Groups of options of which exactly one must be given: shown as `(--a | --b)`; none, or two, is a usage error. */
  oneOf?: string[][];
  /** Further notes under their own headings (after the options). */
  sections?: { title: string; body: TextBlock[] }[];
  /** Environment variables the command reads. */
  environment?: { name: string; description: string }[];
  examples?: { command: string; description?: string }[];
  /** Exit codes and what they mean; 2 (usage error) is added when missing. */
  exit: Record<number, string>;
}

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Command extends CommandSpec {
  run(values: OptionValues, positionals: string[], context: CommandContext): Promise<number>;
}

/** Options every command takes, whatever its table says. */
export const GLOBAL_OPTIONS: OptionSpec[] = [
  { name: 'help', short: 'h', type: 'boolean', description: "print the command's help and exit" },
  {
    name: 'debug',
    type: 'boolean',
    description:
      'when an error stops the command, also print its stack and its causes (as DMARCOPS_DEBUG=1 does); before or after the command name',
  },
];

export const DOMAINS_OPTION: OptionSpec = {
  name: 'domains',
  type: 'string',
  value: 'dir',
  default: 'domains',
  description: 'folder of domain files',
};
export const JSON_OPTION: OptionSpec = { name: 'json', type: 'boolean', default: false, description: 'print the result as JSON' };
export const DATA_OPTION: OptionSpec = { name: 'data', type: 'string', value: 'dir', default: 'reports', description: 'dataset root' };

/** An option of a shared table with another description (e.g. what `--json` prints here). */
export function withDescription(option: OptionSpec, description: string): OptionSpec {
  return { ...option, description };
}
