/**
 * `dmarcops mta-sts check` against a local HTTPS server with certificates from a test CA made in the
 * run: the connection for mta-sts.example.com goes to 127.0.0.1 (injected connect target, the
 * certificate still checked for mta-sts.example.com against the test CA only), DNS answers come from
 * an injected resolver. A correct site passes; wrong content, wrong id, an expired or wrong-name
 * certificate, a redirect and a wrong media type each give their own finding.
 */
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Command } from '../../scripts/cli/command.ts';
import { makeMtaStsCommand } from '../../scripts/cli/mta-sts.ts';
import type { DomainCheck } from '../../scripts/mtasts/check.ts';
import { formatMtaStsPolicy, mtaStsId } from '../../scripts/policy/mtasts.ts';
import type { TxtLookup } from '../../scripts/policy/orgdomain.ts';
import { captureOutput } from '../helpers/output.ts';
import { makeTestCa } from '../services/test-ca.ts';
import type { TestCa } from '../services/test-ca.ts';
import { parseCommandLine } from '../../scripts/cli.ts';

const POLICY = { mode: 'enforce' as const, mx: ['mx1.example.com', '*.mail.example.com'], maxAge: 604800 };
const TEXT = formatMtaStsPolicy(POLICY);
const ID = mtaStsId(POLICY);
const DOMAIN_FILE =
  '# yaml-language-server: $schema=../scripts/policy/domain.schema.json\npolicy: reject\n' +
  'reports: [dmarc@example.com]\nowners: ["@o/t"]\ntls_reports: [tls@example.com]\nmta_sts:\n' +
  '  mode: enforce\n  mx: [mx1.example.com, "*.mail.example.com"]\n  max_age: 604800\n';

interface Site {
  cert: { cert: string; key: string };
  status?: number;
  headers?: Record<string, string>;
  body?: string;
}

let ca: TestCa;
let dir: string;
let good: { cert: string; key: string };
beforeAll(async () => {
  ca = await makeTestCa();
  good = await ca.issue({ names: ['mta-sts.example.com'] });
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-mta-sts-check-'));
  await mkdir(join(dir, 'domains'));
  await writeFile(join(dir, 'domains/example.com.yaml'), DOMAIN_FILE);
}, 60_000);
afterAll(async () => {
  await ca?.remove();
  await rm(dir, { recursive: true, force: true });
});

