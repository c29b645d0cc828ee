/**
 * The dmarcops command line: the only place that knows about flags, TTYs and exit codes.
 * Each command lives in scripts/cli/<name>.ts and is loaded only when it runs.
 */
import { parseArgs } from 'node:util';
import { closest, distance } from 'fastest-levenshtein';
import type { Command, CommandContext, OptionValues } from './cli/command.ts';
import { EXIT } from './cli/command.ts';
import { COMMANDS, loadCommands } from './cli/commands.ts';
import { createOutput } from './cli/output.ts';
import type { Output } from './cli/output.ts';
import { checkCommandLine, cliMarkdown, parseOptions, renderHelp, takesPositionals, usageLines } from './cli/reference.ts';
import { BUG_REPORT, errorHint } from './lib/error-catalogue.ts';
import { causeChain, DmarcopsError, formatLocation, isSystemError, usageError } from './lib/errors.ts';
import { printable } from './lib/escape.ts';

export async function main(
  argv: string[],
  output: Output = createOutput(),
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): Promise<number> {
  const { rest, debug: debugFlag } = takeDebugFlag(argv);
  const debug = debugFlag || Boolean(env.DMARCOPS_DEBUG);
  const [name, ...args] = rest;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    // `dmarcops help <command>` is `dmarcops <command> --help`; `dmarcops help --markdown` is docs/cli.md.
    const target = name === 'help' ? args.find((arg) => !arg.startsWith('-')) : undefined;
    if (target) return main([target, '--help'], output, env, cwd);
    if (name === 'help' && args.includes('--markdown')) {
      output.out(cliMarkdown(await loadCommands()).trimEnd());
      return EXIT.ok;
    }
    output.out(await generalHelp());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    output.out(process.env.npm_package_version ?? '0.1.0');
    return EXIT.ok;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    const names = Object.keys(COMMANDS);
    const near = closest(name, names);
    const suggestion = distance(name, near) <= 2 ? ` Did you mean \`${near}\`?` : '';
    return reportError(new DmarcopsError('unknown-command', `unknown command \`${name}\`.${suggestion}`), 'dmarcops', output, debug);
  }
  const command = await load();
  if (args.includes('--help') || args.includes('-h')) {
    output.out(renderHelp(command));
    return EXIT.ok;
  }
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseCommandLine(command, args);
  } catch (error) {
    return reportError(error, `dmarcops ${command.name}`, output, debug, command);
  }
  const context: CommandContext = { args, output, env, cwd };
  try {
    return await command.run(parsed.values, parsed.positionals, context);
  } catch (error) {
    return reportError(error, `dmarcops ${command.name}`, output, debug, command);
  }
}

/** The arguments after the command name, parsed and checked against the command's table. */
export function parseCommandLine(command: Command, args: string[]): { values: OptionValues; positionals: string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options: parseOptions(command), allowPositionals: takesPositionals(command), strict: true });
  } catch (error) {
    throw usageError((error as Error).message, { cause: error });
  }
  const values = parsed.values as OptionValues;
  delete values.debug;
  delete values.help;
  checkCommandLine(command, values, parsed.positionals, args);
  return { values, positionals: parsed.positionals };
}

/**
 * `--debug` anywhere before `--` (before or after the command name), taken out of the arguments so
 * that every command accepts it; DMARCOPS_DEBUG=1 in the environment does the same.
 */
function takeDebugFlag(argv: string[]): { rest: string[]; debug: boolean } {
  const end = argv.indexOf('--');
  const head = end === -1 ? argv : argv.slice(0, end);
  const tail = end === -1 ? [] : argv.slice(end);
  const rest = head.filter((arg) => arg !== '--debug');
  return { rest: [...rest, ...tail], debug: rest.length !== head.length };
}

/**
 * The single exit path: what went wrong, where, and what to do. A `DmarcopsError` prints its message
 * with its code, its location (unless the message names it already) and its hint; an error from the
 * operating system says so; anything else is a bug and says where to report it. With --debug, the
 * stack and every cause follow. Returns the exit code.
 */
export function reportError(error: unknown, prefix: string, output: Pick<Output, 'err'>, debug: boolean, command?: Command): number {
  const message = error instanceof Error ? error.message : String(error);
  const [first = '', ...more] = printableLines(message).split('\n');
  let exitCode: number = EXIT.findings;
  if (error instanceof DmarcopsError) {
    output.err(`${prefix}: ${first} [${error.code}]`);
    for (const line of more) output.err(line);
    const where = formatLocation(error.location);
    if (where !== undefined && !message.includes(error.location?.file ?? where)) output.err(`  at ${printable(where)}`);
    if (error.code === 'usage' && command !== undefined) for (const line of usageLines(command)) output.err(line);
    // A usage error's hint names the command whose --help to read.
    const hint =
      error.code === 'usage' && command !== undefined
        ? `\`dmarcops ${command.name} --help\` lists the options, with their values.`
        : error.hint;
    if (hint !== '') output.err(`hint: ${printableLines(hint)}`);
    exitCode = error.exitCode;
  } else if (isSystemError(error)) {
    output.err(`${prefix}: ${first} [system-error]`);
    for (const line of more) output.err(line);
    output.err(`hint: ${errorHint('system-error')}`);
  } else {
    output.err(`${prefix}: ${first}`);
    for (const line of more) output.err(line);
    output.err(BUG_REPORT);
  }
  if (debug) {
    output.err(printableLines(error instanceof Error ? (error.stack ?? message) : message));
    for (const cause of causeChain(error)) {
      output.err(`caused by: ${printableLines(cause instanceof Error ? (cause.stack ?? cause.message) : String(cause))}`);
    }
  }
  return exitCode;
}

async function generalHelp(): Promise<string> {
  const commands = await loadCommands();
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    'dmarcops: DMARC as code. Policies in domains/*.yaml, records in DNS, reports in Parquet.',
    '',
    'usage: dmarcops <command> [options]',
    '',
    'commands:',
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Every command takes --help, and --debug (print the stack and causes of an error). Exit codes: 0 ok,',
    '1 findings or errors, 2 usage error. Colours are off when NO_COLOR is set or output is not a terminal.',
    '`dmarcops help <command>` is `dmarcops <command> --help`; docs/cli.md has them all.',
  ].join('\n');
}

/**
 * An error message for the terminal. Messages quote file names, YAML values and server replies, and
 * some (the site's budget report) span lines on purpose: each line goes through `printable`, so no
 * line can start a workflow command or carry a control character.
 */
function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}
