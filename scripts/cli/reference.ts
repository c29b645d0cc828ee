/**
 * Everything derived from a command's table (scripts/cli/command.ts): the `parseArgs` configuration,
 * the checks of actions, required, exclusive and one-of options, `--help`, docs/cli.md and the README's
 * command table. Nothing here is written by hand for one command.
 */
import type { ParseArgsConfig } from 'node:util';
import { usageError } from '../lib/errors.ts';
import { capitalise } from '../lib/text.ts';
import type { ActionSpec, ArgumentSpec, Command, CommandSpec, OptionSpec, OptionValues, TextBlock } from './command.ts';
import { GLOBAL_OPTIONS } from './command.ts';

/** Help is wrapped to this many columns. */
const WIDTH = 100;
/** Option names are padded to this column in --help (longer ones put their description on the next line). */
const OPTION_COLUMN = 26;

// ------------------------------------------------------------------------------------------------
// Parsing

/** The `parseArgs` options of a command: its table plus the global options. */
export function parseOptions(spec: Pick<CommandSpec, 'options'>): NonNullable<ParseArgsConfig['options']> {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const option of [...spec.options, ...GLOBAL_OPTIONS]) {
    options[option.name] = {
      type: option.type,
      ...(option.default === undefined ? {} : { default: option.default }),
      ...(option.multiple ? { multiple: true } : {}),
      ...(option.short === undefined ? {} : { short: option.short }),
    } as NonNullable<ParseArgsConfig['options']>[string];
  }
  return options;
}

/** Whether the command takes positional arguments (its own, or an action). */
export function takesPositionals(spec: Pick<CommandSpec, 'arguments' | 'actions'>): boolean {
  return (spec.arguments?.length ?? 0) > 0 || (spec.actions?.length ?? 0) > 0;
}

/**
 * What the table says about a parsed command line, checked before the command runs: the action is
 * one of the command's, options given belong to it, required ones are there, exclusive ones are not
 * both given. `args` are the arguments as typed, to tell given options from defaults.
 */
export function checkCommandLine(spec: CommandSpec, values: OptionValues, positionals: string[], args: string[]): void {
  const given = givenOptions(args, spec);
  if (spec.actions !== undefined && spec.actions.length > 0) {
    const [action] = positionals;
    const names = spec.actions.map((candidate) => `\`${spec.name} ${candidate.name}\``);
    const choice = names.length === 2 ? `${names[0]} or ${names[1]}` : names.join(', ');
    if (action === undefined) throw usageError(`say what to do: ${choice}`);
    const known = spec.actions.find((candidate) => candidate.name === action);
    if (known === undefined) throw usageError(`unknown action \`${action}\`: use ${choice}`);
    const misplaced = spec.options.find(
      (option) => option.actions !== undefined && !option.actions.includes(action) && given.has(option.name),
    );
    if (misplaced !== undefined) throw usageError(`--${misplaced.name} does not apply to \`${spec.name} ${action}\``);
  }
  for (const option of spec.options) {
    if (option.required && values[option.name] === undefined) {
      throw usageError(`${option.type === 'string' ? optionLabel(option) : `--${option.name}`} is required: ${option.description}`);
    }
  }
  for (const group of [...(spec.exclusive ?? []), ...(spec.oneOf ?? [])]) {
    const both = group.filter((name) => given.has(name));
    if (both.length > 1) throw usageError(`${both.map((name) => `--${name}`).join(' and ')} exclude each other: give one`);
  }
  for (const group of spec.oneOf ?? []) {
    if (group.some((name) => given.has(name))) continue;
    const labels = group
      .map((name) => spec.options.find((option) => option.name === name))
      .map((option) => (option === undefined ? '' : optionLabel(option)));
    throw usageError(`${labels.length === 2 ? labels.join(' or ') : `one of ${labels.join(', ')}`} is required (one of them)`);
  }
}

