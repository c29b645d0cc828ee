/**
 * The rfc2136 provider against a real BIND 9 (test/services/bind.ts): TSIG-signed TXT queries and
 * UPDATE messages over TCP. What is written is checked through the provider, in the whole zone by
 * AXFR (dig), and over DNS (node:dns and dig). Concurrent edits are made with nsupdate, not with the
 * provider, so they do not depend on the code under test.
 */
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ManagedRecord } from '../../scripts/policy/model.ts';
import { splitCharacterStrings } from '../../scripts/lib/dns-txt.ts';
import { computePlan } from '../../scripts/dns/plan.ts';
import { providerFor } from '../../scripts/dns/providers/index.ts';
import { decodeMessage, decodeTxtData, OPCODE, RR_TYPE } from '../../scripts/dns/providers/dns-wire.ts';
import {
  createRfc2136Provider,
  exchangeTcp,
  packPieces,
  parseServer,
  rfc2136ConfigFromEnv,
  updatePiece,
  type Rfc2136ProviderOptions,
} from '../../scripts/dns/providers/rfc2136.ts';
import type { DnsProvider, RecordChange, TxtRecord } from '../../scripts/dns/types.ts';
import { locateExecutable } from '../services/process.ts';
import { startBind, type BindServer, type TsigKeyText } from '../services/bind.ts';

const ZONE = 'example.test';
const STALE = 'v=DMARC1; p=none; rua=mailto:old@example.test';
const DUPLICATE = 'v=DMARC1; p=quarantine';
const UNRELATED = 'google-site-verification=abc123';
const NEW = 'v=DMARC1; p=reject; rua=mailto:dmarc@example.test';
const SUB = 'v=DMARC1; p=quarantine; adkim=s';
const AUTH = 'v=DMARC1';

const NAMES = {
  policy: `_dmarc.${ZONE}`,
  sub: `_dmarc.sub.${ZONE}`,
  auth: `x.example._report._dmarc.${ZONE}`,
  old: `_dmarc.old.${ZONE}`,
  legacy: `_dmarc.legacy.${ZONE}`,
  alias: `_dmarc.alias.${ZONE}`,
  delegated: `_dmarc.delegated.${ZONE}`,
};
const ASKED = [NAMES.policy, NAMES.sub, NAMES.auth, NAMES.old, NAMES.legacy];

const SEED = [
  '@ 300 IN A 192.0.2.1',
  '@ 300 IN MX 10 mail',
  'mail 300 IN A 192.0.2.25',
  '@ 3600 IN TXT "v=spf1 mx -all"',
  `_dmarc 300 IN TXT "${STALE}"`,
  `_dmarc 300 IN TXT "${DUPLICATE}"`,
  `_dmarc 300 IN TXT "${UNRELATED}"`,
  '_dmarc.old 600 IN TXT "v=DMARC1; p=reject"',
  '_dmarc.legacy 900 IN TXT "v=DMARC1; p=none"',
  '_dmarc.legacy 900 IN TXT "ms=12345"',
  '_dmarc.alias 300 IN CNAME dmarc.provider.example.',
  'delegated 300 IN NS ns.elsewhere.example.',
];

let bind: BindServer;

beforeAll(async () => {
  bind = await startBind();
});

afterAll(async () => {
  await bind?.stop();
});

beforeEach(async () => {
  await bind.deleteZone(ZONE);
  await bind.createZone(ZONE, SEED);
});

interface Sent {
  opcode: number;
  questions: { name: string; type: number }[];
}

