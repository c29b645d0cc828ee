import { describe, expect, test } from 'vitest';
import type { DomainPolicy } from '../../scripts/policy/model.ts';
import { makePolicy } from '../helpers/policy.ts';
import {
  applicablePolicy,
  compareOrgDomainMethods,
  discoverPolicy,
  organizationalDomainByTreeWalk,
  treeWalk,
  treeWalkTargets,
} from '../../scripts/policy/orgdomain.ts';
import type { TxtResolver } from '../../scripts/policy/orgdomain.ts';

function policy(domain: string, overrides: Partial<DomainPolicy> = {}): DomainPolicy {
  return makePolicy(domain, overrides);
}

interface FakeDnsOptions {
  /** Names that exist (answer NODATA) without TXT records of their own. */
  hosts?: string[];
  /** Names whose queries fail with SERVFAIL. */
  failing?: string[];
}

/**
 * An in-memory DNS: TXT records by owner name (a string per record, or its character-strings).
 * A name with no records answers NODATA when it or a name below it exists, else NXDOMAIN (RFC 8020).
 */
function fakeDns(txt: Record<string, (string | string[])[]>, opts: FakeDnsOptions = {}) {
  const queries: string[] = [];
  const names = [...Object.keys(txt), ...(opts.hosts ?? [])];
  const exists = (name: string): boolean => names.some((known) => known === name || known.endsWith(`.${name}`));
  const resolver: TxtResolver = async (name) => {
    queries.push(name);
    if (opts.failing?.includes(name)) return { status: 'error', code: 'ESERVFAIL', message: `queryTxt ESERVFAIL ${name}` };
    const records = txt[name] ?? [];
    if (records.length > 0) return { status: 'found', records: records.map((record) => (Array.isArray(record) ? record : [record])) };
    return exists(name) ? { status: 'nodata' } : { status: 'nxdomain' };
  };
  return { resolver, queries };
}

const LONG_NAME = 'a.b.c.d.e.f.g.h.i.j.mail.example.com';
const LONG_NAME_WALK = [
  'a.b.c.d.e.f.g.h.i.j.mail.example.com',
  'g.h.i.j.mail.example.com',
  'h.i.j.mail.example.com',
  'i.j.mail.example.com',
  'j.mail.example.com',
  'mail.example.com',
  'example.com',
  'com',
];

describe('treeWalkTargets', () => {
  test('cuts a long name to 7 labels after the first query: 8 names at most', () => {
    expect(treeWalkTargets(LONG_NAME)).toEqual(LONG_NAME_WALK);
  });

  test('a name of 8 labels loses one label, like a short one', () => {
    expect(treeWalkTargets('a.b.c.d.e.f.example.com')).toEqual([
      'a.b.c.d.e.f.example.com',
      'b.c.d.e.f.example.com',
      'c.d.e.f.example.com',
      'd.e.f.example.com',
      'e.f.example.com',
      'f.example.com',
      'example.com',
      'com',
    ]);
  });

  test('a name of 9 labels jumps to 7', () => {
    expect(treeWalkTargets('x.a.b.c.d.e.f.example.com').slice(0, 2)).toEqual(['x.a.b.c.d.e.f.example.com', 'b.c.d.e.f.example.com']);
    expect(treeWalkTargets('x.a.b.c.d.e.f.example.com')).toHaveLength(8);
  });

  test('a short name walks down to the TLD', () => {
    expect(treeWalkTargets('a.mail.example.com')).toEqual(['a.mail.example.com', 'mail.example.com', 'example.com', 'com']);
  });
});

