import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEFAULTS_FILE_NAME, loadDomainTexts } from '../policy/load.ts';
import type { DomainFileSpec } from '../policy/load.ts';
import { scaffoldDomainFile } from '../policy/scaffold.ts';
import { printable } from '../lib/escape.ts';
import type { Command } from './command.ts';
import { DmarcopsError, usageError } from '../lib/errors.ts';
import { DOMAINS_OPTION, EXIT } from './command.ts';

export const newCommand: Command = {
  name: 'new',
  summary: 'scaffold a commented domain file (never overwrites)',
  arguments: [{ name: 'domain', description: 'the domain, as in DNS (example.com)' }],
  description: [
    'Writes <dir>/<domain>.yaml with the keys to decide on and the defaults shown as comments, creating the folder when it does not exist yet.',
  ],
  options: [DOMAINS_OPTION],
  examples: [{ command: 'dmarcops new example.com' }],
  exit: { 0: 'written', 1: 'the file exists or the domain is invalid' },
  async run(values, positionals, { output }) {
    if (positionals.length !== 1) throw usageError('give exactly one domain, e.g. `dmarcops new example.com`');
    const domain = (positionals[0] ?? '').toLowerCase().replace(/\.$/, '');
    const dir = String(values.domains);
    const defaultsText = await readFile(join(dir, DEFAULTS_FILE_NAME), 'utf8').catch(() => undefined);
    const defaults = (defaultsText ? parse(defaultsText) : {}) as DomainFileSpec;
    const file = join(dir, `${domain}.yaml`);
    const text = scaffoldDomainFile(domain, defaults ?? {});
    // Check the scaffold before writing it: a bad domain name is caught here, not by the next validate.
    const check = loadDomainTexts(
      [{ file, text }],
      defaultsText === undefined ? undefined : { file: join(dir, DEFAULTS_FILE_NAME), text: defaultsText },
    );
    const errors = check.findings.filter((finding) => finding.severity === 'error' && finding.file === file);
    if (errors.length > 0)
      throw new DmarcopsError('domain-name-invalid', `cannot create ${file}: ${errors.map((finding) => finding.message).join('; ')}`);
    // A new repository may not have its domains folder yet: make it (and say so), rather than fail.
    const madeFolder = await mkdir(dir, { recursive: true });
    if (madeFolder !== undefined) output.out(`created the folder ${printable(dir)}`);
    try {
      await writeFile(file, text, { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST')
        throw new DmarcopsError('domain-file-exists', `${file} already exists; dmarcops new never overwrites a domain file`, {
          location: { file },
        });
      throw error;
    }
    output.out(`created ${printable(file)}`);
    return EXIT.ok;
  },
};