/** A provider whose messages to the server are recorded (decoded), optionally with its answers altered. */
function provider(
  overrides: { key?: TsigKeyText; now?: () => number; maxMessageOctets?: number; alter?: (answer: Buffer) => Buffer } = {},
): { dns: DnsProvider; sent: Sent[][] } {
  const sent: Sent[][] = [];
  const key = overrides.key ?? bind.key;
  const options: Rfc2136ProviderOptions = {
    server: { host: bind.host, port: bind.port },
    key: { name: key.name, algorithm: key.algorithm, secret: Buffer.from(key.secret, 'base64') },
    exchange: async (server, requests, timeoutMs) => {
      sent.push(
        requests.map((request) => {
          const decoded = decodeMessage(request);
          return { opcode: decoded.opcode, questions: decoded.questions.map(({ name, type }) => ({ name, type })) };
        }),
      );
      const answers = await exchangeTcp(server, requests, timeoutMs);
      return overrides.alter === undefined ? answers : answers.map(overrides.alter);
    },
  };
  if (overrides.now !== undefined) options.now = overrides.now;
  if (overrides.maxMessageOctets !== undefined) options.maxMessageOctets = overrides.maxMessageOctets;
  return { dns: createRfc2136Provider(options), sent };
}

function change(partial: Pick<RecordChange, 'action' | 'name' | 'before' | 'after'> & Partial<RecordChange>): RecordChange {
  return {
    provider: 'rfc2136',
    zone: ZONE,
    type: 'TXT',
    ttlBefore: partial.before === null ? null : 300,
    ttlAfter: partial.after === null ? null : 300,
    reason: 'test',
    risky: partial.action === 'delete',
    ...partial,
  };
}

/** The TXT answers at a name as lists of character-strings; [] when there is no TXT there. */
async function served(name: string): Promise<string[][]> {
  try {
    return (await bind.resolver().resolveTxt(name)).sort((a, b) => a.join('').localeCompare(b.join('')));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
    throw error;
  }
}

async function dig(...args: string[]): Promise<string[]> {
  const binary = locateExecutable('dig');
  if (binary === undefined) throw new Error('dig not found (Debian package bind9-dnsutils)');
  const { stdout } = await promisify(execFile)(binary, [
    '+short',
    '+norecurse',
    '+time=2',
    '+tries=2',
    '+tcp',
    '@127.0.0.1',
    '-p',
    String(bind.port),
    ...args,
  ]);
  return stdout
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .sort();
}

/** The zone by AXFR without what dmarcops may change: DMARC TXT at the managed names, and their TTL. */
async function notOurs(): Promise<string[]> {
  const managed = new Set(Object.values(NAMES).map((name) => `${name}.`));
  return (await bind.zoneRecords(ZONE))
    .filter((line) => {
      const [name = '', , , type, ...rdata] = line.split(' ');
      return !(managed.has(name) && type === 'TXT' && rdata.join(' ').startsWith('"v=DMARC1'));
    })
    .map((line) => {
      const [name = '', ttl, ...rest] = line.split(' ');
      return [name, managed.has(name) ? '-' : ttl, ...rest].join(' ');
    });
}

async function failure(promise: Promise<unknown>): Promise<Error | undefined> {
  return promise.then(
    () => undefined,
    (reason: unknown) => reason as Error,
  );
}

