import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { checkCodeowners, renderCodeowners } from '../policy/codeowners.ts';
import type { Command } from './command.ts';
import { DOMAINS_OPTION, EXIT } from './command.ts';
import { loadValidDomains } from './load-valid.ts';

export const codeownersCommand: Command = {
  name: 'codeowners',
  summary: 'write .github/CODEOWNERS from the owners: of each domain file (--check: fail if out of date)',
  usage: 'dmarcops codeowners [--check] [--output <file>] [--domains <dir>]',
  help: [
    'Report viewers may read the repository; only the owners named in a domain file may approve changes to it.',
    'GitHub enforces that through CODEOWNERS and branch protection ("Require review from Code Owners").',
    'The defaults file is owned by the owners listed in domains/_defaults.yaml.',
    '',
    'options:',
    '  --check          do not write; exit 1 and show the difference when the file is out of date',
    '  --output <file>  where CODEOWNERS lives (default: .github/CODEOWNERS)',
    '  --domains <dir>  folder of domain files (default: domains)',
    '',
    'exit: 0 written or up to date, 1 out of date (with --check) or invalid files, 2 usage error',
  ].join('\n'),
  options: { ...DOMAINS_OPTION, check: { type: 'boolean', default: false }, output: { type: 'string', default: '.github/CODEOWNERS' } },
  allowPositionals: false,
  async run(values, _positionals, { output }) {
    const dir = String(values.domains);
    const file = String(values.output);
    const { domains, defaultOwners } = await loadOwners(dir, output);
    const expected = renderCodeowners(domains, { defaultOwners });
    const actual = await readFile(file, 'utf8').catch(() => null);
    const { upToDate, diff } = checkCodeowners(expected, actual);
    if (values.check) {
      if (upToDate) {
        output.out(`${file} is up to date`);
        return EXIT.ok;
      }
      output.out(`${file} is out of date; run \`npx dmarcops codeowners\` and commit the result:`);
      output.out(diff);
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

async function loadOwners(dir: string, output: Parameters<typeof loadValidDomains>[1]) {
  const { domains } = await loadValidDomains(dir, output);
  const { parse } = await import('yaml');
  const defaultsText = await readFile(`${dir}/_defaults.yaml`, 'utf8').catch(() => '');
  const defaultOwners = ((parse(defaultsText) ?? {}) as { owners?: string[] }).owners ?? [];
  return { domains: domains.map((domain) => domain.policy), defaultOwners };
}
