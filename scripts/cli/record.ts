import { recordsForDomain, renderZoneLines } from '../policy/records.ts';
import type { Command } from './command.ts';
import { catalogueError } from '../lib/errors.ts';
import { DOMAINS_OPTION, EXIT, JSON_OPTION, withDescription } from './command.ts';
import { loadValidDomains } from './load-valid.ts';

export const recordCommand: Command = {
  name: 'record',
  summary: 'print the DNS records dmarcops publishes for a domain (zone-file lines or JSON)',
  arguments: [{ name: 'domain…', optional: true, description: 'the domains to print (default: every domain)' }],
  description: [
    'Prints _dmarc.<domain> TXT and the external report authorisation records (<domain>._report._dmarc.<host>) for each domain named, or for every domain. ' +
      'Records over 255 octets are split into several character-strings.',
  ],
  options: [
    DOMAINS_OPTION,
    withDescription(JSON_OPTION, 'the records as data: zone, name, type, ttl, values, characterStrings, provider, purpose'),
  ],
  examples: [{ command: 'dmarcops record example.com' }],
  exit: { 0: 'ok', 1: 'unknown domain or invalid files' },
  async run(values, names, { output }) {
    const { domains } = await loadValidDomains(String(values.domains), output);
    const policies = domains.map((domain) => domain.policy);
    const wanted =
      names.length === 0
        ? policies
        : names.map((name) => {
            const match = policies.find((policy) => policy.domain === name.toLowerCase().replace(/\.$/, ''));
            if (!match) throw catalogueError('domain-not-found', { name, dir: String(values.domains) });
            return match;
          });
    const results = wanted.map((policy) => recordsForDomain(policy, policies));
    if (values.json) output.out(JSON.stringify(names.length === 1 ? results[0] : results, null, 2));
    else output.out(results.map(renderZoneLines).join('\n\n'));
    return EXIT.ok;
  },
};
