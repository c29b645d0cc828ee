import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CODEOWNERS_FILE, checkCodeowners, renderCodeowners, requiredCodeownersLines } from '../policy/codeowners.ts';
import { DEFAULTS_FILE_NAME } from '../policy/load.ts';
import { printable } from '../lib/escape.ts';
import type { Command } from './command.ts';
import { catalogueError } from '../lib/errors.ts';
import { DOMAINS_OPTION, EXIT } from './command.ts';
import { loadValidDomains } from './load-valid.ts';

export const codeownersCommand: Command = {
  name: 'codeowners',
  summary: 'write .github/CODEOWNERS from admins: and the owners: of each domain file (--check: fail if out of date)',
  description: [
    'Report viewers may read the repository; only the owners named in a domain file may approve changes to it, ' +
      'and only the admins (admins: in domains/_defaults.yaml) may approve anything else: new files, .github/, ' +
      'scripts/, bin/, site/, package.json and the lockfile, the defaults file and CODEOWNERS itself. ' +
      'GitHub enforces that through CODEOWNERS and branch protection ("Require review from Code Owners"); docs/roles.md lists the settings.',
  ],
  options: [
    {
      name: 'check',
      type: 'boolean',
      default: false,
      description: 'do not write; exit 1 and show what is missing and the difference when the file is out of date',
    },
    { name: 'output', type: 'string', value: 'file', default: CODEOWNERS_FILE, description: 'where CODEOWNERS lives' },
    DOMAINS_OPTION,
  ],
  exit: { 0: 'written or up to date', 1: 'out of date (with --check), invalid files or no admins' },
  async run(values, _positionals, { output }) {
    const dir = String(values.domains);
    const file = String(values.output);
    const { domains, defaults } = await loadValidDomains(dir, output);
    const admins = defaults.admins ?? [];
    if (admins.length === 0) {
      throw catalogueError('admins-missing', { file: join(dir, DEFAULTS_FILE_NAME) });
    }
    const expected = renderCodeowners(
      domains.map((domain) => domain.policy),
      { admins },
    );
    const actual = await readFile(file, 'utf8').catch(() => null);
    const { upToDate, diff, missing } = checkCodeowners(expected, actual, requiredCodeownersLines(admins));
    if (values.check) {
      if (upToDate) {
        output.out(`${file} is up to date`);
        return EXIT.ok;
      }
      output.out(`${file} is ${actual === null ? 'missing' : 'out of date'}; run \`npx dmarcops codeowners\` and commit the result.`);
      if (missing.length > 0) {
        output.out("It lacks these lines, without which a change there needs no admin's approval:");
        for (const line of missing)
          output.out(`  ${printable(line)}${line.startsWith('* ') ? '   (the catch-all: new files and everything not named)' : ''}`);
      }
      output.out('Difference (- in the file, + expected):');
      for (const line of diff.split('\n')) output.out(printable(line));
      return EXIT.findings;
    }
    if (!upToDate) {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, expected);
    }
    output.out(upToDate ? `${file} is up to date` : `wrote ${file}`);
    return EXIT.ok;
  },
};