/** Option names as typed (`--live-dns`, `--port=1`, `-h`), up to `--`. */
function givenOptions(args: string[], spec: Pick<CommandSpec, 'options'>): Set<string> {
  const names = new Set<string>();
  for (const arg of args) {
    if (arg === '--') break;
    if (arg.startsWith('--')) names.add(arg.slice(2).split('=')[0] ?? '');
    else if (/^-[a-zA-Z]$/.test(arg)) {
      const option = [...spec.options, ...GLOBAL_OPTIONS].find((candidate) => candidate.short === arg.slice(1));
      if (option !== undefined) names.add(option.name);
    }
  }
  return names;
}

// ------------------------------------------------------------------------------------------------
// Shared pieces

/** `--max-deletes <n>`, `--force`. */
export function optionLabel(option: OptionSpec): string {
  return `--${option.name}${option.type === 'string' ? ` <${option.value ?? 'value'}>` : ''}`;
}

function argumentLabel(argument: ArgumentSpec): string {
  return argument.optional ? `[${argument.name}]` : `<${argument.name}>`;
}

/** The default as shown, or undefined when there is none worth saying (false for a flag). */
export function optionDefault(option: OptionSpec): string | undefined {
  if (option.defaultText !== undefined) return option.defaultText;
  if (option.default === undefined || option.default === false) return undefined;
  return String(option.default);
}

function optionsFor(spec: CommandSpec, action: ActionSpec | undefined): OptionSpec[] {
  return spec.options.filter((option) => action === undefined || option.actions === undefined || option.actions.includes(action.name));
}

/**
 * The usage lines: one per action, each option of the table in brackets, exclusive ones as `[--a | --b]`,
 * a choice that must be made as `(--a | --b)`.
 */
export function synopsis(spec: CommandSpec): string[] {
  const actions: (ActionSpec | undefined)[] = spec.actions === undefined || spec.actions.length === 0 ? [undefined] : spec.actions;
  return actions.map((action) => {
    const head = ['dmarcops', spec.name, ...(action === undefined ? [] : [action.name])];
    const args = [...(action?.arguments ?? []), ...(spec.arguments ?? [])].map(argumentLabel);
    const options = optionsFor(spec, action);
    const parts: string[] = [];
    const done = new Set<string>();
    for (const option of options) {
      if (done.has(option.name)) continue;
      const required = (spec.oneOf ?? []).find((names) => names.includes(option.name));
      const group = required ?? (spec.exclusive ?? []).find((names) => names.includes(option.name));
      const members = group === undefined ? [] : options.filter((candidate) => group.includes(candidate.name));
      if (members.length > 1) {
        const [open, close] = required === undefined ? ['[', ']'] : ['(', ')'];
        parts.push(`${open}${members.map(optionLabel).join(' | ')}${close}`);
        for (const member of members) done.add(member.name);
      } else {
        const label = optionLabel(option);
        parts.push(option.required ? label : `[${label}]${option.multiple ? '…' : ''}`);
      }
      done.add(option.name);
    }
    return [...head, ...args, ...parts].join(' ');
  });
}

function exitCodes(spec: CommandSpec): [number, string][] {
  const codes = { ...spec.exit };
  codes[2] ??= 'usage error';
  return Object.entries(codes)
    .map(([code, meaning]) => [Number(code), meaning] as [number, string])
    .sort((a, b) => a[0] - b[0]);
}

function groups(options: OptionSpec[]): [string, OptionSpec[]][] {
  const byGroup = new Map<string, OptionSpec[]>();
  for (const option of options) {
    const group = option.group ?? 'options';
    byGroup.set(group, [...(byGroup.get(group) ?? []), option]);
  }
  return [...byGroup];
}

/** The description as shown: with `build: ` before it when only some actions take the option. */
function optionText(spec: CommandSpec, option: OptionSpec): string {
  const scoped = someActions(spec, option) ? `${option.actions?.join(', ')}: ` : '';
  const fallback = optionDefault(option);
  return `${scoped}${option.description}${fallback === undefined ? '' : ` (default: ${fallback})`}`;
}

// ------------------------------------------------------------------------------------------------
// --help

