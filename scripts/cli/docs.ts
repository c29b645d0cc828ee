import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { LINT_RULES, SCHEMA_RULES } from '../policy/lint.ts';
import type { Command } from './command.ts';
import { EXIT } from './command.ts';
import { loadCommands } from './commands.ts';
import { errorsMarkdown } from './errors.ts';
import { cliMarkdown, commandTable } from './reference.ts';
import { rulesMarkdown } from './rules.ts';

/** The repository root: the docs belong to this copy of dmarcops, wherever the command runs from. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface GeneratedFile {
  /** Relative to the repository root. */
  path: string;
  /** What the generator makes of the file's current text. */
  render(current: string): string;
}

/** Replaces what lies between `<!-- name:start -->` and `<!-- name:end -->`; throws when the markers are missing. */
export function replaceBlock(text: string, name: string, content: string, file: string): string {
  const pattern = new RegExp(`(<!-- ${name}:start -->)[\\s\\S]*?(<!-- ${name}:end -->)`);
  if (!pattern.test(text)) throw new Error(`${file} has no <!-- ${name}:start --> … <!-- ${name}:end --> markers`);
  return text.replace(pattern, (_match, start: string, end: string) => `${start}\n${content}\n${end}`);
}

/** Every generated file or block: the reference of the commands, the error catalogue, the README's tables. */
export async function generatedFiles(): Promise<GeneratedFile[]> {
  const commands = await loadCommands();
  return [
    { path: 'docs/cli.md', render: () => `${cliMarkdown(commands).trimEnd()}\n` },
    { path: 'docs/errors.md', render: () => `${errorsMarkdown().trimEnd()}\n` },
    {
      path: 'README.md',
      render: (current) => {
        const withCommands = replaceBlock(current, 'commands', commandTable(commands), 'README.md');
        return replaceBlock(withCommands, 'rules', rulesMarkdown([...SCHEMA_RULES, ...LINT_RULES]), 'README.md');
      },
    },
  ];
}

export const docsCommand: Command = {
  name: 'docs',
  summary: "regenerate docs/cli.md, docs/errors.md and the README's command and rule tables from the code (for contributors)",
  description: [
    "The command reference comes from each command's table in scripts/cli/, the error reference from scripts/lib/error-catalogue.ts, the rule table " +
      'from the lint rules. Run it after changing any of them (`npm run docs`); the tests fail while a generated file is out of date.',
  ],
  options: [
    { name: 'check', type: 'boolean', default: false, description: 'write nothing; exit 1 and name the files that are out of date' },
  ],
  exit: { 0: 'written, or up to date', 1: 'out of date (with --check)' },
  async run(values, _positionals, { output }) {
    const stale: string[] = [];
    for (const file of await generatedFiles()) {
      const path = `${ROOT}${file.path}`;
      const current = await readFile(path, 'utf8').catch(() => '');
      const next = file.render(current);
      if (next === current) continue;
      stale.push(file.path);
      if (values.check !== true) await writeFile(path, next);
    }
    if (values.check === true) {
      for (const path of stale) output.out(`${path} is out of date: run \`npm run docs\``);
      if (stale.length === 0) output.out('generated docs are up to date');
      return stale.length === 0 ? EXIT.ok : EXIT.findings;
    }
    output.out(stale.length === 0 ? 'generated docs are up to date' : `wrote ${stale.join(', ')}`);
    return EXIT.ok;
  },
};