describe('treeWalk (RFC 9989 §4.10)', () => {
  test('queries exactly the 8 names for a 13-label domain, then stops', async () => {
    const dns = fakeDns({});
    const walk = await treeWalk(LONG_NAME, dns.resolver);
    expect(dns.queries).toEqual(LONG_NAME_WALK.map((name) => `_dmarc.${name}`));
    expect(walk.steps.map((step) => step.outcome)).toEqual(Array(8).fill('no-record'));
    expect(walk.end).toBe('exhausted');
  });

  test('goes on past a record without psd, and stops at psd=n', async () => {
    const dns = fakeDns({
      '_dmarc.team.mail.example.com': ['v=DMARC1; p=none'],
      '_dmarc.mail.example.com': ['v=DMARC1; p=reject; psd=n'],
      '_dmarc.example.com': ['v=DMARC1; p=quarantine'],
    });
    const walk = await treeWalk('a.team.mail.example.com', dns.resolver);
    expect(walk.steps.map((step) => [step.query, step.outcome])).toEqual([
      ['_dmarc.a.team.mail.example.com', 'no-record'],
      ['_dmarc.team.mail.example.com', 'record'],
      ['_dmarc.mail.example.com', 'record'],
    ]);
    expect(walk.end).toBe('psd-flag');
    expect(walk.steps[2]?.record).toEqual({ p: 'reject', psd: 'n' });
  });

  test('stops at psd=y too', async () => {
    const dns = fakeDns({ '_dmarc.example.com': ['v=DMARC1; p=none; psd=y'] });
    await treeWalk('a.example.com', dns.resolver);
    expect(dns.queries).toEqual(['_dmarc.a.example.com', '_dmarc.example.com']);
  });

  test('reports what each name returned', async () => {
    const dns = fakeDns(
      { '_dmarc.a.example.com': ['v=spf1 -all'], '_dmarc.example.com': ['v=DMARC1; p=none'] },
      { hosts: ['report._dmarc.com'] },
    );
    const walk = await treeWalk('a.example.com', dns.resolver);
    expect(walk.steps.map((step) => [step.domain, step.lookup.status, step.outcome])).toEqual([
      ['a.example.com', 'found', 'no-record'],
      ['example.com', 'found', 'record'],
      ['com', 'nodata', 'no-record'],
    ]);
  });

  test('discards every DMARC record at a name that has more than one', async () => {
    const dns = fakeDns({ '_dmarc.example.com': ['v=DMARC1; p=reject', 'v=DMARC1; p=none; psd=n'] });
    const walk = await treeWalk('example.com', dns.resolver);
    expect(walk.steps[0]).toMatchObject({ outcome: 'duplicates-discarded', record: null });
    expect(walk.steps[0]?.dmarcTexts).toHaveLength(2);
    // The discarded psd=n does not stop the walk.
    expect(dns.queries).toEqual(['_dmarc.example.com', '_dmarc.com']);
  });

  test('ignores TXT records that are not DMARC, and joins character-strings', async () => {
    const dns = fakeDns({
      '_dmarc.example.com': ['v=spf1 -all', 'v=dmarc1; p=none', ' v=DMARC1; p=none', ['v=DMARC1; p=quar', 'antine; psd=n']],
    });
    const walk = await treeWalk('example.com', dns.resolver);
    expect(walk.steps[0]).toMatchObject({ outcome: 'record', record: { p: 'quarantine', psd: 'n' } });
    expect(walk.steps[0]?.dmarcTexts).toEqual(['v=DMARC1; p=quarantine; psd=n']);
  });

  test('a temporary DNS error ends the walk', async () => {
    const dns = fakeDns({}, { failing: ['_dmarc.example.com'] });
    const walk = await treeWalk('a.example.com', dns.resolver);
    expect(walk.end).toBe('dns-error');
    expect(walk.steps.at(-1)?.outcome).toBe('dns-error');
    expect(dns.queries).toEqual(['_dmarc.a.example.com', '_dmarc.example.com']);
  });
});

describe('organizationalDomainByTreeWalk (RFC 9989 §4.10.2, Appendix B.4)', () => {
  test('records at mail.example.com and example.com → example.com', async () => {
    const dns = fakeDns({ '_dmarc.mail.example.com': ['v=DMARC1; p=none'], '_dmarc.example.com': ['v=DMARC1; p=reject'] });
    const result = await organizationalDomainByTreeWalk('a.mail.example.com', dns.resolver);
    expect(result).toMatchObject({ organizationalDomain: 'example.com', rule: 'fewest-labels' });
    expect(dns.queries).toHaveLength(4);
  });

  test('psd=n at mail.example.com → mail.example.com', async () => {
    const dns = fakeDns({ '_dmarc.mail.example.com': ['v=DMARC1; p=none; psd=n'], '_dmarc.example.com': ['v=DMARC1; p=reject'] });
    const result = await organizationalDomainByTreeWalk('a.mail.example.com', dns.resolver);
    expect(result).toMatchObject({ organizationalDomain: 'mail.example.com', rule: 'psd-n' });
  });

  test('only _dmarc.com with psd=y → example.com', async () => {
    const dns = fakeDns({ '_dmarc.com': ['v=DMARC1; p=none; psd=y'] });
    const result = await organizationalDomainByTreeWalk('a.mail.example.com', dns.resolver);
    expect(result).toMatchObject({ organizationalDomain: 'example.com', rule: 'psd-y' });
  });

  test('psd=y at the starting name does not count: the start is its own organizational domain', async () => {
    const dns = fakeDns({ '_dmarc.example.com': ['v=DMARC1; p=none; psd=y'] });
    const result = await organizationalDomainByTreeWalk('example.com', dns.resolver);
    expect(result).toMatchObject({ organizationalDomain: 'example.com', rule: 'fewest-labels' });
  });

  test('no records anywhere → the starting name', async () => {
    const result = await organizationalDomainByTreeWalk('a.mail.example.com', fakeDns({}).resolver);
    expect(result).toMatchObject({ organizationalDomain: 'a.mail.example.com', rule: 'start' });
  });

  test('a DNS error leaves it unknown', async () => {
    const dns = fakeDns({ '_dmarc.example.com': ['v=DMARC1; p=none'] }, { failing: ['_dmarc.com'] });
    const result = await organizationalDomainByTreeWalk('a.example.com', dns.resolver);
    expect(result).toMatchObject({ organizationalDomain: null, rule: 'dns-error' });
  });
});