/** The usage lines, wrapped between bracketed options; continuation lines line up after `dmarcops <name> `. */
export function usageLines(spec: CommandSpec): string[] {
  const indent = ' '.repeat('usage: '.length + `dmarcops ${spec.name} `.length);
  // A bracketed group (`[--max-ratio <n>]`) stays on one line: its spaces are not break points.
  const glued = (line: string) => line.replace(/\[[^\]]*\]|\([^)]*\)|<[^>]*>/g, (group) => group.replace(/ /g, NO_BREAK));
  return synopsis(spec).flatMap((line, index) =>
    wrap(glued(line), WIDTH, index === 0 ? 'usage: ' : '       ', indent).map((wrapped) => wrapped.replaceAll(NO_BREAK, ' ')),
  );
}

const NO_BREAK = '\u00a0';

/** `dmarcops <command> --help`. */
export function renderHelp(spec: CommandSpec): string {
  const lines: string[] = [`dmarcops ${spec.name}: ${spec.summary}`, ''];
  lines.push(...usageLines(spec));
  if (spec.actions !== undefined && spec.actions.length > 0) {
    lines.push('', 'actions:');
    const width = Math.max(...spec.actions.map((action) => action.name.length));
    for (const action of spec.actions)
      lines.push(...wrap(action.summary, WIDTH, `  ${action.name.padEnd(width)}  `, ' '.repeat(width + 4)));
  }
  if (spec.description.length > 0) lines.push('', ...blocks(spec.description, ''));
  const args = [...(spec.actions ?? []).flatMap((action) => action.arguments ?? []), ...(spec.arguments ?? [])];
  if (args.length > 0) {
    lines.push('', 'arguments:');
    for (const argument of args) lines.push(...definition(argumentLabel(argument), argument.description));
  }
  for (const [group, options] of groups(spec.options)) {
    lines.push('', `${group}:`);
    for (const option of options)
      lines.push(...definition(`${optionLabel(option)}${option.multiple ? ' (repeatable)' : ''}`, optionText(spec, option)));
  }
  for (const section of spec.sections ?? []) lines.push('', `${section.title}:`, ...blocks(section.body, '  '));
  if (spec.environment !== undefined && spec.environment.length > 0) {
    lines.push('', 'environment:');
    for (const variable of spec.environment) lines.push(...definition(variable.name, variable.description));
  }
  if (spec.examples !== undefined && spec.examples.length > 0) {
    lines.push('', 'examples:');
    for (const example of spec.examples) {
      lines.push(`  ${example.command}`);
      if (example.description !== undefined) lines.push(...wrap(example.description, WIDTH, '      ', '      '));
    }
  }
  lines.push('', 'exit codes:', ...exitCodes(spec).flatMap(([code, meaning]) => wrap(meaning, WIDTH, `  ${code}  `, '     ')));
  lines.push(
    '',
    `Every command also takes ${GLOBAL_OPTIONS.map((option) => `--${option.name}`).join(' and ')}; docs/cli.md has this help for every command.`,
  );
  return lines.join('\n');
}

function definition(term: string, text: string): string[] {
  const head = `  ${term}`;
  if (head.length + 2 > OPTION_COLUMN) return [head, ...wrap(text, WIDTH, ' '.repeat(OPTION_COLUMN), ' '.repeat(OPTION_COLUMN))];
  return wrap(text, WIDTH, head.padEnd(OPTION_COLUMN), ' '.repeat(OPTION_COLUMN));
}

function blocks(body: TextBlock[], indent: string): string[] {
  const lines: string[] = [];
  body.forEach((block, index) => {
    if (index > 0) lines.push('');
    if (typeof block === 'string') lines.push(...wrap(block, WIDTH, indent, indent));
    else for (const item of block.items) lines.push(...definition(item.term, item.text));
  });
  return lines;
}

/** Words onto lines of at most `width` columns (a longer word stays whole). */
export function wrap(text: string, width: number, first: string, rest: string): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/[ \t\n]+/).filter((part) => part !== '')) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else line = empty ? line + word : `${line} ${word}`;
    empty = false;
  }
  lines.push(line);
  return lines.map((candidate) => candidate.trimEnd());
}

