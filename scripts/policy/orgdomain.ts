/**
 * Organizational domains and DMARC policy discovery, both ways receivers do it:
 * - RFC 7489 §3.2: the Public Suffix List (`organizationalDomain` in scripts/lib/dns-name.ts);
 * - RFC 9989 §4.10: the DNS tree walk (`treeWalk`, `discoverPolicy`, `organizationalDomainByTreeWalk`).
 * DNS is reached only through an injected `TxtResolver`, so everything here runs offline in tests.
 * `applicablePolicy` and `compareOrgDomainMethods` answer the same questions over the repository's own
 * policies instead of live DNS, for the linter and the dashboard.
 */
import { Resolver } from 'node:dns/promises';
import { organizationalDomain, parseDomainName, type PslOptions } from '../lib/dns-name.ts';
import type { Disposition, DmarcRecord, DomainPolicy } from './model.ts';
import { parseDmarcRecord } from './record.ts';

// ---------------------------------------------------------------------------------------------
// Names

function labelCount(domain: string): number {
  return domain.split('.').length;
}

/** The rightmost `count` labels of `domain`. */
function lastLabels(domain: string, count: number): string {
  return domain.split('.').slice(-count).join('.');
}

// ---------------------------------------------------------------------------------------------
// DNS access

/** What a TXT query returned. `records` holds each TXT record as its character-strings. */
export type TxtLookup =
  | { status: 'found'; records: string[][] }
  | { status: 'nxdomain' }
  | { status: 'nodata' }
  | { status: 'error'; code: string; message: string };

export type TxtResolver = (name: string) => Promise<TxtLookup>;

/** A `TxtResolver` over node:dns (c-ares); `servers` overrides the system resolvers (`['127.0.0.1:5353']`). */
export function nodeTxtResolver(servers?: string[]): TxtResolver {
  const resolver = new Resolver();
  if (servers !== undefined && servers.length > 0) resolver.setServers(servers);
  return async (name) => {
    try {
      const records = await resolver.resolveTxt(name);
      return records.length > 0 ? { status: 'found', records } : { status: 'nodata' };
    } catch (error) {
      return lookupFailure(error);
    }
  };
}

