/**
 * One error model: every error a user can act on is a DmarcopsError whose code is in the catalogue,
 * docs/errors.md is generated from the catalogue, and the single exit path prints code, hint and (with
 * --debug) the stack and causes. Bare `throw new Error` is left only for internal invariants, pinned here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { main, reportError } from '../scripts/cli.ts';
import { errorsMarkdown } from '../scripts/cli/errors.ts';
import { BUG_REPORT, ERRORS } from '../scripts/lib/error-catalogue.ts';
import { catalogueError, DmarcopsError, EXIT } from '../scripts/lib/errors.ts';
import { DnsProviderError } from '../scripts/dns/providers/cloudflare.ts';
import { PowerDnsApiError } from '../scripts/dns/providers/powerdns.ts';
import { Rfc2136Error } from '../scripts/dns/providers/rfc2136.ts';
import { ParseError } from '../scripts/reports/parse/errors.ts';
import { TlsParseError } from '../scripts/reports/parse/tls/errors.ts';
import { ImapSourceError } from '../scripts/reports/sources/imap.ts';
import { StoreRefusal } from '../scripts/reports/store/index.ts';
import { UnpackError } from '../scripts/reports/unpack/types.ts';
import { captureOutput } from './helpers/output.ts';

const CATALOGUE = 'scripts/lib/error-catalogue.ts';

function sources(dir: string): { path: string; text: string }[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort()
    .map((path) => ({ path, text: readFileSync(path, 'utf8') }));
}

const scripts = sources('scripts');

/**
 * The bare `throw new Error(` left in scripts/, per file: internal invariants (a caller inside dmarcops
 * broke a contract: no user can fix it, so the exit path asks for a bug report), or errors caught and
 * rethrown with a catalogue code (IMAP commands → imap-*, ZIP → corrupt, DNS names → the provider's
 * config error, review records → a note, sandbox seeds → sandbox-zones-invalid). A new one fails this
 * test: give it a catalogue code, or add it here with the reason.
 */
const INTERNAL_THROWS: Record<string, number> = {
  'scripts/alerts/rules/new-source.ts': 2, // an authentication result or domain file the query itself numbered
  'scripts/cli/docs.ts': 1, // the README lost its generated-table markers (contributors only)
  'scripts/cli/plan.ts': 1, // planOption asked for an option PLAN_OPTIONS does not have
  'scripts/demo/history.ts': 2, // the demo generator's own arguments
  'scripts/digest/week.ts': 2, // not an ISO week: `digest --week` rethrows it as a usage error naming the option
  'scripts/dns/plan.ts': 1, // planning before every zone was listed
  'scripts/dns/providers/dns-wire.ts': 8, // encoding a message dmarcops built; key names are checked (and coded) by rfc2136
  'scripts/dns/providers/index.ts': 2, // a provider module that does not load or lacks providerFromEnv
  'scripts/dns/providers/powerdns.ts': 7, // changes that are not the planner's (wrong zone, not TXT, twice, no TTL)
  'scripts/dns/removed.ts': 1, // a commit that is not a sha, from git itself
  'scripts/dns/sandbox/cloudflare-state.ts': 5, // seed errors, rethrown as sandbox-zones-invalid with the file
  'scripts/github/comment.ts': 2, // a marker dmarcops wrote itself
  'scripts/github/issues.ts': 2, // an alert key or ISO week dmarcops made itself, checked before it goes into a marker
  'scripts/github/propose.ts': 1, // proposing for an alert that carries no proposal (the command filters them)
  'scripts/github/review.ts': 7, // a review record that does not parse: caught, becomes a note on that pull request
  'scripts/impact/index.ts': 4, // a window the command line checked; replay keys and rows the query itself produced
  'scripts/mtasts/site.ts': 1, // a domain the schema already checked
  'scripts/reports/enrich/asn.ts': 2, // the packaged ASN data is broken
  'scripts/reports/enrich/senders.ts': 1, // the shipped senders.json is broken
  'scripts/reports/parse/index.ts': 1, // records iterated twice
  'scripts/reports/sources/imap.ts': 7, // IMAP command results, rethrown as imap-fetch / imap-move
  'scripts/reports/store/compact.ts': 1, // row count check after writing
  'scripts/reports/store/duck.ts': 1, // a closed connection used
  'scripts/reports/store/index.ts': 7, // run and dataset lifecycle misuse, row count check
  'scripts/reports/store/layout.ts': 2, // ids and months the callers validate first
  'scripts/reports/store/ledger.ts': 2, // a day the CLI validates first
  'scripts/reports/store/quarantine.ts': 1, // an outcome that is never quarantined
  'scripts/reports/store/scrub.ts': 1, // row count check after writing
  'scripts/reports/store/staging.ts': 3, // a record larger than the parser allows; a closed file; a column without a staging expression
  'scripts/reports/unpack/mailbox.ts': 1, // splitMailbox on a path mailboxKind did not recognise
  'scripts/reports/unpack/zip.ts': 5, // damaged archives, rethrown as the `corrupt` refusal
  'scripts/site/rollups/classes.ts': 1, // an index into the domain list that is not there
};