describe('discoverPolicy (RFC 9989 §4.10.1)', () => {
  const orgRecord = 'v=DMARC1; p=reject; sp=quarantine; np=none';

  test("the author domain's own record: p, and one query is enough", async () => {
    const dns = fakeDns({ '_dmarc.shop.example.com': ['v=DMARC1; p=quarantine; sp=none'], '_dmarc.example.com': [orgRecord] });
    const result = await discoverPolicy('Shop.Example.com', dns.resolver);
    expect(result).toMatchObject({
      outcome: 'applied',
      source: 'own',
      policyDomain: 'shop.example.com',
      tag: 'p',
      disposition: 'quarantine',
    });
    expect(result.because).toBe('shop.example.com publishes its own record at _dmarc.shop.example.com, so p applies: quarantine');
    expect(dns.queries).toEqual(['_dmarc.shop.example.com']);
  });

  test('an existing subdomain inherits sp from its organizational domain', async () => {
    const dns = fakeDns({ '_dmarc.example.com': [orgRecord] }, { hosts: ['shop.example.com'] });
    const result = await discoverPolicy('shop.example.com', dns.resolver);
    expect(result).toMatchObject({
      outcome: 'applied',
      source: 'organizational',
      policyDomain: 'example.com',
      organizationalDomain: 'example.com',
      tag: 'sp',
      disposition: 'quarantine',
      authorDomainExists: true,
      existenceCheck: { name: 'shop.example.com', lookup: { status: 'nodata' } },
    });
    expect(result.because).toBe(
      'shop.example.com has no record of its own; its organizational domain example.com ' +
        'publishes one at _dmarc.example.com; shop.example.com exists, so sp applies: quarantine',
    );
  });

  test('a non-existent subdomain (NXDOMAIN) gets np, found by querying the name itself', async () => {
    const dns = fakeDns({ '_dmarc.example.com': [orgRecord] });
    const result = await discoverPolicy('ghost.example.com', dns.resolver);
    expect(result).toMatchObject({ tag: 'np', disposition: 'none', authorDomainExists: false });
    expect(result.existenceCheck).toEqual({ name: 'ghost.example.com', lookup: { status: 'nxdomain' } });
    expect(dns.queries).toEqual(['_dmarc.ghost.example.com', '_dmarc.example.com', '_dmarc.com', 'ghost.example.com']);
    expect(result.because).toContain('ghost.example.com does not exist (NXDOMAIN), so np applies: none');
  });

  test('np falls back to sp, then p', async () => {
    const spOnly = fakeDns({ '_dmarc.example.com': ['v=DMARC1; p=reject; sp=quarantine'] });
    expect(await discoverPolicy('ghost.example.com', spOnly.resolver)).toMatchObject({ tag: 'sp', disposition: 'quarantine' });
    const pOnly = fakeDns({ '_dmarc.example.com': ['v=DMARC1; p=reject'] });
    const result = await discoverPolicy('ghost.example.com', pOnly.resolver);
    expect(result).toMatchObject({ tag: 'p', disposition: 'reject' });
    expect(result.because).toContain('the record has neither np nor sp, so p applies: reject');
  });

  test('an existing subdomain without sp gets p, whatever np says', async () => {
    const dns = fakeDns({ '_dmarc.example.com': ['v=DMARC1; p=reject; np=none'] }, { hosts: ['shop.example.com'] });
    expect(await discoverPolicy('shop.example.com', dns.resolver)).toMatchObject({ tag: 'p', disposition: 'reject' });
  });

  test('a known existence skips the extra query', async () => {
    const dns = fakeDns({ '_dmarc.example.com': [orgRecord] });
    const result = await discoverPolicy('ghost.example.com', dns.resolver, { exists: true });
    expect(result).toMatchObject({ tag: 'sp', authorDomainExists: true, existenceCheck: null });
    expect(dns.queries).not.toContain('ghost.example.com');
  });

  test('a record between the author domain and its organizational domain does not apply', async () => {
    const dns = fakeDns({ '_dmarc.mail.example.com': ['v=DMARC1; p=none'], '_dmarc.example.com': ['v=DMARC1; p=reject'] });
    const result = await discoverPolicy('a.mail.example.com', dns.resolver);
    expect(result).toMatchObject({ source: 'organizational', policyDomain: 'example.com', disposition: 'reject' });
  });

  test('a PSD record applies when the organizational domain publishes none', async () => {
    const dns = fakeDns({ '_dmarc.com': ['v=DMARC1; p=none; np=reject; psd=y'] });
    const result = await discoverPolicy('ghost.example.com', dns.resolver);
    expect(result).toMatchObject({
      source: 'psd',
      policyDomain: 'com',
      organizationalDomain: 'example.com',
      tag: 'np',
      disposition: 'reject',
    });
    expect(result.because).toContain('its public suffix domain com publishes one at _dmarc.com');
  });

  test('a PSD record is not used when the organizational domain has its own', async () => {
    const dns = fakeDns(
      { '_dmarc.com': ['v=DMARC1; p=reject; psd=y'], '_dmarc.example.com': ['v=DMARC1; p=none'] },
      { hosts: ['shop.example.com'] },
    );
    expect(await discoverPolicy('shop.example.com', dns.resolver)).toMatchObject({
      source: 'organizational',
      policyDomain: 'example.com',
      disposition: 'none',
    });
  });

  test('no record anywhere: DMARC is not applied', async () => {
    const result = await discoverPolicy('shop.example.com', fakeDns({}).resolver);
    expect(result).toMatchObject({ outcome: 'not-applied', source: 'none', policyDomain: null, tag: null, disposition: null });
    expect(result.because).toBe(
      'no DMARC record at shop.example.com, its organizational domain or a public suffix domain, so DMARC is not applied',
    );
  });

  test('duplicates at the author domain are discarded and the organizational record applies', async () => {
    const dns = fakeDns({ '_dmarc.shop.example.com': ['v=DMARC1; p=none', 'v=DMARC1; p=reject'], '_dmarc.example.com': [orgRecord] });
    const result = await discoverPolicy('shop.example.com', dns.resolver);
    expect(result).toMatchObject({ source: 'organizational', tag: 'sp', authorDomainExists: true });
    expect(result.because).toContain('(2 DMARC records at _dmarc.shop.example.com were all discarded)');
    // An answer at _dmarc.shop.example.com already proves shop.example.com exists: no extra query.
    expect(result.existenceCheck).toBeNull();
    expect(dns.queries).not.toContain('shop.example.com');
  });

  test('a record without a valid p acts as p=none when it has a usable rua', async () => {
    const dns = fakeDns({ '_dmarc.example.com': ['v=DMARC1; p=block; rua=mailto:dmarc@example.com'] });
    const result = await discoverPolicy('example.com', dns.resolver);
    expect(result).toMatchObject({ outcome: 'applied', tag: 'p', disposition: 'none' });
    expect(result.because).toContain('has no valid p but has a usable rua, so it acts as p=none');
  });

  test('an invalid sp without rua means no DMARC', async () => {
    const dns = fakeDns({ '_dmarc.example.com': ['v=DMARC1; p=reject; sp=maybe'] });
    const result = await discoverPolicy('example.com', dns.resolver);
    expect(result).toMatchObject({ outcome: 'not-applied', source: 'own', disposition: null });
    expect(result.because).toContain('has an invalid sp and no usable rua');
  });

  test('a DNS error before any record is found is a temperror', async () => {
    const dns = fakeDns({ '_dmarc.example.com': [orgRecord] }, { failing: ['_dmarc.com'] });
    const result = await discoverPolicy('shop.example.com', dns.resolver);
    expect(result).toMatchObject({ outcome: 'temperror', source: 'none', disposition: null });
    expect(result.because).toContain('_dmarc.com failed temporarily');
  });
});