/** A loopback port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const byNameValue = (a: TxtRecord, b: TxtRecord) => a.name.localeCompare(b.name) || a.value.localeCompare(b.value);
const withoutId = ({ id: _id, ...rest }: TxtRecord) => rest;

describe('rfc2136 provider against a real BIND 9', () => {
  it('listTxt returns exactly the TXT records at the names asked, by TXT queries for those names on one connection', async () => {
    const { dns, sent } = provider();
    const records = await dns.listTxt(ZONE, ASKED);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.map((message) => message.opcode)).toEqual(ASKED.map(() => OPCODE.QUERY));
    expect(sent[0]?.flatMap((message) => message.questions)).toEqual(ASKED.map((name) => ({ name, type: RR_TYPE.TXT })));
    expect(records.map(withoutId).sort(byNameValue)).toEqual(
      [
        { name: NAMES.legacy, ttl: 900, value: 'ms=12345', strings: ['ms=12345'] },
        { name: NAMES.legacy, ttl: 900, value: 'v=DMARC1; p=none', strings: ['v=DMARC1; p=none'] },
        { name: NAMES.old, ttl: 600, value: 'v=DMARC1; p=reject', strings: ['v=DMARC1; p=reject'] },
        { name: NAMES.policy, ttl: 300, value: UNRELATED, strings: [UNRELATED] },
        { name: NAMES.policy, ttl: 300, value: DUPLICATE, strings: [DUPLICATE] },
        { name: NAMES.policy, ttl: 300, value: STALE, strings: [STALE] },
      ].sort(byNameValue),
    );
    // Each record's id is its RDATA, the RR's identity in DNS.
    for (const record of records) {
      expect(decodeTxtData(Buffer.from(record.id ?? '', 'hex')).map((octets) => Buffer.from(octets).toString('utf8'))).toEqual(
        record.strings,
      );
    }
    // Names are matched without case or trailing dot; the apex SPF and the CNAME target never leak in.
    expect((await dns.listTxt(`${ZONE}.`, [`_DMARC.OLD.${ZONE}.`, NAMES.alias])).map(withoutId)).toEqual([
      { name: NAMES.old, ttl: 600, value: 'v=DMARC1; p=reject', strings: ['v=DMARC1; p=reject'] },
    ]);
    expect(await dns.listTxt(ZONE, [])).toEqual([]);
    expect(sent).toHaveLength(2); // nothing sent for an empty list of names
    await expect(dns.listTxt(ZONE, ['_dmarc.example.org'])).rejects.toThrow(/_dmarc\.example\.org is not in zone example\.test/);
  });

  it('applies updates, creates and deletes in one UPDATE, serves them over DNS, leaves everything else alone, and converges', async () => {
    const { dns, sent } = provider();
    const before = await notOurs();
    const serialBefore = (await bind.resolver().resolveSoa(ZONE)).serial;
    const current = await dns.listTxt(ZONE, ASKED);
    const changes: RecordChange[] = [
      change({ action: 'update', name: NAMES.policy, before: [DUPLICATE, STALE], after: [NEW] }),
      change({ action: 'create', name: NAMES.sub, before: null, after: [SUB] }),
      change({ action: 'create', name: NAMES.auth, before: null, after: [AUTH] }),
      change({ action: 'delete', name: NAMES.old, before: ['v=DMARC1; p=reject'], after: null, ttlBefore: 600 }),
      change({ action: 'delete', name: NAMES.legacy, before: ['v=DMARC1; p=none'], after: null, ttlBefore: 900 }),
    ];
    sent.length = 0;
    await dns.applyZone(ZONE, changes, current);
    expect(sent).toEqual([[{ opcode: OPCODE.UPDATE, questions: [{ name: ZONE, type: RR_TYPE.SOA }] }]]);

    // Over DNS: the new values; the unrelated TXT at _dmarc and at _dmarc.legacy are still served.
    expect(await served(NAMES.policy)).toEqual([[UNRELATED], [NEW]].sort((a, b) => a.join('').localeCompare(b.join(''))));
    expect(await served(NAMES.sub)).toEqual([[SUB]]);
    expect(await served(NAMES.auth)).toEqual([[AUTH]]);
    expect(await served(NAMES.old)).toEqual([]);
    expect(await served(NAMES.legacy)).toEqual([['ms=12345']]);
    expect(await dig('TXT', NAMES.policy)).toEqual([JSON.stringify(NEW), JSON.stringify(UNRELATED)].sort());

    // The rest of the zone is exactly as it was; BIND bumped the SOA serial.
    expect(await notOurs()).toEqual(before);
    expect((await bind.resolver().resolveSoa(ZONE)).serial).toBeGreaterThan(serialBefore);

    // Planning the same desired state again gives no change, and applying no change sends nothing.
    const desired: ManagedRecord[] = [
      { zone: ZONE, name: NAMES.policy, type: 'TXT', ttl: 300, values: [NEW], provider: 'rfc2136', purpose: 'policy', domain: ZONE },
      { zone: ZONE, name: NAMES.sub, type: 'TXT', ttl: 300, values: [SUB], provider: 'rfc2136', purpose: 'policy', domain: `sub.${ZONE}` },
      {
        zone: ZONE,
        name: NAMES.auth,
        type: 'TXT',
        ttl: 300,
        values: [AUTH],
        provider: 'rfc2136',
        purpose: 'report-authorization',
        domain: 'x.example',
      },
    ];
    const listed = await dns.listTxt(ZONE, ASKED);
    const plan = computePlan(desired, [{ provider: 'rfc2136', zone: ZONE, names: [...ASKED].sort(), records: listed }]);
    expect(plan.changes).toEqual([]);
    sent.length = 0;
    await dns.applyZone(ZONE, plan.changes, listed);
    expect(sent).toEqual([]);
  });

  it('splits a record over 255 octets into character-strings that round-trip through BIND', async () => {
    const { dns } = provider();
    const rua = Array.from({ length: 14 }, (_, index) => `mailto:aggregate-reports-${index}@reports.example.test`).join(',');
    const long = `v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=s; rua=${rua}`;
    expect(new TextEncoder().encode(long).length).toBeGreaterThan(600);
    const name = `_dmarc.long.${ZONE}`;
    await dns.applyZone(ZONE, [change({ action: 'create', name, before: null, after: [long] })], []);

    const expected = splitCharacterStrings(long);
    expect(expected.length).toBeGreaterThanOrEqual(3);
    for (const piece of expected) expect(new TextEncoder().encode(piece).length).toBeLessThanOrEqual(255);
    expect((await dns.listTxt(ZONE, [name])).map(withoutId)).toEqual([{ name, ttl: 300, value: long, strings: expected }]);
    expect(await served(name)).toEqual([expected]);
    expect(await dig('TXT', name)).toEqual([expected.map((piece) => JSON.stringify(piece)).join(' ')]);
  });

  it('writes quotes, backslashes and non-ASCII as octets, reads them back, and deletes them exactly', async () => {
    const { dns } = provider();
    const odd = 'v=DMARC1; p=none; x="quoted" \\back\\slash; note=café';
    const name = `_dmarc.odd.${ZONE}`;
    await dns.applyZone(ZONE, [change({ action: 'create', name, before: null, after: [odd] })], []);
    expect(await dig('TXT', name)).toEqual(['"v=DMARC1; p=none; x=\\"quoted\\" \\\\back\\\\slash; note=caf\\195\\169"']);
    const listed = await dns.listTxt(ZONE, [name]);
    expect(listed.map(withoutId)).toEqual([{ name, ttl: 300, value: odd, strings: [odd] }]);
    await dns.applyZone(ZONE, [change({ action: 'delete', name, before: [odd], after: null })], listed);
    expect(await served(name)).toEqual([]);
  });

  it('changes the TTL of the RRset (one TTL per RRset, RFC 2181 §5.2) and keeps the other TXT there', async () => {
    const { dns } = provider();
    const current = await dns.listTxt(ZONE, [NAMES.legacy]);
    const longer = change({
      action: 'update',
      name: NAMES.legacy,
      before: ['v=DMARC1; p=none'],
      after: ['v=DMARC1; p=none'],
      ttlBefore: 900,
      ttlAfter: 3600,
    });
    await dns.applyZone(ZONE, [longer], current);
    expect((await dns.listTxt(ZONE, [NAMES.legacy])).map(withoutId).sort(byNameValue)).toEqual([
      { name: NAMES.legacy, ttl: 3600, value: 'ms=12345', strings: ['ms=12345'] },
      { name: NAMES.legacy, ttl: 3600, value: 'v=DMARC1; p=none', strings: ['v=DMARC1; p=none'] },
    ]);
  });

  it('is safe against concurrent edits: a changed RRset fails the prerequisite (NXRRSET) and nothing in the zone is written', async () => {
    const { dns } = provider();
    const current = await dns.listTxt(ZONE, [NAMES.policy, NAMES.sub]);
    // Someone else edits _dmarc between the read and the write.
    await bind.nsupdate([`zone ${ZONE}`, `update add ${NAMES.policy} 300 TXT "v=DMARC1; p=none; rua=mailto:someone-else@example.test"`]);
    const zone = await bind.zoneRecords(ZONE);
    const error = await failure(
      dns.applyZone(
        ZONE,
        [
          change({ action: 'update', name: NAMES.policy, before: [DUPLICATE, STALE], after: [NEW] }),
          change({ action: 'create', name: NAMES.sub, before: null, after: [SUB] }),
        ],
        current,
      ),
    );
    expect(error?.message).toMatch(
      new RegExp(
        String.raw`^RFC 2136 server 127\.0\.0\.1:\d+: updating zone example\.test \(_dmarc\.example\.test, _dmarc\.sub\.example\.test\): ` +
          String.raw`nothing was written: .*NXRRSET\); plan again$`,
      ),
    );
    expect(await bind.zoneRecords(ZONE)).toEqual(zone); // the create in the same message did not happen either
  });

  it('fails a create with YXRRSET when records appeared since the read, and names a CNAME there (BIND would ignore the TXT silently)', async () => {
    const { dns } = provider();
    await bind.nsupdate([`zone ${ZONE}`, `update add ${NAMES.sub} 300 TXT "v=DMARC1; p=none"`]);
    let zone = await bind.zoneRecords(ZONE);
    const appeared = await failure(dns.applyZone(ZONE, [change({ action: 'create', name: NAMES.sub, before: null, after: [SUB] })], []));
    expect(appeared?.message).not.toMatch(/is a CNAME/);
    expect(appeared?.message).toMatch(
      /nothing was written: TXT records or a CNAME now exist at a name where the plan read none \(prerequisite failed: YXRRSET\)/,
    );
    expect(await bind.zoneRecords(ZONE)).toEqual(zone);

    zone = await bind.zoneRecords(ZONE);
    const listed = await dns.listTxt(ZONE, [NAMES.alias]);
    expect(listed).toEqual([]);
    const cname = await failure(dns.applyZone(ZONE, [change({ action: 'create', name: NAMES.alias, before: null, after: [SUB] })], listed));
    expect(cname?.message).toMatch(
      new RegExp(
        String.raw`nothing was written: _dmarc\.alias\.example\.test is a CNAME to dmarc\.provider\.example, ` +
          'and DNS allows no TXT record beside a CNAME .*; remove the CNAME',
      ),
    );
    expect(cname).toMatchObject({ rcode: 'YXRRSET' });
    expect(await bind.zoneRecords(ZONE)).toEqual(zone);
  });

  it('refuses a change whose records are not in the listing it is given', async () => {
    const { dns } = provider();
    await expect(
      dns.applyZone(ZONE, [change({ action: 'delete', name: NAMES.old, before: ['v=DMARC1; p=none'], after: null })], []),
    ).rejects.toThrow(/cannot delete _dmarc\.old\.example\.test: "v=DMARC1; p=none" is not among the records listed there; plan again/);
  });

  it('splits a zone into several UPDATE messages only when it does not fit in one, each all or nothing', async () => {
    const { dns, sent } = provider({ maxMessageOctets: 400 });
    const names = Array.from({ length: 4 }, (_, index) => `_dmarc.host${index}.${ZONE}`);
    await dns.applyZone(
      ZONE,
      names.map((name) => change({ action: 'create', name, before: null, after: [`${SUB}; pct=${names.indexOf(name) + 1}`] })),
      [],
    );
    expect(sent.length).toBeGreaterThan(1);
    expect(sent.every((messages) => messages.length === 1 && messages[0]?.opcode === OPCODE.UPDATE)).toBe(true);
    for (const [index, name] of names.entries()) expect(await served(name)).toEqual([[`${SUB}; pct=${index + 1}`]]);
  });

  it('names the TSIG problem without showing the secret: wrong secret (BADSIG), unknown key (BADKEY), clock (BADTIME)', async () => {
    const wrongSecret = Buffer.alloc(32, 7).toString('base64');
    const wrong = provider({ key: { ...bind.key, secret: wrongSecret } }).dns;
    const reading = await failure(wrong.listTxt(ZONE, ASKED));
    expect(reading?.message).toMatch(
      new RegExp(
        String.raw`^RFC 2136 server 127\.0\.0\.1:\d+: reading TXT records in zone example\.test: ` +
          String.raw`the server rejected the request's TSIG signature \(BADSIG\): DMARCOPS_RFC2136_KEY_SECRET or`,
      ),
    );
    expect(reading).toMatchObject({ rcode: 'NOTAUTH', tsigError: 'BADSIG' });
    const zone = await bind.zoneRecords(ZONE);
    const writing = await failure(wrong.applyZone(ZONE, [change({ action: 'create', name: NAMES.sub, before: null, after: [SUB] })], []));
    expect(writing?.message).toMatch(/updating zone example\.test \(_dmarc\.sub\.example\.test\): .*BADSIG/);
    for (const error of [reading, writing]) {
      expect(error?.message).not.toContain(wrongSecret);
      expect(error?.message).not.toContain(bind.key.secret);
    }
    expect(await bind.zoneRecords(ZONE)).toEqual(zone);

    const unknown = provider({ key: { ...bind.key, name: 'no-such-key' } }).dns;
    await expect(unknown.listTxt(ZONE, ASKED)).rejects.toThrow(
      /the server does not know the TSIG key \(BADKEY\): check DMARCOPS_RFC2136_KEY_NAME/,
    );

    const late = provider({ now: () => Math.floor(Date.now() / 1000) + 3600 }).dns;
    const skewed = await failure(late.listTxt(ZONE, ASKED));
    expect(skewed?.message).toMatch(/clock and this machine's differ by more than 300 s \(BADTIME\) \(the server's clock says \d{4}-/);
  });

  it('reports a key that may not update (REFUSED), a zone the server does not serve, and a name delegated away', async () => {
    const readOnly = provider({ key: bind.readOnlyKey }).dns;
    expect((await readOnly.listTxt(ZONE, [NAMES.old])).map((record) => record.value)).toEqual(['v=DMARC1; p=reject']);
    const refused = await failure(
      readOnly.applyZone(ZONE, [change({ action: 'create', name: NAMES.sub, before: null, after: [SUB] })], []),
    );
    expect(refused?.message).toMatch(
      /the server refused the update \(REFUSED\): its update-policy \(or allow-update\) must let key read-only change TXT records/,
    );
    expect(refused).toMatchObject({ rcode: 'REFUSED' });

    const { dns } = provider();
    await expect(dns.listTxt('missing.test', ['_dmarc.missing.test'])).rejects.toThrow(
      /reading TXT at _dmarc\.missing\.test: the server refused the query \(REFUSED\): it does not serve zone missing\.test/,
    );
    await expect(
      dns.applyZone(
        'missing.test',
        [change({ zone: 'missing.test', action: 'create', name: '_dmarc.missing.test', before: null, after: [SUB] })],
        [],
      ),
    ).rejects.toThrow(
      /updating zone missing\.test .*the server is not authoritative for zone missing\.test \(NOTAUTH\): point DMARCOPS_RFC2136_SERVER at the zone's primary/,
    );
    await expect(dns.listTxt(ZONE, [NAMES.delegated])).rejects.toThrow(
      /the answer about _dmarc\.delegated\.example\.test is not authoritative/,
    );
  });

  it('rejects answers whose TSIG does not verify: altered on the way, or not signed', async () => {
    const flipLastTxtOctet = (answer: Buffer): Buffer => {
      const decoded = decodeMessage(answer);
      const record = decoded.answers.find((item) => item.type === RR_TYPE.TXT);
      if (record === undefined) return answer;
      const altered = Buffer.from(answer);
      const at = answer.indexOf(Buffer.from(record.data)) + record.data.length - 1;
      altered[at] = (altered[at] ?? 0) ^ 0x01;
      return altered;
    };
    const altered = provider({ alter: flipLastTxtOctet }).dns;
    await expect(altered.listTxt(ZONE, [NAMES.old])).rejects.toThrow(
      /the answer's TSIG signature does not verify \(its MAC does not match \(not signed with this key\)\)/,
    );

    const stripSignature = (answer: Buffer): Buffer => {
      const tsig = decodeMessage(answer).tsig;
      if (tsig === undefined) return answer;
      const stripped = Buffer.from(answer.subarray(0, tsig.offset));
      stripped.writeUInt16BE(stripped.readUInt16BE(10) - 1, 10);
      return stripped;
    };
    const unsigned = provider({ alter: stripSignature }).dns;
    await expect(unsigned.listTxt(ZONE, [NAMES.old])).rejects.toThrow(/the answer is not TSIG-signed, so it cannot be trusted/);
    // The server did apply this update; only its answer was stripped on the way: the error says it may have been.
    await expect(unsigned.applyZone(ZONE, [change({ action: 'create', name: NAMES.sub, before: null, after: [SUB] })], [])).rejects.toThrow(
      /not TSIG-signed, so it cannot be trusted .*; the update may have been applied: plan again to see$/,
    );
    expect(await served(NAMES.sub)).toEqual([[SUB]]);
  });

  it('names the address when nothing listens', async () => {
    const port = await closedPort();
    const dns = createRfc2136Provider({
      server: { host: '127.0.0.1', port },
      key: { name: 'k', algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 1) },
    });
    await expect(dns.listTxt(ZONE, ASKED)).rejects.toThrow(
      `RFC 2136 server 127.0.0.1:${port}: reading TXT records in zone example.test failed: ` +
        'connection refused (is the server listening on TCP at that address and port?)',
    );
  });
});

describe('rfc2136 settings and update building', () => {
  const env = {
    DMARCOPS_RFC2136_SERVER: '192.0.2.53',
    DMARCOPS_RFC2136_KEY_NAME: 'dmarcops.',
    DMARCOPS_RFC2136_KEY_SECRET: Buffer.alloc(32, 9).toString('base64'),
  };

  it('reads the server and the key from the environment only, naming what is missing or wrong but never the secret', async () => {
    expect(rfc2136ConfigFromEnv(env)).toEqual({
      server: { host: '192.0.2.53', port: 53 },
      key: { name: 'dmarcops', algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 9) },
    });
    expect(rfc2136ConfigFromEnv({ ...env, DMARCOPS_RFC2136_KEY_ALGORITHM: 'HMAC-SHA512.' }).key.algorithm).toBe('hmac-sha512');
    expect(() => rfc2136ConfigFromEnv({})).toThrow(
      /missing environment variables DMARCOPS_RFC2136_SERVER, DMARCOPS_RFC2136_KEY_NAME, DMARCOPS_RFC2136_KEY_SECRET/,
    );
    expect(() => rfc2136ConfigFromEnv({ ...env, DMARCOPS_RFC2136_KEY_SECRET: '' })).toThrow(
      /missing environment variable DMARCOPS_RFC2136_KEY_SECRET \(/,
    );
    const notBase64 = 'not base64 at all!';
    const error = (() => {
      try {
        rfc2136ConfigFromEnv({ ...env, DMARCOPS_RFC2136_KEY_SECRET: notBase64 });
      } catch (caught) {
        return caught as Error;
      }
      return undefined;
    })();
    expect(error?.message).toMatch(/DMARCOPS_RFC2136_KEY_SECRET is not base64/);
    expect(error?.message).not.toContain(notBase64);
    expect(() => rfc2136ConfigFromEnv({ ...env, DMARCOPS_RFC2136_KEY_ALGORITHM: 'hmac-md5' })).toThrow(
      /HMAC-MD5 is deprecated by RFC 8945 §6/,
    );
    expect(() => rfc2136ConfigFromEnv({ ...env, DMARCOPS_RFC2136_KEY_NAME: 'a key' })).toThrow(
      /DMARCOPS_RFC2136_KEY_NAME is not a valid key name/,
    );
    await expect(providerFor('rfc2136', {})).rejects.toThrow(/DMARCOPS_RFC2136_SERVER/);
    expect((await providerFor('rfc2136', env)).name).toBe('rfc2136');
  });

  it('takes host, host:port, [IPv6]:port and a bare IPv6 address as the server', () => {
    expect(parseServer('ns1.example.com')).toEqual({ host: 'ns1.example.com', port: 53 });
    expect(parseServer('127.0.0.1:5353')).toEqual({ host: '127.0.0.1', port: 5353 });
    expect(parseServer('[2001:db8::53]:5353')).toEqual({ host: '2001:db8::53', port: 5353 });
    expect(parseServer('[2001:db8::53]')).toEqual({ host: '2001:db8::53', port: 53 });
    expect(parseServer('2001:db8::53')).toEqual({ host: '2001:db8::53', port: 53 });
    expect(() => parseServer('127.0.0.1:70000')).toThrow(/invalid port/);
    expect(() => parseServer('ns1.example.com:')).toThrow(/invalid port/);
    expect(() => parseServer('[ns1.example.com]:53')).toThrow(/not an IPv6 address/);
    expect(() => parseServer('https://ns1.example.com')).toThrow(/DMARCOPS_RFC2136_SERVER/);
  });

  it('states the RRset as listed in the prerequisites and deletes only the owned RRs', () => {
    const listed: TxtRecord[] = [
      { name: NAMES.policy, ttl: 300, value: STALE, strings: [STALE] },
      { name: NAMES.policy, ttl: 300, value: UNRELATED, strings: [UNRELATED] },
    ];
    const piece = updatePiece(change({ action: 'update', name: NAMES.policy, before: [STALE], after: [NEW] }), listed);
    const txt = (data: Uint8Array) =>
      decodeTxtData(data)
        .map((octets) => Buffer.from(octets).toString('utf8'))
        .join('');
    expect(piece?.prerequisites.map((record) => ({ class: record.class, ttl: record.ttl, value: txt(record.data) }))).toEqual([
      { class: 1, ttl: 0, value: STALE },
      { class: 1, ttl: 0, value: UNRELATED },
    ]);
    expect(piece?.updates.map((record) => ({ class: record.class, ttl: record.ttl, value: txt(record.data) }))).toEqual([
      { class: 254, ttl: 0, value: STALE },
      { class: 1, ttl: 300, value: NEW },
    ]);
    // Where there is no TXT: "RRset does not exist" and "no CNAME" (class NONE, no RDATA).
    const create = updatePiece(change({ action: 'create', name: NAMES.sub, before: null, after: [SUB] }), []);
    expect(create?.prerequisites.map((record) => [record.type, record.class, record.data.length])).toEqual([
      [RR_TYPE.TXT, 254, 0],
      [RR_TYPE.CNAME, 254, 0],
    ]);
    // Nothing to do: no piece.
    expect(updatePiece(change({ action: 'update', name: NAMES.policy, before: [STALE], after: [STALE] }), listed)).toBeUndefined();
  });

  it('packs pieces into as few messages as fit, never splitting a name', () => {
    const pieces = ['a', 'b', 'c'].map((label) =>
      updatePiece(change({ action: 'create', name: `_dmarc.${label}.${ZONE}`, before: null, after: [SUB] }), []),
    );
    const defined = pieces.filter((piece) => piece !== undefined);
    expect(packPieces(ZONE, defined).map((group) => group.length)).toEqual([3]);
    expect(packPieces(ZONE, defined, 200).map((group) => group.map((piece) => piece.name))).toEqual([
      [`_dmarc.a.${ZONE}`],
      [`_dmarc.b.${ZONE}`],
      [`_dmarc.c.${ZONE}`],
    ]);
    expect(() => packPieces(ZONE, defined, 50)).toThrow(/does not fit in one DNS message/);
  });
});
