/**
 * The text of a new domain file: the keys a person has to decide on, with the defaults that would
 * otherwise apply shown as comments, so the file explains itself.
 */
import { getDomain } from 'tldts';
import type { DomainFileSpec } from './load.ts';
import { DOMAIN_SCHEMA_PATH } from './schema.ts';

export function scaffoldDomainFile(domain: string, defaults: DomainFileSpec, schemaRelativePath = `../${DOMAIN_SCHEMA_PATH}`): string {
  const organizational = getDomain(domain, { allowPrivateDomains: false }) ?? domain;
  const fromDefaults = (value: unknown, fallback: string) =>
    value === undefined ? `${fallback}  # built-in default` : `${String(value)}  # as in _defaults.yaml`;
  const lines = [
    `# yaml-language-server: $schema=${schemaRelativePath}`,
    '#',
    `# DMARC policy for ${domain}. Keys left out come from domains/_defaults.yaml.`,
    `# Check with \`npx dmarcops validate\`; see the published record with \`npx dmarcops record ${domain}\`.`,
    '',
    '# What receivers do with mail that fails DMARC: start at none, watch the dashboard, then',
    '# quarantine, then reject once your own services pass.',
    `policy: ${defaults.policy ?? 'none'}`,
    '# subdomain_policy: reject            # names under this domain without a record of their own (sp)',
    '# nonexistent_subdomain_policy: reject  # names that do not exist in DNS (np)',
    '# testing: true                       # RFC 9989 t=y: receivers apply one step less while you watch',
    '',
    '# Mailboxes for aggregate reports (rua). dmarcops fetches these to build the dashboard.',
    'reports:',
    `  - dmarc-reports@${organizational}`,
    '',
    'dns:',
    `  zone: ${organizational}`,
    `  # provider: ${fromDefaults(defaults.dns?.provider, 'manual')}`,
    `  # ttl: ${fromDefaults(defaults.dns?.ttl, '3600')}`,
    '',
    `# Who approves changes to this file (GitHub users or teams).${defaults.owners ? ` Default: ${defaults.owners.join(', ')}` : ''}`,
    '# owners:',
    '#   - "@your-org/mail-admins"',
    '',
    '# The services that legitimately send mail as this domain. The dashboard uses them to tell',
    '# your own failing services (to fix) from spoofing (to block).',
    'senders: []',
    '#  - name: Google Workspace',
    '#    type: email provider',
    '#    spf_includes: [_spf.google.com]',
    '#    dkim:',
    `#      - domain: ${domain}`,
    '#        selector: google',
    '',
  ];
  return lines.join('\n');
}
