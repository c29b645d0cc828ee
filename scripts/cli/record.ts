import { recordsForDomain, renderZoneLines } from '../policy/records.ts';
import type { Command } from './command.ts';
import { CliError, DOMAINS_OPTION, EXIT, JSON_OPTION } from './command.ts';
import { loadValidDomains } from './load-valid.ts';

export const recordCommand: Command = {
  name: 'record',
  summary: 'print the DNS records dmarcops publishes for a domain (zone-file lines or JSON)',
  usage: 'dmarcops record [domain…] [--domains <dir>] [--json]',
  help: [
    'Prints _dmarc.<domain> TXT and the external report authorisation records (<domain>._report._dmarc.<host>)',
    'for each domain named, or for every domain. Records over 255 octets are split into several character-strings.',
    '',
    'options:',
    '  --domains <dir>  folder of domain files (default: domains)',
    '  --json           the records as data: zone, name, type, ttl, values, characterStrings, provider, purpose',
    '',
    'exit: 0 ok, 1 unknown domain or invalid files, 2 usage error',
  ].join('\n'),
  options: { ...DOMAINS_OPTION, ...JSON_OPTION },
  allowPositionals: true,
  async run(values, names, { output }) {
    const { domains } = await loadValidDomains(String(values.domains), output);
    const policies = domains.map((domain) => domain.policy);
    const wanted = names.length === 0 ? policies : names.map((name) => {
      const match = policies.find((policy) => policy.domain === name.toLowerCase().replace(/\.$/, ''));
      if (!match) throw new CliError(`no domain file for ${name} in ${String(values.domains)}; create one with \`dmarcops new ${name}\``);
      return match;
    });
    const results = wanted.map((policy) => recordsForDomain(policy, policies));
    if (values.json) output.out(JSON.stringify(names.length === 1 ? results[0] : results, null, 2));
    else output.out(results.map(renderZoneLines).join('\n\n'));
    return EXIT.ok;
  },
};