// ------------------------------------------------------------------------------------------------
// Markdown: docs/cli.md and the README's table

/** Trusted prose for Markdown: code spans stay as they are; outside them, what Markdown would take for markup is escaped. */
export function markdownProse(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part, index) =>
      index % 2 === 1 ? part : part.replace(/[\\*_[\]<>|]/g, (char) => (char === '<' ? '&lt;' : char === '>' ? '&gt;' : `\\${char}`)),
    )
    .join('');
}

function markdownBlocks(body: TextBlock[]): string[] {
  const out: string[] = [];
  for (const block of body) {
    if (typeof block === 'string') out.push(markdownProse(block), '');
    else out.push(...block.items.map((item) => `- **${markdownProse(item.term)}**: ${markdownProse(item.text)}`), '');
  }
  return out;
}

/** The heading anchor GitHub gives `## dmarcops <name>`. */
export function commandAnchor(name: string): string {
  return `dmarcops-${name}`;
}

/** One command's section of docs/cli.md. */
export function commandMarkdown(spec: CommandSpec): string {
  const out: string[] = [`## dmarcops ${spec.name}`, '', markdownProse(spec.summary), '', '```', ...synopsis(spec), '```', ''];
  if (spec.actions !== undefined && spec.actions.length > 0) {
    out.push(
      '| action | what it does |',
      '|---|---|',
      ...spec.actions.map((action) => `| \`${action.name}\` | ${markdownProse(action.summary)} |`),
      '',
    );
  }
  out.push(...markdownBlocks(spec.description));
  const args = [...(spec.actions ?? []).flatMap((action) => action.arguments ?? []), ...(spec.arguments ?? [])];
  if (args.length > 0) {
    out.push('| argument | meaning |', '|---|---|');
    out.push(...args.map((argument) => `| ${code(argumentLabel(argument))} | ${markdownProse(argument.description)} |`), '');
  }
  for (const [group, options] of groups(spec.options)) {
    out.push(`**${markdownProse(capitalise(group))}**`, '');
    out.push('| option | default | meaning |', '|---|---|---|');
    for (const option of options) {
      const fallback = optionDefault(option);
      const scoped = someActions(spec, option) ? `${(option.actions ?? []).map((action) => `\`${action}\``).join(', ')} only. ` : '';
      const label = `${code(optionLabel(option))}${option.multiple ? ' (repeatable)' : ''}${option.required ? ' (required)' : ''}`;
      const shown = fallback === undefined ? '' : option.defaultText === undefined ? code(fallback) : markdownProse(fallback);
      out.push(`| ${label} | ${shown} | ${scoped}${markdownProse(option.description)} |`);
    }
    out.push('');
  }
  for (const section of spec.sections ?? [])
    out.push(`**${markdownProse(capitalise(section.title))}**`, '', ...markdownBlocks(section.body));
  if (spec.environment !== undefined && spec.environment.length > 0) {
    out.push('**Environment**', '', '| variable | meaning |', '|---|---|');
    out.push(...spec.environment.map((variable) => `| \`${variable.name}\` | ${markdownProse(variable.description)} |`), '');
  }
  if (spec.examples !== undefined && spec.examples.length > 0) {
    out.push('**Examples**', '', '```console');
    for (const example of spec.examples) {
      if (example.description !== undefined) out.push(`# ${example.description}`);
      out.push(`$ ${example.command}`);
    }
    out.push('```', '');
  }
  out.push(
    '**Exit codes**',
    '',
    '| code | meaning |',
    '|---|---|',
    ...exitCodes(spec).map(([code, meaning]) => `| ${code} | ${markdownProse(meaning)} |`),
  );
  return out.join('\n');
}

