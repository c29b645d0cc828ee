/**
 * The dmarcops command line: the only place that knows about flags, TTYs and exit codes.
 * Each command lives in scripts/cli/<name>.ts and is loaded only when it runs.
 */
import { parseArgs } from 'node:util';
import type { Command, CommandContext } from './cli/command.ts';
import { CliError, EXIT } from './cli/command.ts';
import { createOutput } from './cli/output.ts';
import type { Output } from './cli/output.ts';
import { BUG_REPORT, errorHint } from './lib/error-catalogue.ts';
import { causeChain, DmarcopsError, formatLocation, isSystemError } from './lib/errors.ts';
import { printable } from './printable.ts';

const COMMANDS: Record<string, () => Promise<Command>> = {
  validate: async () => (await import('./cli/validate.ts')).validateCommand,
  new: async () => (await import('./cli/new.ts')).newCommand,
  record: async () => (await import('./cli/record.ts')).recordCommand,
  codeowners: async () => (await import('./cli/codeowners.ts')).codeownersCommand,
  'check-record': async () => (await import('./cli/check-record.ts')).checkRecordCommand,
  rules: async () => (await import('./cli/rules.ts')).rulesCommand,
  ingest: async () => (await import('./cli/ingest.ts')).ingestCommand,
  fetch: async () => (await import('./cli/fetch.ts')).fetchCommand,
  ledger: async () => (await import('./cli/ledger.ts')).ledgerCommand,
  compact: async () => (await import('./cli/compact.ts')).compactCommand,
  'migrate-quarantine': async () => (await import('./cli/migrate-quarantine.ts')).migrateQuarantineCommand,
  plan: async () => (await import('./cli/plan.ts')).planCommand,
  apply: async () => (await import('./cli/apply.ts')).applyCommand,
  comment: async () => (await import('./cli/comment.ts')).commentCommand,
  sandbox: async () => (await import('./cli/sandbox.ts')).sandboxCommand,
  site: async () => (await import('./cli/site.ts')).siteCommand,
  'mta-sts': async () => (await import('./cli/mta-sts.ts')).mtaStsCommand,
};

export async function main(argv: string[], output: Output = createOutput(), env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<number> {
  const { rest, debug: debugFlag } = takeDebugFlag(argv);
  const debug = debugFlag || Boolean(env.DMARCOPS_DEBUG);
  const [name, ...args] = rest;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' ? args[0] : undefined;
    if (target) return main([target, '--help'], output, env, cwd);
    output.out(await generalHelp());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    output.out(process.env.npm_package_version ?? '0.1.0');
    return EXIT.ok;
  }
  const load = COMMANDS[name];
  if (!load) {
    output.err(`dmarcops: unknown command \`${printable(name)}\`. Run \`dmarcops --help\` for the list.`);
    return EXIT.usage;
  }
  const command = await load();
  if (args.includes('--help') || args.includes('-h')) {
    output.out(commandHelp(command));
    return EXIT.ok;
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options: command.options, allowPositionals: command.allowPositionals, strict: true });
  } catch (error) {
    output.err(`dmarcops ${command.name}: ${printableLines((error as Error).message)}`);
    output.err(`usage: ${command.usage}`);
    return EXIT.usage;
  }
  const context: CommandContext = { args, output, env, cwd };
  try {
    return await command.run(parsed.values, parsed.positionals, context);
  } catch (error) {
    return reportError(error, `dmarcops ${command.name}`, output, debug);
  }
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
export function reportError(error: unknown, prefix: string, output: Pick<Output, 'err'>, debug: boolean): number {
  const message = error instanceof Error ? error.message : String(error);
  const [first = '', ...more] = printableLines(message).split('\n');
  let exitCode: number = EXIT.findings;
  if (error instanceof DmarcopsError || error instanceof CliError) {
    const code = error instanceof DmarcopsError ? error.code : undefined;
    output.err(`${prefix}: ${first}${code === undefined ? '' : ` [${code}]`}`);
    for (const line of more) output.err(line);
    const where = error instanceof DmarcopsError ? formatLocation(error.location) : undefined;
    if (where !== undefined && !message.includes(error instanceof DmarcopsError ? (error.location?.file ?? where) : where)) output.err(`  at ${printable(where)}`);
    if (error instanceof DmarcopsError && error.hint !== '') output.err(`hint: ${printableLines(error.hint)}`);
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
  const commands = await Promise.all(Object.values(COMMANDS).map((load) => load()));
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    'dmarcops: DMARC as code. Policies in domains/*.yaml, records in DNS, reports in Parquet.',
    '',
    'usage: dmarcops <command> [options]',
    '',
    'commands:',
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Every command takes --help. Exit codes: 0 ok, 1 findings or errors, 2 usage error.',
    'Colours are off when NO_COLOR is set or output is not a terminal.',
  ].join('\n');
}

function commandHelp(command: Command): string {
  return [`dmarcops ${command.name}: ${command.summary}`, '', `usage: ${command.usage}`, '', command.help].join('\n');
}

/**
 * An error message for the terminal. Messages quote file names, YAML values and server replies, and
 * some (the site's budget report) span lines on purpose: each line goes through `printable`, so no
 * line can start a workflow command or carry a control character.
 */
function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}
