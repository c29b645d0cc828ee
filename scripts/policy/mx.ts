/**
 * A domain's MX records, for `validate --live-dns`: does the MTA-STS policy name every MX host that
 * receives its mail (RFC 8461 §4.1)? DNS is reached only through an injected `MxResolver`, as in
 * orgdomain.ts, so the rules run offline in tests; `nodeMxResolver` is the real one.
 */
import { Resolver } from 'node:dns/promises';
import { mxMatches } from './mtasts.ts';
import { normaliseName } from '../lib/dns-name.ts';
import { lookupFailure } from './orgdomain.ts';

/** What an MX query returned; `exchanges` are host names, lower case, without the trailing dot. */
export type MxLookup =
  | { status: 'found'; exchanges: string[] }
  | { status: 'nxdomain' }
  | { status: 'nodata' }
  | { status: 'error'; code: string; message: string };

export type MxResolver = (domain: string) => Promise<MxLookup>;

/** An `MxResolver` over node:dns (c-ares); `servers` overrides the system resolvers (`['127.0.0.1:5353']`). */
export function nodeMxResolver(servers?: string[]): MxResolver {
  const resolver = new Resolver({ timeout: 5000, tries: 2 });
  if (servers !== undefined && servers.length > 0) resolver.setServers(servers);
  return async (domain) => {
    try {
      const records = await resolver.resolveMx(domain);
      const exchanges = records.sort((a, b) => a.priority - b.priority).map((record) => normaliseName(record.exchange));
      return exchanges.length > 0 ? { status: 'found', exchanges } : { status: 'nodata' };
    } catch (error) {
      return lookupFailure(error);
    }
  };
}

/** The MX hosts no pattern matches, and the patterns that match no MX host. */
export interface MxCoverage {
  unmatchedHosts: string[];
  unusedPatterns: string[];
  /** RFC 7505 null MX (a single `.`): the domain accepts no mail at all. */
  nullMx: boolean;
}

export function mxCoverage(patterns: readonly string[], exchanges: readonly string[]): MxCoverage {
  const hosts = exchanges.filter((host) => host !== '');
  return {
    unmatchedHosts: hosts.filter((host) => !patterns.some((pattern) => mxMatches(host, pattern))),
    unusedPatterns: patterns.filter((pattern) => !hosts.some((host) => mxMatches(host, pattern))),
    nullMx: exchanges.length === 1 && exchanges[0] === '',
  };
}
