/**
 * Plan benchmark: 1,000 domains across 100 zones, every read paying 50 ms of added latency, and the
 * wall time of `makePlan` printed (target ≤ 10 s). Policies are built in memory; every domain reports
 * to one central mailbox, so the central zone also holds ~900 report authorisations.
 *
 *   node bench/dns/plan.ts [--provider fake|cloudflare] [--latency 50] [--zones 100] [--per-zone 10] [--concurrency 16]
 *
 * `fake` (default while scripts/dns/providers/cloudflare.ts does not exist): the in-memory test
 * provider, 50 ms per listTxt call. `cloudflare`: the Cloudflare provider against the local
 * Cloudflare-compatible sandbox over HTTP, 50 ms added to every request (zone lookups and pages too).
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { makePlan, planCounts } from '../../scripts/dns/plan.ts';
import type { ProviderResolver } from '../../scripts/dns/plan.ts';
import type { DomainPolicy, ManagedRecord } from '../../scripts/policy/model.ts';
import { managedRecords } from '../../scripts/policy/record.ts';
import { FakeProvider, fakeResolver } from '../../test/dns/fake-provider.ts';

const cloudflareExists = existsSync(new URL('../../scripts/dns/providers/cloudflare.ts', import.meta.url));
const { values } = parseArgs({
  options: {
    provider: { type: 'string', default: cloudflareExists ? 'cloudflare' : 'fake' },
    latency: { type: 'string', default: '50' },
    zones: { type: 'string', default: '100' },
    'per-zone': { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '16' },
  },
});
const latencyMs = Number(values.latency);
const zoneCount = Number(values.zones);
const perZone = Number(values['per-zone']);
const concurrency = Number(values.concurrency);

// ------------------------------------------------------------------------------------------------
// The fleet

const zones = Array.from({ length: zoneCount }, (_, index) => `zone${String(index).padStart(3, '0')}.example`);
const central = zones[0] ?? 'zone000.example';
const policies: DomainPolicy[] = zones.flatMap((zone) =>
  Array.from(
    { length: perZone },
    (_, index): DomainPolicy => ({
      domain: index === 0 ? zone : `s${index}.${zone}`,
      p: index % 3 === 0 ? 'reject' : 'quarantine',
      adkim: 'r',
      aspf: 'r',
      testing: false,
      rua: [{ uri: `mailto:dmarc@${central}` }],
      dns: { provider: 'cloudflare', zone, ttl: 3600 },
      owners: [],
      senders: [],
      file: `domains/${index === 0 ? zone : `s${index}.${zone}`}.yaml`,
    }),
  ),
);
const desired = managedRecords(policies);

/** Today's DNS: half the records right, a quarter stale (p=none), a quarter missing. */
function currentState(records: readonly ManagedRecord[]): Map<string, { name: string; ttl: number; value: string }[]> {
  const state = new Map<string, { name: string; ttl: number; value: string }[]>(zones.map((zone) => [zone, []]));
  records.forEach((record, index) => {
    if (index % 4 === 3) return;
    const value = index % 4 === 2 ? 'v=DMARC1; p=none' : (record.values[0] ?? '');
    state.get(record.zone)?.push({ name: record.name, ttl: record.ttl, value });
  });
  return state;
}

// ------------------------------------------------------------------------------------------------
// Providers

async function setUp(): Promise<{ resolve: ProviderResolver; requests: () => number; stop: () => Promise<void> }> {
  const state = currentState(desired);
  if (values.provider === 'fake') {
    const provider = new FakeProvider('cloudflare', Object.fromEntries(state), { latencyMs });
    return { resolve: fakeResolver(provider), requests: () => provider.listCalls.length, stop: async () => undefined };
  }
  const { startCloudflareSandbox } = await import('../../scripts/dns/sandbox/cloudflare-api.ts');
  const { providerFor } = await import('../../scripts/dns/providers/index.ts');
  const sandbox = await startCloudflareSandbox({
    latencyMs,
    zones: [...state.entries()].map(([name, records]) => ({
      name,
      records: records.map((record) => ({ type: 'TXT', name: record.name, content: JSON.stringify(record.value), ttl: record.ttl })),
    })),
  });
  const env = { CLOUDFLARE_API_TOKEN: sandbox.token, CLOUDFLARE_BASE_URL: sandbox.baseURL };
  const provider = await providerFor('cloudflare', env);
  return { resolve: async () => provider, requests: () => sandbox.requests.length, stop: () => sandbox.stop() };
}

const { resolve, requests, stop } = await setUp();
try {
  const started = performance.now();
  const { plan } = await makePlan(desired, resolve, { concurrency });
  const seconds = (performance.now() - started) / 1000;
  const counts = planCounts(plan);
  const names = plan.zones.reduce((sum, zone) => sum + zone.names, 0);
  console.log(
    `provider ${values.provider}, ${latencyMs} ms added per ${values.provider === 'fake' ? 'listing' : 'request'}, concurrency ${concurrency}`,
  );
  console.log(
    `${policies.length} domains, ${desired.length} managed records, ${plan.zones.length} zones, ${names} ` +
      `names read in ${requests()} ${values.provider === 'fake' ? 'listings' : 'HTTP requests'}`,
  );
  console.log(`plan: ${counts.create} to create, ${counts.update} to update, ${counts.delete} to delete`);
  console.log(`wall time: ${seconds.toFixed(2)} s (target ≤ 10 s) ${seconds <= 10 ? 'OK' : 'TOO SLOW'}`);
} finally {
  await stop();
}