/** What a failed node:dns query means: c-ares reports NXDOMAIN as ENOTFOUND and an empty NOERROR answer as ENODATA. */
export function lookupFailure(
  error: unknown,
): { status: 'nxdomain' } | { status: 'nodata' } | { status: 'error'; code: string; message: string } {
  const code = (error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
  if (code === 'ENOTFOUND') return { status: 'nxdomain' };
  if (code === 'ENODATA') return { status: 'nodata' };
  return { status: 'error', code, message: error instanceof Error ? error.message : String(error) };
}

// ---------------------------------------------------------------------------------------------
// RFC 9989 §4.10: the DNS tree walk

/** A name the walk looked at, and the one valid DMARC record there (if exactly one). */
interface WalkedName {
  domain: string;
  record: DmarcRecord | null;
}

export interface TreeWalkStep extends WalkedName {
  /** The name queried: `_dmarc.<domain>`. */
  query: string;
  lookup: TxtLookup;
  /** Every TXT value there that starts with `v=DMARC1`, character-strings joined (RFC 7489 §6.1). */
  dmarcTexts: string[];
  outcome: 'record' | 'no-record' | 'duplicates-discarded' | 'dns-error';
  invalidPolicyTags: PolicyTag[];
}

export interface TreeWalkResult {
  start: string;
  steps: TreeWalkStep[];
  /** psd-flag: a record with psd=y|n stopped it; exhausted: the TLD was queried; dns-error: a temporary failure did. */
  end: 'psd-flag' | 'exhausted' | 'dns-error';
}

const MAX_WALK_LABELS = 7;

/**
 * The names a full walk from `start` queries, in order: the start, then (x ≥ 8 labels) a cut to 7
 * labels or (x < 8) the parent, then one label less each time down to the TLD. At most 8 names, so a
 * long Author Domain can't make a receiver send many queries.
 */
export function treeWalkTargets(start: string): string[] {
  const labels = parseDomainName(start).split('.');
  const targets = [labels.join('.')];
  let remaining = labels.length >= MAX_WALK_LABELS + 1 ? labels.slice(-MAX_WALK_LABELS) : labels.slice(1);
  while (remaining.length > 0) {
    targets.push(remaining.join('.'));
    remaining = remaining.slice(1);
  }
  return targets;
}

function isPolicyTag(tag: string | undefined): tag is PolicyTag {
  return tag === 'p' || tag === 'sp' || tag === 'np';
}

function stopsWalk(record: DmarcRecord | null): boolean {
  return record?.psd === 'y' || record?.psd === 'n';
}

function examineAnswer(domain: string, query: string, lookup: TxtLookup): TreeWalkStep {
  const parsed = lookup.status === 'found' ? lookup.records.map((strings) => parseDmarcRecord(strings)) : [];
  const dmarc = parsed.filter((candidate) => candidate.isDmarc);
  // More than one DMARC record at a name: all are discarded, as if there were none.
  const single = dmarc.length === 1 ? dmarc[0] : undefined;
  const outcome =
    lookup.status === 'error' ? 'dns-error' : dmarc.length === 0 ? 'no-record' : dmarc.length > 1 ? 'duplicates-discarded' : 'record';
  const invalidPolicyTags = (single?.problems ?? [])
    .filter(({ code }) => code === 'invalid-value')
    .map(({ tag }) => tag)
    .filter(isPolicyTag);
  const dmarcTexts = dmarc.map(({ text }) => text);
  return { domain, query, lookup, dmarcTexts, outcome, record: single?.record ?? null, invalidPolicyTags };
}

/** Walks from `start`, ending early when `isDone` says so (psd=y|n for the generic walk). */
async function walk(start: string, resolver: TxtResolver, isDone: (step: TreeWalkStep) => boolean): Promise<TreeWalkResult> {
  const steps: TreeWalkStep[] = [];
  for (const domain of treeWalkTargets(start)) {
    const query = `_dmarc.${domain}`;
    const step = examineAnswer(domain, query, await resolver(query));
    steps.push(step);
    // A temporary failure leaves the rest of the tree unknown, so no conclusion above it is safe.
    if (step.outcome === 'dns-error') return { start, steps, end: 'dns-error' };
    if (stopsWalk(step.record)) return { start, steps, end: 'psd-flag' };
    if (isDone(step)) break;
  }
  return { start, steps, end: 'exhausted' };
}

/** The RFC 9989 §4.10 generic DNS tree walk from `domain`: every name queried and what it returned. */
export function treeWalk(domain: string, resolver: TxtResolver): Promise<TreeWalkResult> {
  return walk(parseDomainName(domain), resolver, () => false);
}

export type OrgDomainRule = 'psd-n' | 'psd-y' | 'fewest-labels' | 'start';

/** RFC 9989 §4.10.2 selection over the names a walk from `start` found records at. */
function selectOrganizationalDomain(start: string, walked: WalkedName[]): { organizationalDomain: string; rule: OrgDomainRule } {
  const withRecords = walked.filter((name) => name.record !== null);
  // Longest to shortest, as the walk queried them. Only the last can carry psd=y|n: the walk stops there.
  for (const { domain, record } of withRecords) {
    if (record?.psd === 'n') return { organizationalDomain: domain, rule: 'psd-n' };
    if (record?.psd === 'y' && domain !== start) {
      return { organizationalDomain: lastLabels(start, labelCount(domain) + 1), rule: 'psd-y' };
    }
  }
  const shortest = withRecords.at(-1);
  if (shortest !== undefined) return { organizationalDomain: shortest.domain, rule: 'fewest-labels' };
  return { organizationalDomain: start, rule: 'start' };
}

export interface TreeWalkOrgDomain {
  /** `null` when a DNS error cut the walk short. */
  organizationalDomain: string | null;
  rule: OrgDomainRule | 'dns-error';
  walk: TreeWalkResult;
}

/** RFC 9989 §4.10.2: the organizational domain of `domain`, for relaxed alignment. */
export async function organizationalDomainByTreeWalk(domain: string, resolver: TxtResolver): Promise<TreeWalkOrgDomain> {
  const result = await treeWalk(domain, resolver);
  if (result.end === 'dns-error') return { organizationalDomain: null, rule: 'dns-error', walk: result };
  return { ...selectOrganizationalDomain(result.start, result.steps), walk: result };
}

// ---------------------------------------------------------------------------------------------
// Which tag of a record applies (shared by live discovery and the offline version)

export type PolicyTag = 'p' | 'sp' | 'np';

/**
 * RFC 9989 §4.10.1: the author domain's own record → p. An inherited record (organizational or
 * PSD) → sp when the author domain exists, np when it doesn't; absent tags fall back np → sp → p
 * (RFC 9989 §4.7, from RFC 9091). Existence unknown (`null`) counts as existing: the usual case.
 */
function choosePolicyTag(record: DmarcRecord, inherited: boolean, exists: boolean | null): PolicyTag {
  if (!inherited) return 'p';
  if (exists === false && record.np !== undefined) return 'np';
  return record.sp !== undefined ? 'sp' : 'p';
}

function describeExistence(author: string, exists: boolean | null): string {
  if (exists === true) return `${author} exists`;
  if (exists === false) return `${author} does not exist (NXDOMAIN)`;
  return `${author} is taken to exist (not known otherwise)`;
}

function describeChoice(author: string, tag: PolicyTag, exists: boolean | null): string {
  const existence = describeExistence(author, exists);
  if (exists === false) {
    const missing = tag === 'np' ? '' : tag === 'sp' ? ' and the record has no np' : ' and the record has neither np nor sp';
    return `${existence}${missing}, so ${tag} applies`;
  }
  return `${existence}${tag === 'p' ? ' and the record has no sp' : ''}, so ${tag} applies`;
}

// ---------------------------------------------------------------------------------------------
// RFC 9989 §4.10.1: policy discovery over DNS

export interface PolicyDiscovery {
  authorDomain: string;
  /** applied: a disposition applies; not-applied: DMARC must not be applied; temperror: DNS failed first. */
  outcome: 'applied' | 'not-applied' | 'temperror';
  /** Whose record applies: the author domain's own, its organizational domain's, or its public suffix domain's. */
  source: 'own' | 'organizational' | 'psd' | 'none';
  /** Where the applied record was found (`_dmarc.<policyDomain>`). */
  policyDomain: string | null;
  /** RFC 9989 §4.10.2 result; `null` when the author's own record made the walk unnecessary, or on DNS errors. */
  organizationalDomain: string | null;
  record: DmarcRecord | null;
  tag: PolicyTag | null;
  disposition: Disposition | null;
  /** Only asked when an inherited record applies; `null` when not asked or unknown. */
  authorDomainExists: boolean | null;
  because: string;
  walk: TreeWalkResult;
  /** The extra query that told whether the author domain exists, when one was needed. */
  existenceCheck: { name: string; lookup: TxtLookup } | null;
}

export interface DiscoverOptions {
  /** Whether the author domain exists, when the caller already knows; skips the existence query. */
  exists?: boolean;
}

type ExistenceCheck = PolicyDiscovery['existenceCheck'];

/**
 * RFC 9989 §4.10.1 existence (NXDOMAIN only, RFC 8020). An answer other than NXDOMAIN at
 * `_dmarc.<author>` proves the author name exists (a name's ancestors always exist), so only
 * an NXDOMAIN there costs a query for the author name itself.
 */
async function authorDomainExists(
  author: string,
  firstLookup: TxtLookup,
  resolver: TxtResolver,
): Promise<{ exists: boolean | null; check: ExistenceCheck }> {
  if (firstLookup.status === 'found' || firstLookup.status === 'nodata') return { exists: true, check: null };
  const lookup = await resolver(author);
  const exists = lookup.status === 'nxdomain' ? false : lookup.status === 'error' ? null : true;
  return { exists, check: { name: author, lookup } };
}

interface ApplicableRecord {
  source: 'own' | 'organizational' | 'psd';
  step: TreeWalkStep;
}

/** The author's own record, else the organizational domain's, else the PSD's (RFC 9989 §4.10.1). */
function applicableRecord(author: string, steps: TreeWalkStep[], organizational: string): ApplicableRecord | null {
  const own = steps.find((step) => step.domain === author && step.record !== null);
  if (own !== undefined) return { source: 'own', step: own };
  const atOrganizational = steps.find((step) => step.domain === organizational && step.record !== null);
  if (atOrganizational !== undefined) return { source: 'organizational', step: atOrganizational };
  // Reached only when the organizational domain publishes nothing: a PSD never overrides an OD's record.
  const atPsd = steps.find((step) => step.record?.psd === 'y' && step.domain !== author);
  return atPsd === undefined ? null : { source: 'psd', step: atPsd };
}

function discardedNote(walked: TreeWalkResult): string {
  return walked.steps
    .filter((step) => step.outcome === 'duplicates-discarded')
    .map((step) => ` (${step.dmarcTexts.length} DMARC records at ${step.query} were all discarded)`)
    .join('');
}

/** Which DMARC record applies to mail from `authorDomain`, which of its tags, and why. */
export async function discoverPolicy(authorDomain: string, resolver: TxtResolver, opts: DiscoverOptions = {}): Promise<PolicyDiscovery> {
  const author = parseDomainName(authorDomain);
  // The author's own record settles it on the first query; otherwise walk on as §4.10 says.
  const walked = await walk(author, resolver, (step) => step.domain === author && step.record !== null);
  const notes = discardedNote(walked);
  const undecided = {
    authorDomain: author,
    walk: walked,
    source: 'none',
    policyDomain: null,
    organizationalDomain: null,
    record: null,
    tag: null,
    disposition: null,
    authorDomainExists: null,
    existenceCheck: null,
  } as const;

  const first = walked.steps[0];
  const ownRecordFound = first !== undefined && first.record !== null;
  if (!ownRecordFound && walked.end === 'dns-error') {
    const failed = walked.steps.at(-1)?.query ?? author;
    const because = `the query for ${failed} failed temporarily, so the applicable record is unknown`;
    return { ...undecided, outcome: 'temperror', because: because + notes };
  }

  // §4.10.2 only matters when the record is inherited; the author's own record needs no walk.
  const organizational = ownRecordFound ? null : selectOrganizationalDomain(author, walked.steps).organizationalDomain;
  const applicable = applicableRecord(author, walked.steps, organizational ?? author);
  if (applicable === null || first === undefined) {
    const because = `no DMARC record at ${author}, its organizational domain or a public suffix domain, so DMARC is not applied`;
    return { ...undecided, organizationalDomain: organizational, outcome: 'not-applied', because: because + notes };
  }

  const { source, step } = applicable;
  const record = step.record ?? {};
  const inherited = source !== 'own';
  let existence: { exists: boolean | null; check: ExistenceCheck } = { exists: null, check: null };
  if (inherited) {
    existence = opts.exists !== undefined ? { exists: opts.exists, check: null } : await authorDomainExists(author, first.lookup, resolver);
  }
  const parent = source === 'psd' ? 'public suffix domain' : 'organizational domain';
  const whose = inherited
    ? `${author} has no record of its own; its ${parent} ${step.domain} publishes one at ${step.query}`
    : `${author} publishes its own record at ${step.query}`;
  const decided = {
    ...undecided,
    source,
    policyDomain: step.domain,
    organizationalDomain: organizational,
    record,
    authorDomainExists: existence.exists,
    existenceCheck: existence.check,
  };

  // RFC 9989 §4.10.1: a missing or invalid p, or an invalid sp/np, means p=none when rua is usable, else no DMARC.
  if (record.p === undefined || step.invalidPolicyTags.length > 0) {
    const problem = record.p === undefined ? 'has no valid p' : `has an invalid ${step.invalidPolicyTags.join(' and ')}`;
    if ((record.rua ?? []).length > 0) {
      const because = `${whose}; the record ${problem} but has a usable rua, so it acts as p=none`;
      return { ...decided, outcome: 'applied', tag: 'p', disposition: 'none', because: because + notes };
    }
    const because = `${whose}; the record ${problem} and no usable rua, so DMARC is not applied`;
    return { ...decided, outcome: 'not-applied', because: because + notes };
  }

  const tag = choosePolicyTag(record, inherited, existence.exists);
  const disposition = record[tag] ?? record.p;
  const choice = inherited ? `; ${describeChoice(author, tag, existence.exists)}` : ', so p applies';
  return { ...decided, outcome: 'applied', tag, disposition, because: `${whose}${choice}: ${disposition}${notes}` };
}

// ---------------------------------------------------------------------------------------------
// Offline: the repository's policies standing in for published DNS

export interface ApplicablePolicy {
  policyDomain: string | null;
  source: 'own' | 'organizational' | 'none';
  tag: PolicyTag | null;
  disposition: Disposition | null;
  explanation: string;
}

export interface ApplicablePolicyOptions extends PslOptions {
  /** false: the host is known not to exist, so np applies. Default: treated as existing. */
  exists?: boolean;
}

/** The tags the domain file declares (not record.ts's shortened published form): explanations name what the file says. */
function declaredRecord(policy: DomainPolicy): DmarcRecord {
  return { p: policy.p, sp: policy.sp, np: policy.np, psd: policy.psd };
}

function policiesByDomain(policies: DomainPolicy[]): Map<string, DomainPolicy> {
  return new Map(policies.map((policy) => [policy.domain, policy]));
}

/**
 * The policy that applies to `hostname` if the repository's policies were all that is published:
 * its own policy, else its PSL organizational domain's (RFC 7489 discovery, which the RFC 9989 walk
 * matches whenever the organizational domains agree: see `compareOrgDomainMethods`).
 */
export function applicablePolicy(hostname: string, policies: DomainPolicy[], opts: ApplicablePolicyOptions = {}): ApplicablePolicy {
  const host = parseDomainName(hostname);
  const byDomain = policiesByDomain(policies);
  const own = byDomain.get(host);
  if (own !== undefined) {
    const explanation = `${host} has its own policy (${own.file}), so p applies: ${own.p}`;
    return { policyDomain: host, source: 'own', tag: 'p', disposition: own.p, explanation };
  }
  const organizational = organizationalDomain(host, opts);
  const inherited = organizational === null ? undefined : byDomain.get(organizational);
  if (organizational === null || inherited === undefined) {
    const where =
      organizational === null
        ? `${host} is a public suffix`
        : `neither ${host} nor its organizational domain ${organizational} has a policy`;
    const explanation = `${where}, so no DMARC policy applies`;
    return { policyDomain: null, source: 'none', tag: null, disposition: null, explanation };
  }
  const exists = opts.exists ?? null;
  const record = declaredRecord(inherited);
  const tag = choosePolicyTag(record, true, exists);
  const disposition = record[tag] ?? inherited.p;
  return {
    policyDomain: organizational,
    source: 'organizational',
    tag,
    disposition,
    explanation:
      `${host} has no policy of its own; it inherits from its organizational domain ${organizational} ` +
      `(${inherited.file}): ${describeChoice(host, tag, exists)}: ${disposition}`,
  };
}

export interface OrgDomainComparison {
  domain: string;
  /** RFC 7489: the PSL's organizational domain, and whose record applies to `domain`. */
  psl: { organizationalDomain: string | null; policyDomain: string | null };
  /** RFC 9989: the tree walk over the repository's policies (their psd flags included). */
  treeWalk: { organizationalDomain: string; rule: OrgDomainRule; policyDomain: string | null };
  /** True when the organizational domain or the applicable record differs between the two methods. */
  disagrees: boolean;
  explanation: string;
}

/**
 * RFC 9989 Appendix C.3: receivers still on the PSL and receivers doing the tree walk can reach
 * different organizational domains (so relaxed alignment differs) or different records. This
 * simulates both over the repository's policies; records published outside the repository are unknown
 * to it and taken as absent.
 */
export function compareOrgDomainMethods(domain: string, policies: DomainPolicy[], opts: PslOptions = {}): OrgDomainComparison {
  const start = parseDomainName(domain);
  const byDomain = policiesByDomain(policies);

  const walked: WalkedName[] = [];
  for (const name of treeWalkTargets(start)) {
    const policy = byDomain.get(name);
    const record = policy === undefined ? null : declaredRecord(policy);
    walked.push({ domain: name, record });
    if (stopsWalk(record)) break;
  }
  const selected = selectOrganizationalDomain(start, walked);
  const psdName = walked.find((name) => name.record?.psd === 'y' && name.domain !== start)?.domain ?? null;
  // Whose record applies, by each method: own, else the organizational domain's, else (tree walk only) the PSD's.
  const withPolicy = (name: string | null): name is string => name !== null && byDomain.has(name);
  const walkPolicyDomain = [start, selected.organizationalDomain, psdName].find(withPolicy) ?? null;
  const pslOrganizational = organizationalDomain(start, opts);
  const pslPolicyDomain = [start, pslOrganizational].find(withPolicy) ?? null;

  const sameOrganizational = pslOrganizational === selected.organizationalDomain;
  const samePolicy = pslPolicyDomain === walkPolicyDomain;
  const show = (name: string | null): string => name ?? 'none';
  const differences: string[] = [];
  if (!sameOrganizational) {
    differences.push(
      `the PSL (RFC 7489) makes its organizational domain ${show(pslOrganizational)}, ` +
        `the DNS tree walk (RFC 9989, rule ${selected.rule}) makes it ${selected.organizationalDomain}, ` +
        'so relaxed alignment differs between receivers',
    );
  }
  if (!samePolicy) {
    differences.push(
      `PSL receivers apply the record of ${show(pslPolicyDomain)}, ` + `tree-walk receivers the record of ${show(walkPolicyDomain)}`,
    );
  }
  const explanation =
    differences.length === 0
      ? `${start}: both methods agree (organizational domain ${show(pslOrganizational)}, record of ${show(pslPolicyDomain)})`
      : `${start}: ${differences.join('; ')} (RFC 9989 Appendix C.3; records outside this repository are not known here)`;

  return {
    domain: start,
    psl: { organizationalDomain: pslOrganizational, policyDomain: pslPolicyDomain },
    treeWalk: { organizationalDomain: selected.organizationalDomain, rule: selected.rule, policyDomain: walkPolicyDomain },
    disagrees: differences.length > 0,
    explanation,
  };
}