/** docs/cli.md: every command, from its table. */
export function cliMarkdown(commands: readonly CommandSpec[]): string {
  return [
    '# Command reference',
    '',
    '<!-- Generated from the command tables in scripts/cli/*.ts by `npm run docs`; test/cli/reference.test.ts keeps it in step. Do not edit by hand. -->',
    '',
    '`dmarcops <command> --help` prints the same for one command. Exit codes: **0** ok, **1** findings or errors, **2** usage error.',
    'Colours are off when `NO_COLOR` is set or the output is not a terminal. When a command stops on an error it prints',
    '`dmarcops <command>: <message> [<code>]` and a hint; [errors.md](errors.md) lists every code.',
    '',
    '**Global options** (every command):',
    '',
    '| option | meaning |',
    '|---|---|',
    ...GLOBAL_OPTIONS.map((option) => {
      const short = option.short === undefined ? '' : `, \`-${option.short}\``;
      return `| \`${optionLabel(option)}\`${short} | ${markdownProse(option.description)} |`;
    }),
    '| `--version`, `-v` | print the version (before any command) |',
    '',
    commandTable(commands, ''),
    '',
    ...commands.map((command) => `${commandMarkdown(command)}\n`),
  ].join('\n');
}

/**
 * The table of commands: one row per command (per action, for commands with actions), each linking to
 * its section of docs/cli.md. `docsPath` is the link's file ('' inside docs/cli.md itself).
 */
export function commandTable(commands: readonly CommandSpec[], docsPath = 'docs/cli.md'): string {
  const rows: string[] = [];
  for (const command of commands) {
    const link = `${docsPath}#${commandAnchor(command.name)}`;
    const actions = command.actions === undefined || command.actions.length === 0 ? [undefined] : command.actions;
    for (const action of actions) {
      const args = [...(action?.arguments ?? []), ...(command.arguments ?? [])].map(argumentLabel).join(' ');
      const label = ['dmarcops', command.name, ...(action === undefined ? [] : [action.name]), ...(args === '' ? [] : [args])].join(' ');
      rows.push(`| [${code(label)}](${link}) | ${markdownProse(action?.summary ?? command.summary)} |`);
    }
  }
  return ['| command | what it does |', '|---|---|', ...rows].join('\n');
}

/** A code span for a table cell: GitHub ends a cell at `|` even inside code, unless it is escaped. */
function code(text: string): string {
  return `\`${text.replace(/\|/g, '\\|')}\``;
}

/** Whether the option goes with some of the command's actions only (then help and docs say which). */
function someActions(spec: CommandSpec, option: OptionSpec): boolean {
  return option.actions !== undefined && spec.actions !== undefined && option.actions.length < spec.actions.length;
}

/** Checks a table for mistakes a test should catch: duplicate names, a value name on a flag, unknown actions. */
export function tableProblems(command: Command): string[] {
  const problems: string[] = [];
  const names = [...command.options, ...GLOBAL_OPTIONS].map((option) => option.name);
  for (const name of new Set(names)) {
    if (names.filter((candidate) => candidate === name).length > 1) problems.push(`${command.name}: option --${name} is declared twice`);
  }
  const actions = new Set((command.actions ?? []).map((action) => action.name));
  for (const option of command.options) {
    if (option.type === 'boolean' && option.value !== undefined)
      problems.push(`${command.name}: --${option.name} is a flag but has a value name`);
    if (option.type === 'string' && option.value === undefined)
      problems.push(`${command.name}: --${option.name} takes a value but has no value name`);
    for (const action of option.actions ?? [])
      if (!actions.has(action)) problems.push(`${command.name}: --${option.name} names an unknown action ${action}`);
  }
  const groups = [...(command.exclusive ?? []), ...(command.oneOf ?? [])];
  for (const group of groups)
    if (group.length < 2) problems.push(`${command.name}: an exclusive or one-of group needs two options or more`);
  for (const name of groups.flat())
    if (!names.includes(name)) problems.push(`${command.name}: exclusive or one-of names unknown --${name}`);
  for (const name of new Set(groups.flat())) {
    if (groups.flat().filter((candidate) => candidate === name).length > 1) problems.push(`${command.name}: --${name} is in two groups`);
  }
  return problems;
}
