/**
 * An in-memory DnsProvider for unit tests and the plan benchmark. It implements the contract the
 * real providers must keep (scripts/dns/types.ts):
 *
 * - `listTxt(zone, names)`: the TXT records at exactly those names, one call per zone;
 * - `applyZone(zone, changes, current)`: per change, remove the records at the name whose values are
 *   in `before` (one record per listed value), add `after` with `ttlAfter`, keep every other record
 *   at the name (TXT that is not ours). All or nothing per zone: a `before` value no longer present
 *   (someone changed DNS since the listing) fails the whole zone and writes nothing.
 */
import type { DnsProviderName } from '../../scripts/policy/model.ts';
import type { DnsProvider, RecordChange, TxtRecord } from '../../scripts/dns/types.ts';

export interface FakeProviderOptions {
  /** Added to every call, to measure concurrency (bench, not assertions). */
  latencyMs?: number;
  /** Makes applyZone fail for a zone with this error. */
  failApply?: (zone: string) => Error | undefined;
  /** Accept writes but keep nothing (a provider that silently drops changes). */
  dropWrites?: boolean;
}

export class FakeProvider implements DnsProvider {
  readonly name: DnsProviderName;
  readonly zones = new Map<string, TxtRecord[]>();
  readonly listCalls: { zone: string; names: string[] }[] = [];
  readonly applyCalls: { zone: string; changes: RecordChange[]; current: TxtRecord[] }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private readonly options: FakeProviderOptions;
  private nextId = 1;

  constructor(name: DnsProviderName, zones: Record<string, Omit<TxtRecord, 'id'>[]> = {}, options: FakeProviderOptions = {}) {
    this.name = name;
    this.options = options;
    for (const [zone, records] of Object.entries(zones))
      this.zones.set(
        zone,
        records.map((record) => this.withId(record)),
      );
  }

  /** Adds a record (creating the zone), as someone editing DNS by hand would. */
  add(zone: string, record: Omit<TxtRecord, 'id'>): void {
    const records = this.zones.get(zone) ?? [];
    records.push(this.withId(record));
    this.zones.set(zone, records);
  }

  /** Values at a name, sorted. */
  values(zone: string, name: string): string[] {
    return (this.zones.get(zone) ?? [])
      .filter((record) => record.name === name)
      .map((record) => record.value)
      .sort();
  }

  async listTxt(zone: string, names: readonly string[]): Promise<TxtRecord[]> {
    return this.call(async () => {
      this.listCalls.push({ zone, names: [...names] });
      const records = this.zones.get(zone);
      if (records === undefined) throw new Error(`zone ${zone} not found`);
      const wanted = new Set(names);
      return records.filter((record) => wanted.has(record.name)).map((record) => ({ ...record }));
    });
  }

  async applyZone(zone: string, changes: readonly RecordChange[], current: readonly TxtRecord[]): Promise<void> {
    return this.call(async () => {
      this.applyCalls.push({ zone, changes: structuredClone([...changes]), current: structuredClone([...current]) });
      const failure = this.options.failApply?.(zone);
      if (failure !== undefined) throw failure;
      const records = this.zones.get(zone);
      if (records === undefined) throw new Error(`zone ${zone} not found`);
      const next = records.map((record) => ({ ...record }));
      for (const change of changes) {
        if (change.zone !== zone) throw new Error(`change for zone ${change.zone} sent to zone ${zone}`);
        for (const value of change.before ?? []) {
          const at = next.findIndex((record) => record.name === change.name && record.value === value);
          if (at < 0) throw new Error(`${change.name}: ${JSON.stringify(value)} is no longer there (DNS changed since the plan)`);
          next.splice(at, 1);
        }
        for (const value of change.after ?? []) next.push(this.withId({ name: change.name, ttl: change.ttlAfter ?? 3600, value }));
      }
      if (!this.options.dropWrites) this.zones.set(zone, next);
    });
  }

  private withId(record: Omit<TxtRecord, 'id'>): TxtRecord {
    return { ...record, id: `rec-${this.nextId++}` };
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.options.latencyMs) await new Promise((resolve) => setTimeout(resolve, this.options.latencyMs));
      return await fn();
    } finally {
      this.inFlight--;
    }
  }
}

/** A resolver over fake providers, by name; unknown names throw like a missing provider module. */
export function fakeResolver(...providers: FakeProvider[]) {
  const byName = new Map(providers.map((provider) => [provider.name, provider]));
  return async (name: DnsProviderName): Promise<DnsProvider> => {
    const provider = byName.get(name);
    if (provider === undefined) throw new Error(`no fake provider ${name}`);
    return provider;
  };
}