describe('the catalogue', () => {
  test('docs/errors.md is generated from it (regenerate with `npm run docs`)', () => {
    expect(readFileSync('docs/errors.md', 'utf8')).toBe(`${errorsMarkdown().trimEnd()}\n`);
  });

  test('every code thrown in scripts/ is in it', () => {
    const thrown = new Set<string>();
    const patterns = [
      /new (?:DmarcopsError|ParseError|TlsParseError|UnpackError|StoreRefusal)\(\s*'([a-z0-9-]+)'/g,
      /catalogueError\(\s*'([a-z0-9-]+)'/g,
      /code: '(dns-[a-z0-9-]+)'/g,
      /new ImapSourceError\(\s*'([a-z]+)'/g,
      /\bfail\(\s*'([a-z0-9-]+)'/g,
    ];
    for (const { path, text } of scripts) {
      if (path === CATALOGUE) continue;
      for (const pattern of patterns) {
        for (const match of text.matchAll(pattern))
          thrown.add(
            pattern.source.includes('ImapSourceError') || (path.endsWith('imap.ts') && pattern.source.includes('fail'))
              ? `imap-${match[1]}`
              : match[1]!,
          );
      }
    }
    expect(thrown.size).toBeGreaterThan(40);
    const missing = [...thrown].filter((code) => !Object.hasOwn(ERRORS, code) && !/^(?:[a-z]+-)?(?:ok|error)$/.test(code));
    expect(missing, 'codes thrown but not in scripts/lib/error-catalogue.ts').toEqual([]);
  });

  test('every entry is raised somewhere (no entry documents an error that cannot happen)', () => {
    const code = scripts
      .filter(({ path }) => path !== CATALOGUE)
      .map(({ text }) => text)
      .join('\n');
    const imapKinds = /export type ImapErrorKind = ([^;]+);/.exec(code)?.[1] ?? '';
    const unused = Object.keys(ERRORS).filter((name) => {
      if (name === 'usage') return !code.includes('usageError(');
      if (name.startsWith('imap-')) return !imapKinds.includes(`'${name.slice('imap-'.length)}'`);
      return !code.includes(`'${name}'`);
    });
    expect(unused).toEqual([]);
  });

  test('each entry says what happened, when, and what to do', () => {
    for (const [code, entry] of Object.entries(ERRORS)) {
      expect(code, 'codes are kebab-case').toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/);
      expect(entry.title.length, code).toBeGreaterThan(3);
      expect(entry.title, `${code}: a title is a phrase, without a full stop`).not.toMatch(/\.$/);
      expect(entry.when.length, code).toBeGreaterThan(10);
      expect(entry.hint.length, code).toBeGreaterThan(10);
      expect(`${entry.title} ${entry.when} ${entry.hint}`, code).not.toMatch(/\bOops\b/i);
    }
  });

  test('bare `throw new Error` is left only where listed as internal', () => {
    const counts: Record<string, number> = {};
    for (const { path, text } of scripts) {
      const found = text.match(/throw new Error\(/g)?.length ?? 0;
      if (found > 0) counts[path] = found;
    }
    expect(counts).toEqual(INTERNAL_THROWS);
  });

  test('the error classes of the stages are DmarcopsErrors with catalogue codes and hints', () => {
    const errors = [
      new ParseError('not-xml', 'not XML', 'a.xml'),
      new TlsParseError('malformed-json', 'bad', 'b.json'),
      new UnpackError('limit-ratio', 'too compressed', ['m.eml', 'r.zip']),
      new ImapSourceError('auth', 'login refused'),
      new DnsProviderError('refused', { provider: 'cloudflare', zone: 'example.com', status: 403 }),
      new PowerDnsApiError('x', { status: 404, method: 'GET', path: '/zones/x', detail: '' }),
      new Rfc2136Error('x', { rcode: 'NXRRSET' }),
      new StoreRefusal('rows-too-large', 'row 1 of its rows would take 70000 characters'),
    ];
    expect(errors.map((error) => error.code)).toEqual([
      'not-xml',
      'malformed-json',
      'limit-ratio',
      'imap-auth',
      'dns-provider-auth',
      'dns-zone-not-found',
      'dns-zone-changed',
      'rows-too-large',
    ]);
    for (const error of errors) {
      expect(error).toBeInstanceOf(DmarcopsError);
      expect(error.hint).toBe(ERRORS[error.code].hint);
    }
    // The ledger's reason codes stay what they were; the location says which input.
    expect(errors[0]!.message).toBe('a.xml: not XML');
    expect(errors[0]!.location).toEqual({ source: 'a.xml' });
    expect(errors[2]!.location).toEqual({ source: 'm.eml › r.zip' });
  });
});

describe('the single exit path', () => {
  test('a DmarcopsError: message with its code, the location when the message lacks it, the hint, its exit code', () => {
    const output = captureOutput();
    const error = catalogueError(
      'domain-not-found',
      { name: 'example.org', dir: 'domains' },
      { location: { file: 'plan.json', line: 3, col: 7 } },
    );
    expect(reportError(error, 'dmarcops record', output, false)).toBe(EXIT.findings);
    expect(output.stderr).toEqual([
      'dmarcops record: no domain file for example.org in domains; create one with `dmarcops new example.org` [domain-not-found]',
      '  at plan.json:3:7',
      `hint: ${ERRORS['domain-not-found'].hint}`,
    ]);
  });

  test('--debug adds the stack and every cause; without it there is no stack', () => {
    const root = new Error('ECONNRESET from the server');
    const error = new DmarcopsError('dns-provider-failed', 'cloudflare zone example.com: listing failed', {
      cause: new Error('fetch failed', { cause: root }),
    });
    const quiet = captureOutput();
    reportError(error, 'dmarcops plan', quiet, false);
    expect(quiet.stderr.join('\n')).not.toMatch(/\n\s+at /);
    const loud = captureOutput();
    reportError(error, 'dmarcops plan', loud, true);
    const text = loud.stderr.join('\n');
    expect(text).toMatch(/^DmarcopsError: cloudflare zone example\.com: listing failed\n\s+at /m);
    expect(text).toMatch(/^caused by: Error: fetch failed\n\s+at /m);
    expect(text).toMatch(/^caused by: Error: ECONNRESET from the server/m);
  });

  test('an unexpected error says it is a bug and where to report it; an operating-system error says what it is', () => {
    const bug = captureOutput();
    expect(reportError(new TypeError('x is undefined'), 'dmarcops plan', bug, false)).toBe(EXIT.findings);
    expect(bug.stderr).toEqual(['dmarcops plan: x is undefined', BUG_REPORT]);
    const system = captureOutput();
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
    reportError(enospc, 'dmarcops ingest', system, false);
    expect(system.stderr[0]).toBe('dmarcops ingest: ENOSPC: no space left on device, write [system-error]');
    expect(system.stderr[1]).toBe(`hint: ${ERRORS['system-error'].hint}`);
  });

  test('through main: a real failure, with --debug after the command name or DMARCOPS_DEBUG', async () => {
    const plain = captureOutput();
    expect(await main(['record', '--domains', '/nonexistent/domains'], plain, {})).toBe(1);
    expect(plain.stderr[0]).toMatch(
      /^dmarcops record: cannot read the domains folder \/nonexistent\/domains: ENOENT.* \[domains-unreadable\]$/,
    );
    expect(plain.stderr[1]).toBe(`hint: ${ERRORS['domains-unreadable'].hint}`);
    expect(plain.stderr).toHaveLength(2);
    for (const [argv, env] of [
      [['record', '--domains', '/nonexistent/domains', '--debug'], {}],
      [['record', '--domains', '/nonexistent/domains'], { DMARCOPS_DEBUG: '1' }],
    ] as const) {
      const debug = captureOutput();
      expect(await main([...argv], debug, env)).toBe(1);
      expect(debug.stderr.join('\n')).toMatch(/^caused by: Error: ENOENT: no such file or directory/m);
    }
  });

  test('`dmarcops errors <code>` explains a code; an unknown code is a usage error', async () => {
    const output = captureOutput();
    expect(await main(['errors', 'dns-zone-changed'], output, {})).toBe(0);
    expect(output.text()).toContain(`hint: ${ERRORS['dns-zone-changed'].hint}`);
    const json = captureOutput();
    expect(await main(['errors', '--json'], json, {})).toBe(0);
    expect((JSON.parse(json.text()) as { code: string }[]).map((entry) => entry.code)).toEqual(Object.keys(ERRORS));
    const unknown = captureOutput();
    expect(await main(['errors', 'no-such-code'], unknown, {})).toBe(2);
  });
});
