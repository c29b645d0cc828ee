import type { DomainPolicy } from '../../scripts/policy/model.ts';

/** A valid DomainPolicy with RFC defaults, for tests that need one without a YAML file. */
export function makePolicy(domain: string, overrides: Partial<DomainPolicy> = {}): DomainPolicy {
  return {
    domain,
    p: 'reject',
    adkim: 'r',
    aspf: 'r',
    testing: false,
    rua: [],
    dns: { provider: 'cloudflare', zone: domain, ttl: 3600 },
    owners: [],
    senders: [],
    file: `domains/${domain}.yaml`,
    ...overrides,
  };
}
