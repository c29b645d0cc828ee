/**
 * Providers by name. Each lives in its own module, loaded only when a domain file names it, and reads
 * its credentials from the environment only (CLOUDFLARE_API_TOKEN, CLOUDFLARE_BASE_URL, PDNS_API_URL,
 * PDNS_API_KEY, DMARCOPS_RFC2136_SERVER, DMARCOPS_RFC2136_KEY_*, …).
 *
 * A provider module exports `providerFromEnv(env): DnsProvider | Promise<DnsProvider>`, which reads its
 * settings from `env` and throws a sentence naming the missing variable.
 */
import { DmarcopsError } from '../../lib/errors.ts';
import type { DnsProviderName } from '../../policy/model.ts';
import type { ProviderResolver } from '../plan.ts';
import type { DnsProvider, RecordChange, TxtRecord } from '../types.ts';

const MODULES: Record<Exclude<DnsProviderName, 'manual'>, string> = {
  cloudflare: './cloudflare.ts',
  powerdns: './powerdns.ts',
  rfc2136: './rfc2136.ts',
};

type Factory = (env: NodeJS.ProcessEnv) => DnsProvider | Promise<DnsProvider>;

export async function providerFor(name: DnsProviderName, env: NodeJS.ProcessEnv = process.env): Promise<DnsProvider> {
  if (name === 'manual') return new ManualProvider();
  const specifier = Object.hasOwn(MODULES, name) ? MODULES[name] : undefined;
  if (specifier === undefined)
    throw new DmarcopsError(
      'dns-provider-unknown',
      `unknown DNS provider ${JSON.stringify(name)}; use ${[...Object.keys(MODULES), 'manual'].join(', ')} in dns.provider`,
    );
  // A string variable, not a literal: the module is loaded only when used, and this file compiles
  // whether or not the provider modules exist.
  let module: Record<string, unknown>;
  try {
    module = (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`cannot load the ${name} provider (${specifier}): ${(error as Error).message}`, { cause: error });
  }
  const factory = module.providerFromEnv;
  if (typeof factory !== 'function') throw new Error(`the ${name} provider module (${specifier}) does not export providerFromEnv(env)`);
  return (factory as Factory)(env);
}

/** One instance per provider name for a whole run (clients, zone-id caches), created on first use. */
export function providerResolver(env: NodeJS.ProcessEnv = process.env, load: typeof providerFor = providerFor): ProviderResolver {
  const instances = new Map<DnsProviderName, Promise<DnsProvider>>();
  return (name) => {
    let instance = instances.get(name);
    if (instance === undefined) {
      instance = load(name, env);
      instances.set(name, instance);
    }
    return instance;
  };
}

/**
 * `dns.provider: manual`: dmarcops only prints the records (`dmarcops record`) and someone publishes
 * them by hand. The planner never reads manual zones (their records become notices); if called anyway
 * this lists nothing and refuses to write.
 */
export class ManualProvider implements DnsProvider {
  readonly name = 'manual' as const;

  async listTxt(_zone: string, _names: readonly string[]): Promise<TxtRecord[]> {
    return [];
  }

  async applyZone(zone: string, changes: readonly RecordChange[], _current: readonly TxtRecord[]): Promise<void> {
    throw new DmarcopsError(
      'dns-manual-zone',
      `zone ${zone} uses the manual provider: publish ${changes.map((change) => change.name).join(', ')} by hand (dmarcops record)`,
    );
  }
}