describe('applicablePolicy (offline, over the repository)', () => {
  const policies = [
    policy('example.com', { p: 'reject', sp: 'quarantine', np: 'reject' }),
    policy('shop.example.com', { p: 'none' }),
    policy('example.org', { p: 'quarantine' }),
    policy('xn--mnchen-3ya.de', { p: 'reject' }),
  ];

  test('a domain with its own policy uses p', () => {
    expect(applicablePolicy('shop.example.com', policies)).toEqual({
      policyDomain: 'shop.example.com',
      source: 'own',
      tag: 'p',
      disposition: 'none',
      explanation: 'shop.example.com has its own policy (domains/shop.example.com.yaml), so p applies: none',
    });
  });

  test('a subdomain inherits sp from its organizational domain', () => {
    expect(applicablePolicy('news.example.com', policies)).toEqual({
      policyDomain: 'example.com',
      source: 'organizational',
      tag: 'sp',
      disposition: 'quarantine',
      explanation:
        'news.example.com has no policy of its own; it inherits from its organizational domain example.com ' +
        '(domains/example.com.yaml): news.example.com is taken to exist (not known otherwise), so sp applies: quarantine',
    });
  });

  test('deeper names inherit from the organizational domain, not from an intermediate policy (RFC 7489)', () => {
    expect(applicablePolicy('a.shop.example.com', policies)).toMatchObject({ policyDomain: 'example.com', tag: 'sp' });
  });

  test('a name known not to exist gets np', () => {
    expect(applicablePolicy('ghost.example.com', policies, { exists: false })).toMatchObject({ tag: 'np', disposition: 'reject' });
  });

  test('np falls back to sp, then p', () => {
    const spOnly = [policy('example.com', { p: 'reject', sp: 'none' })];
    expect(applicablePolicy('ghost.example.com', spOnly, { exists: false })).toMatchObject({ tag: 'sp', disposition: 'none' });
    expect(applicablePolicy('ghost.example.org', policies, { exists: false })).toMatchObject({ tag: 'p', disposition: 'quarantine' });
    expect(applicablePolicy('www.example.org', policies)).toMatchObject({ tag: 'p', disposition: 'quarantine' });
  });

  test('IDN host names are normalised before matching', () => {
    expect(applicablePolicy('Post.MÜNCHEN.de.', policies)).toMatchObject({ policyDomain: 'xn--mnchen-3ya.de', source: 'organizational' });
  });

  test('no policy here or at the organizational domain, or a public suffix: none', () => {
    expect(applicablePolicy('www.example.net', policies)).toEqual({
      policyDomain: null,
      source: 'none',
      tag: null,
      disposition: null,
      explanation: 'neither www.example.net nor its organizational domain example.net has a policy, so no DMARC policy applies',
    });
    expect(applicablePolicy('co.uk', policies)).toMatchObject({
      source: 'none',
      explanation: 'co.uk is a public suffix, so no DMARC policy applies',
    });
  });

  test('invalid host names throw', () => {
    expect(() => applicablePolicy('bad..example.com', policies)).toThrow(/empty label/);
  });
});