/** An HTTPS server on 127.0.0.1 answering every request with the site's status, headers and body. */
async function serve(site: Site): Promise<{ server: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer({ cert: site.cert.cert, key: site.cert.key }, (request, response) => {
    paths.push(request.url ?? '');
    response.writeHead(site.status ?? 200, site.headers ?? { 'content-type': 'text/plain; charset=utf-8' });
    response.end(site.body ?? TEXT);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, paths };
}

function txt(records: Record<string, string[]>) {
  return async (name: string): Promise<TxtLookup> => {
    const values = records[name];
    return values === undefined ? { status: 'nxdomain' } : { status: 'found', records: values.map((value) => [value]) };
  };
}
const DNS = { '_mta-sts.example.com': [`v=STSv1; id=${ID}`], '_smtp._tls.example.com': ['v=TLSRPTv1; rua=mailto:tls@example.com'] };

async function check(
  site: Site,
  dns: Record<string, string[]> = DNS,
  json = true,
): Promise<{ code: number; results: DomainCheck[]; text: string; paths: string[] }> {
  const { server, port, paths } = await serve(site);
  try {
    const command: Command = makeMtaStsCommand({
      txt: txt(dns),
      fetch: { ca: ca.cert, connect: (host) => (host === 'mta-sts.example.com' ? { address: '127.0.0.1', port } : undefined) },
    });
    const args = ['check', '--domains', join(dir, 'domains'), ...(json ? ['--json'] : [])];
    const { values, positionals } = parseCommandLine(command, args);
    const output = captureOutput();
    const code = await command.run(values, positionals, { args, output, env: {}, cwd: process.cwd() });
    return { code, results: json ? (JSON.parse(output.text()) as DomainCheck[]) : [], text: output.text(), paths };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const codes = (results: DomainCheck[]) => results.flatMap((result) => result.findings.map((finding) => finding.code));

describe('mta-sts check against a local HTTPS server', () => {
  test('a correct site passes: the policy at the well-known path, over TLS valid for the name, the id in DNS', async () => {
    const { code, results, paths } = await check({ cert: good });
    expect(codes(results)).toEqual([]);
    expect(code).toBe(0);
    expect(results[0]).toMatchObject({
      domain: 'example.com',
      ok: true,
      dnsIds: [ID],
      served: { status: 200, contentType: 'text/plain; charset=utf-8', bytes: TEXT.length },
    });
    expect(paths).toEqual(['/.well-known/mta-sts.txt']);
  });

  test('wrong content (the repository changed, nothing deployed yet): the differences are named', async () => {
    const old = { ...DNS, '_mta-sts.example.com': ['v=STSv1; id=old1'] };
    const { code, results } = await check(
      { cert: good, body: TEXT.replace('mode: enforce', 'mode: testing').replace('mx: mx1.example.com\r\n', '') },
      old,
    );
    expect(code).toBe(1);
    expect(codes(results)).toEqual(['sts-id-mismatch', 'content-mismatch']);
    expect(results[0]?.findings[1]?.message).toMatch(/mode testing served, enforce in the repository; mx mx1\.example\.com not served/);
  });

  test('DNS ahead of the host: the new id is announced while the old policy is served', async () => {
    const { results } = await check({ cert: good, body: TEXT.replace('604800', '86400') });
    expect(codes(results)).toEqual(['content-mismatch', 'sts-id-ahead']);
  });

  test('the same policy with LF line ends is a warning, not an error', async () => {
    const { code, results } = await check({ cert: good, body: TEXT.replace(/\r\n/g, '\n') });
    expect(code).toBe(0);
    expect(results[0]?.findings).toMatchObject([{ code: 'content-format', severity: 'warning' }]);
  });

  test('wrong id in DNS', async () => {
    const { code, results } = await check({ cert: good }, { ...DNS, '_mta-sts.example.com': ['v=STSv1; id=20240101'] });
    expect(code).toBe(1);
    expect(codes(results)).toEqual(['sts-id-mismatch']);
    expect(results[0]?.findings[0]?.message).toContain(`announces id 20240101, the repository's policy has id ${ID}`);
  });

  test('no record, two records, and a TLS reporting record that differs', async () => {
    expect(codes((await check({ cert: good }, { '_smtp._tls.example.com': DNS['_smtp._tls.example.com'] })).results)).toEqual([
      'sts-record-missing',
    ]);
    expect(
      codes((await check({ cert: good }, { ...DNS, '_mta-sts.example.com': [`v=STSv1; id=${ID}`, 'v=STSv1; id=old'] })).results),
    ).toEqual(['sts-record-duplicate']);
    expect(
      codes((await check({ cert: good }, { ...DNS, '_smtp._tls.example.com': ['v=TLSRPTv1; rua=mailto:other@example.com'] })).results),
    ).toEqual(['tlsrpt-mismatch']);
  });

  test('an expired certificate', async () => {
    const expired = await ca.issue({
      names: ['mta-sts.example.com'],
      start: new Date('2020-01-01T00:00:00Z'),
      end: new Date('2020-02-01T00:00:00Z'),
    });
    const { code, results, paths } = await check({ cert: expired });
    expect(code).toBe(1);
    expect(codes(results)).toEqual(['certificate-expired']);
    expect(results[0]?.findings[0]?.message).toMatch(/certificate of mta-sts\.example\.com has expired on 2020-02-01T00:00:00\.000Z/);
    expect(paths).toEqual([]); // nothing was asked over a connection that failed verification
  });

  test('a certificate for another name', async () => {
    const other = await ca.issue({ names: ['www.example.com', 'mta-sts.example.net'] });
    const { code, results, paths } = await check({ cert: other });
    expect(code).toBe(1);
    expect(codes(results)).toEqual(['certificate-name-mismatch']);
    expect(results[0]?.findings[0]?.message).toContain('is for DNS:www.example.com, DNS:mta-sts.example.net, not mta-sts.example.com');
    expect(paths).toEqual([]);
  });

  test('a certificate from an authority that is not trusted', async () => {
    const stranger = await makeTestCa();
    try {
      const { results } = await check({ cert: await stranger.issue({ names: ['mta-sts.example.com'] }) });
      expect(codes(results)).toEqual(['certificate-untrusted']);
    } finally {
      await stranger.remove();
    }
  });

  test('a redirect is reported, not followed; another status; another media type; a body too large', async () => {
    const redirect = await check({ cert: good, status: 301, headers: { location: 'https://example.com/mta-sts.txt' }, body: '' });
    expect(codes(redirect.results)).toEqual(['http-redirect']);
    expect(redirect.paths).toEqual(['/.well-known/mta-sts.txt']);
    expect(redirect.results[0]?.findings[0]?.message).toContain('to https://example.com/mta-sts.txt');
    expect(codes((await check({ cert: good, status: 404, body: 'not found' })).results)).toEqual(['http-status']);
    expect(codes((await check({ cert: good, headers: { 'content-type': 'text/html' } })).results)).toEqual(['content-type']);
    expect(codes((await check({ cert: good, body: `${TEXT}${'#'.repeat(70_000)}` })).results)).toEqual(['too-large']);
  });

  test('the text report names each problem; text from the server cannot drive the terminal', async () => {
    const redirect = await check(
      { cert: good, status: 302, headers: { location: 'https://evil.example/x', 'content-type': 'text/plain' }, body: '' },
      DNS,
      false,
    );
    expect(redirect.code).toBe(1);
    expect(redirect.text).toMatch(/^example\.com: problems \(id [0-9a-f]{32}, served 302 text\/plain, 0 bytes\)$/m);
    expect(redirect.text).toMatch(/error: .*answers 302, a redirect to https:\/\/evil\.example\/x.*\[http-redirect; RFC 8461 §3\.3\]/);
    const hostile = await check({ cert: good, body: '\u001b[2J\u001b]0;owned\u0007\n::error::injected\n' }, DNS, false);
    expect(hostile.text).toMatch(
      /error: https:\/\/mta-sts\.example\.com\/\.well-known\/mta-sts\.txt is not a valid policy: line .* is not key: value/,
    );
    expect(hostile.text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(hostile.text).not.toMatch(/^::error::/m);
  });
});
