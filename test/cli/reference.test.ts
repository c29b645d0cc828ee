/**
 * The command reference has one source, each command's table: `--help`, docs/cli.md and the README's
 * command table are made from it, and so is what `parseArgs` accepts. These tests prove they agree.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { main, parseCommandLine } from '../../scripts/cli.ts';
import type { Command } from '../../scripts/cli/command.ts';
import { GLOBAL_OPTIONS } from '../../scripts/cli/command.ts';
import { COMMANDS, loadCommands } from '../../scripts/cli/commands.ts';
import { generatedFiles } from '../../scripts/cli/docs.ts';
import {
  cliMarkdown,
  commandMarkdown,
  commandTable,
  optionLabel,
  parseOptions,
  renderHelp,
  tableProblems,
} from '../../scripts/cli/reference.ts';
import { captureOutput } from '../helpers/output.ts';

const commands = await loadCommands();
const cliDoc = readFileSync('docs/cli.md', 'utf8');
const readme = readFileSync('README.md', 'utf8');

describe('one table per command', () => {
  test('docs/cli.md is generated from the tables (regenerate with `npm run docs`)', () => {
    expect(cliDoc).toBe(`${cliMarkdown(commands).trimEnd()}\n`);
  });

  test('the README command table is generated from the tables (regenerate with `npm run docs`)', () => {
    const table = /<!-- commands:start -->\n([\s\S]*?)\n<!-- commands:end -->/.exec(readme)?.[1];
    expect(table, 'README.md lost its commands markers').toBeDefined();
    expect(table).toBe(commandTable(commands));
  });

  test('every generated file is up to date (what `dmarcops docs --check` checks)', async () => {
    for (const file of await generatedFiles()) {
      const current = readFileSync(file.path, 'utf8');
      expect(file.render(current), `${file.path} is out of date: run npm run docs`).toBe(current);
    }
    const output = captureOutput();
    expect(await main(['docs', '--check'], output, {})).toBe(0);
  });

  test.each(Object.keys(COMMANDS))('%s: --help, docs/cli.md and the parser come from its table', async (name) => {
    const command = commands.find((candidate) => candidate.name === name)!;
    expect(tableProblems(command)).toEqual([]);
    const output = captureOutput();
    expect(await main([name, '--help'], output, {})).toBe(0);
    const help = output.text();
    expect(help).toBe(renderHelp(command));
    // The section of docs/cli.md is this command's, as generated, and names every option help names.
    const section = commandMarkdown(command);
    expect(cliDoc).toContain(section);
    expect(Object.keys(parseOptions(command)).sort()).toEqual([...command.options, ...GLOBAL_OPTIONS].map((option) => option.name).sort());
    for (const option of command.options) {
      expect(help, `--help of ${name} lacks --${option.name}`).toContain(optionLabel(option));
      expect(section, `docs/cli.md section of ${name} lacks --${option.name}`).toContain(
        `\`${optionLabel(option).replace(/\|/g, '\\|')}\``,
      );
      // The parser accepts what the table declares.
      const args = [
        ...(command.actions?.length ? [command.actions.find((action) => option.actions?.includes(action.name) ?? true)!.name] : []),
        `--${option.name}`,
        ...(option.type === 'string' ? ['x'] : []),
      ];
      if (option.required !== true) expect(() => parseCommandLine(command, [...args, ...requiredArgs(command, option.name)])).not.toThrow();
    }
    expect(section).toContain(`## dmarcops ${name}`);
    expect(help.split('\n')[0]).toBe(`dmarcops ${name}: ${command.summary}`);
  });

  test('the general help lists every command with its summary, in the order of the table', async () => {
    const output = captureOutput();
    expect(await main(['--help'], output, {})).toBe(0);
    const listed = output.stdout
      .join('\n')
      .split('\n')
      .filter((line) => /^ {2}\S/.test(line))
      .map((line) => line.trim().split(/\s{2,}/));
    expect(listed).toEqual(commands.map((command) => [command.name, command.summary]));
  });

  test('`dmarcops help <command>` is its --help, and `dmarcops help --markdown` is docs/cli.md', async () => {
    const help = captureOutput();
    expect(await main(['help', 'plan'], help, {})).toBe(0);
    expect(help.text()).toBe(renderHelp(commands.find((command) => command.name === 'plan')!));
    const markdown = captureOutput();
    expect(await main(['help', '--markdown'], markdown, {})).toBe(0);
    expect(`${markdown.text()}\n`).toBe(cliDoc);
  });
});

describe('the table decides what the command line may hold', () => {
  test('an unknown option is a usage error that prints the usage lines and the code', async () => {
    const output = captureOutput();
    expect(await main(['ledger', '--nope'], output, {})).toBe(2);
    const stderr = output.stderr.join('\n');
    expect(stderr).toMatch(/^dmarcops ledger: Unknown option '--nope'.* \[usage\]$/m);
    expect(stderr).toMatch(/^usage: dmarcops ledger \[--org <text>\]/m);
    expect(stderr).toMatch(/^hint: `dmarcops ledger --help` lists the options/m);
  });

  test('a required option, an exclusive pair and an option of another action are refused before the command runs', async () => {
    const missing = captureOutput();
    expect(await main(['comment'], missing, {})).toBe(2);
    expect(missing.stderr.join('\n')).toMatch(/--pr <number> is required: the pull request number \[usage\]/);
    const both = captureOutput();
    expect(await main(['site', 'build', '--redact', '--show-addresses'], both, {})).toBe(2);
    expect(both.stderr.join('\n')).toMatch(/--show-addresses and --redact exclude each other: give one/);
    const misplaced = captureOutput();
    expect(await main(['mta-sts', 'build', '--timeout', '5'], misplaced, {})).toBe(2);
    expect(misplaced.stderr.join('\n')).toMatch(/--timeout does not apply to `mta-sts build`/);
  });

  test('a group of three exclusive options refuses any two; a one-of group refuses none and two', async () => {
    const usage = /^usage: dmarcops fetch \[--keep-mail \| --file-only \| --retry-unsupported\]/m;
    for (const [a, b] of [
      ['--keep-mail', '--file-only'],
      ['--file-only', '--retry-unsupported'],
      ['--keep-mail', '--retry-unsupported'],
    ] as const) {
      const output = captureOutput();
      // No IMAP settings: had it got past the table, fetch would fail with exit 1.
      expect(await main(['fetch', a, b], output, {})).toBe(2);
      expect(output.stderr.join('\n')).toMatch(new RegExp(`${a} and ${b} exclude each other: give one \\[usage\\]`));
      expect(output.stderr.join('\n')).toMatch(usage);
    }
    const none = captureOutput();
    expect(await main(['impact'], none, {})).toBe(2);
    expect(none.stderr.join('\n')).toMatch(
      /^dmarcops impact: --base <git-ref> or --base-domains <dir> is required \(one of them\) \[usage\]$/m,
    );
    expect(none.stderr.join('\n')).toMatch(/^usage: dmarcops impact \(--base <git-ref> \| --base-domains <dir>\) \[--domains <dir>\]/m);
    const both = captureOutput();
    expect(await main(['impact', '--base', 'main', '--base-domains', 'domains'], both, {})).toBe(2);
    expect(both.stderr.join('\n')).toMatch(/--base and --base-domains exclude each other: give one \[usage\]/);
  });

  test('an unknown command suggests the nearest one', async () => {
    const output = captureOutput();
    expect(await main(['valdiate'], output, {})).toBe(2);
    expect(output.stderr.join('\n')).toMatch(/^dmarcops: unknown command `valdiate`\. Did you mean `validate`\? \[unknown-command\]$/m);
  });

  test('--debug is accepted by every command, before or after its name', async () => {
    for (const argv of [
      ['--debug', 'rules', '--json'],
      ['rules', '--debug', '--json'],
      ['rules', '--json', '--debug'],
    ]) {
      const output = captureOutput();
      expect(await main(argv, output, {}), argv.join(' ')).toBe(0);
      expect(JSON.parse(output.text())).toBeInstanceOf(Array);
    }
    // After `--` it is an argument, not the flag.
    const output = captureOutput();
    expect(await main(['check-record', '--', '--debug'], output, {})).toBe(1);
  });
});

/** The options a command line must hold besides `tested`: the required ones, and the first choice of each one-of group `tested` is not in. */
function requiredArgs(command: Command, tested: string): string[] {
  const required = command.options.filter((option) => option.required).map((option) => option.name);
  const chosen = (command.oneOf ?? []).filter((group) => !group.includes(tested)).map((group) => group[0]!);
  return [...required, ...chosen].flatMap((name) => {
    const option = command.options.find((candidate) => candidate.name === name)!;
    return option.type === 'string' ? [`--${name}`, '1'] : [`--${name}`];
  });
}
