/**
 * `dmarcops mta-sts build` over the MTA-STS table of domain files: the policy files byte for byte as in
 * the golden file, what a static host needs beside them, and a round trip: the built folder served as
 * a static site over HTTPS (test CA) passes `mta-sts check`.
 */
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main, parseCommandLine } from '../../scripts/cli.ts';
import { makeMtaStsCommand } from '../../scripts/cli/mta-sts.ts';
import { captureOutput } from '../helpers/output.ts';
import { makeTestCa } from '../services/test-ca.ts';
import type { TxtLookup } from '../../scripts/policy/orgdomain.ts';

const TABLE = 'test/fixtures/domains/mta-sts-table';
let out: string;
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'dmarcops-mta-sts-build-'));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe('dmarcops mta-sts build', () => {
  test('one folder per domain with mta_sts, the policy byte for byte as the golden file says', async () => {
    const output = captureOutput();
    expect(await main(['mta-sts', 'build', '--domains', TABLE, '--out', out], output, {})).toBe(0);
    const golden = JSON.parse(await readFile('test/golden/mta-sts/policy-files.json', 'utf8')) as {
      domain: string;
      bytes: string;
      id: string;
    }[];
    expect((await readdir(out)).sort()).toEqual([...golden.map((entry) => entry.domain), 'manifest.json'].sort());
    for (const entry of golden) {
      const bytes = await readFile(join(out, entry.domain, '.well-known', 'mta-sts.txt'));
      expect(bytes.equals(Buffer.from(entry.bytes, 'utf8'))).toBe(true);
      expect(await readFile(join(out, entry.domain, 'CNAME'), 'utf8')).toBe(`mta-sts.${entry.domain}\n`);
      expect(await readFile(join(out, entry.domain, '.nojekyll'), 'utf8')).toBe('');
      expect(await readFile(join(out, entry.domain, '.gitattributes'), 'utf8')).toBe('.well-known/mta-sts.txt -text\n');
      expect(await readFile(join(out, entry.domain, '_headers'), 'utf8')).toContain('Content-Type: text/plain');
    }
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as { domains: { domain: string; id: string }[] };
    expect(manifest.domains.map(({ domain, id }) => ({ domain, id }))).toEqual(golden.map(({ domain, id }) => ({ domain, id })));
    expect(output.text()).toContain(`${golden.length} policy files in ${out}`);
    // tls-only.example and many-tls.example have no mta_sts: no folder.
    expect(golden.map((entry) => entry.domain)).not.toContain('tls-only.example');
  });

  test('a folder left from a domain that no longer has mta_sts is named, not deleted', async () => {
    await mkdir(join(out, 'gone.example', '.well-known'), { recursive: true });
    await writeFile(join(out, 'gone.example', '.well-known', 'mta-sts.txt'), 'version: STSv1\r\n');
    const output = captureOutput();
    expect(await main(['mta-sts', 'build', '--domains', TABLE, '--out', out], output, {})).toBe(0);
    expect(output.stderr.join('\n')).toContain('gone.example holds a policy for a domain without mta_sts now; left as it is');
    expect(await readFile(join(out, 'gone.example', '.well-known', 'mta-sts.txt'), 'utf8')).toBe('version: STSv1\r\n');
  });

  test('usage errors: no action, an unknown action, domain names given to build', async () => {
    for (const args of [['mta-sts'], ['mta-sts', 'publish'], ['mta-sts', 'build', 'example.com']]) {
      const output = captureOutput();
      expect(await main(args, output, {})).toBe(2);
    }
  });

  test('the built folder, served as a static site over HTTPS, passes mta-sts check', async () => {
    const ca = await makeTestCa();
    try {
      const cert = await ca.issue({ names: ['mta-sts.enforce.example', 'mta-sts.testing.example'] });
      // A static host: the file under <out>/<host without mta-sts.>/<path>, text/plain for .txt.
      const server = createServer(cert, async (request, response) => {
        const domain = (request.headers.host ?? '').replace(/^mta-sts\./, '').replace(/:\d+$/, '');
        try {
          const body = await readFile(join(out, domain, ...(request.url ?? '/').split('/').filter((part) => part !== '' && part !== '..')));
          response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
        } catch {
          response.writeHead(404).end();
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      try {
        const golden = JSON.parse(await readFile('test/golden/mta-sts/policy-files.json', 'utf8')) as { domain: string; id: string }[];
        const ids = new Map(golden.map((entry) => [entry.domain, entry.id]));
        const txt = async (name: string): Promise<TxtLookup> => {
          if (name.startsWith('_mta-sts.'))
            return { status: 'found', records: [[`v=STSv1; id=${ids.get(name.slice('_mta-sts.'.length)) ?? ''}`]] };
          return name === '_smtp._tls.enforce.example'
            ? { status: 'found', records: [['v=TLSRPTv1; rua=mailto:tlsrpt@enforce.example']] }
            : { status: 'found', records: [['v=TLSRPTv1; rua=mailto:tls@testing.example,https://tlsrpt.vendor.example/v1/report']] };
        };
        const command = makeMtaStsCommand({ txt, fetch: { ca: ca.cert, connect: () => ({ address: '127.0.0.1', port }) } });
        const args = ['check', 'enforce.example', 'testing.example', '--domains', TABLE];
        const { values, positionals } = parseCommandLine(command, args);
        const output = captureOutput();
        const code = await command.run(values, positionals, { args, output, env: {}, cwd: process.cwd() });
        expect(output.text()).toContain('2 domains checked: all match the repository');
        expect(code).toBe(0);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    } finally {
      await ca.remove();
    }
  });
});