describe('compareOrgDomainMethods (RFC 9989 Appendix C.3)', () => {
  test('agrees for an ordinary organizational domain and its subdomains', () => {
    const policies = [policy('example.com'), policy('mail.example.com')];
    expect(compareOrgDomainMethods('example.com', policies)).toMatchObject({ disagrees: false });
    expect(compareOrgDomainMethods('a.mail.example.com', policies)).toMatchObject({
      disagrees: false,
      psl: { organizationalDomain: 'example.com', policyDomain: 'example.com' },
      treeWalk: { organizationalDomain: 'example.com', rule: 'fewest-labels', policyDomain: 'example.com' },
    });
  });

  test('psd=n on a subdomain makes it its own organizational domain for tree-walk receivers only', () => {
    const policies = [policy('example.com'), policy('mail.example.com', { psd: 'n' })];
    const result = compareOrgDomainMethods('mail.example.com', policies);
    expect(result).toMatchObject({
      disagrees: true,
      psl: { organizationalDomain: 'example.com', policyDomain: 'mail.example.com' },
      treeWalk: { organizationalDomain: 'mail.example.com', rule: 'psd-n', policyDomain: 'mail.example.com' },
    });
    expect(result.explanation).toBe(
      'mail.example.com: the PSL (RFC 7489) makes its organizational domain example.com, ' +
        'the DNS tree walk (RFC 9989, rule psd-n) makes it mail.example.com, so relaxed alignment differs ' +
        'between receivers (RFC 9989 Appendix C.3; records outside this repository are not known here)',
    );
  });

  test('a subdomain policy without one at the organizational domain changes which record applies below it', () => {
    const result = compareOrgDomainMethods('a.shop.example.com', [policy('shop.example.com')]);
    expect(result).toMatchObject({
      disagrees: true,
      psl: { organizationalDomain: 'example.com', policyDomain: null },
      treeWalk: { organizationalDomain: 'shop.example.com', policyDomain: 'shop.example.com' },
    });
    expect(result.explanation).toContain('PSL receivers apply the record of none, tree-walk receivers the record of shop.example.com');
  });
});
