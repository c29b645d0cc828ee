/**
 * The dmarcops command line: the only place that knows about flags, TTYs and exit codes.
 * Each command lives in scripts/cli/<name>.ts and is loaded only when it runs.
 */
import { parseArgs } from 'node:util';
import type { Command, CommandContext } from './cli/command.ts';
import { CliError, EXIT } from './cli/command.ts';
import { createOutput } from './cli/output.ts';
import type { Output } from './cli/output.ts';
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
  impact: async () => (await import('./cli/impact.ts')).impactCommand,
  sandbox: async () => (await import('./cli/sandbox.ts')).sandboxCommand,
  site: async () => (await import('./cli/site.ts')).siteCommand,
  'mta-sts': async () => (await import('./cli/mta-sts.ts')).mtaStsCommand,
  alerts: async () => (await import('./cli/alerts.ts')).alertsCommand,
  digest: async () => (await import('./cli/digest.ts')).digestCommand,
};

export async function main(argv: string[], output: Output = createOutput(), env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<number> {
  const [name, ...args] = argv;
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
    if (error instanceof CliError) {
      output.err(`dmarcops ${command.name}: ${printableLines(error.message)}`);
      return error.exitCode;
    }
    output.err(`dmarcops ${command.name}: ${printableLines((error as Error).message)}`);
    if (env.DMARCOPS_DEBUG) output.err(printableLines((error as Error).stack ?? ''));
    return EXIT.findings;
  }
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
