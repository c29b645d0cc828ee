import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { builtSiteBase, serveSite } from '../../scripts/site/serve.ts';
import type { SiteServer } from '../../scripts/site/serve.ts';

/** A request with the path sent exactly as written: fetch() would normalise `..` and `%2e%2e` away. */
function rawRequest(
  url: string,
  path: string,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

let parent: string;
let server: SiteServer;
const SECRET = 'outside the site folder';

beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'dmarcops-serve-'));
  const dist = join(parent, 'dist');
  await mkdir(join(dist, 'domains', 'example.com'), { recursive: true });
  await mkdir(join(dist, '_astro'));
  await writeFile(join(parent, 'secret.txt'), SECRET);
  await writeFile(join(dist, 'index.html'), '<h1>home</h1>');
  await writeFile(join(dist, '404.html'), '<h1>custom not found</h1>');
  await writeFile(join(dist, 'about.html'), '<h1>about</h1>');
  await writeFile(join(dist, 'domains', 'example.com', 'index.html'), '<h1>example.com</h1>');
  const types: Record<string, string> = {
    'a.css': 'body{}',
    'a.js': 'export{}',
    'a.json': '{}',
    'a.svg': '<svg/>',
    'a.png': 'png',
    'a.woff2': 'woff2',
    'a.txt': 'text',
    'a.xml': '<x/>',
    'a.bin': 'bin',
  };
  for (const [name, content] of Object.entries(types)) await writeFile(join(dist, '_astro', name), content);
  await symlink(join(parent, 'secret.txt'), join(dist, 'escape.txt'));
  server = await serveSite(dist, { base: '/repo/', port: 0 });
});

afterAll(async () => {
  await server?.close();
  if (parent) await rm(parent, { recursive: true, force: true });
});

describe('serveSite', () => {
  test('serves the site under its base, index.html for folders, on a free loopback port', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/repo\/$/);
    const home = await fetch(server.url);
    expect(home.status).toBe(200);
    expect(home.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await home.text()).toBe('<h1>home</h1>');
    expect(await (await fetch(`${server.url}domains/example.com/`)).text()).toBe('<h1>example.com</h1>');
    expect(await (await fetch(`${server.url}about`)).text()).toBe('<h1>about</h1>');
    expect(await (await fetch(`${server.url}domains/example.com/index.html?window=7d`)).text()).toBe('<h1>example.com</h1>');
  });

  test('redirects the bare base and folders to their slash form, keeping the query', async () => {
    const origin = new URL(server.url).origin;
    const bare = await fetch(`${origin}/repo?x=1`, { redirect: 'manual' });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/repo/?x=1');
    const folder = await fetch(`${server.url}domains/example.com`, { redirect: 'manual' });
    expect(folder.status).toBe(301);
    expect(folder.headers.get('location')).toBe('/repo/domains/example.com/');
  });

  test('content types', async () => {
    const expected: Record<string, string> = {
      'a.css': 'text/css; charset=utf-8',
      'a.js': 'text/javascript; charset=utf-8',
      'a.json': 'application/json; charset=utf-8',
      'a.svg': 'image/svg+xml',
      'a.png': 'image/png',
      'a.woff2': 'font/woff2',
      'a.txt': 'text/plain; charset=utf-8',
      'a.xml': 'application/xml; charset=utf-8',
      'a.bin': 'application/octet-stream',
    };
    for (const [name, type] of Object.entries(expected)) {
      const response = await fetch(`${server.url}_astro/${name}`);
      expect(response.status, name).toBe(200);
      expect(response.headers.get('content-type'), name).toBe(type);
      await response.arrayBuffer();
    }
  });

  test("missing files and paths outside the base get the site's 404 page", async () => {
    const origin = new URL(server.url).origin;
    for (const url of [`${server.url}nope`, `${server.url}nope/`, `${origin}/`, `${origin}/other/index.html`, `${server.url}about.html/`]) {
      const response = await fetch(url);
      expect(response.status, url).toBe(404);
      expect(await response.text(), url).toBe('<h1>custom not found</h1>');
    }
  });

  test('never serves a file outside the site folder', async () => {
    const attempts = [
      '/repo/../secret.txt',
      '/repo/..%2fsecret.txt',
      '/repo/..%2Fsecret.txt',
      '/repo/%2e%2e/secret.txt',
      '/repo/%2e%2e%2fsecret.txt',
      '/repo/%2E%2E%2Fsecret.txt',
      '/repo/..%5csecret.txt',
      '/repo/..\\secret.txt',
      '/repo/%252e%252e%252fsecret.txt',
      '/repo/domains/..%2f..%2f..%2fsecret.txt',
      '/repo//..//secret.txt',
      '/repo/escape.txt',
      '/repo/%00secret.txt',
      '/repo/../../../../../../etc/passwd',
    ];
    for (const path of attempts) {
      const response = await rawRequest(server.url, path);
      expect([400, 404], path).toContain(response.status);
      expect(response.body, path).not.toContain(SECRET);
      expect(response.body, path).not.toContain('root:');
    }
    expect((await rawRequest(server.url, '/repo/%E0%A4%A')).status).toBe(400);
  });

  test('GET and HEAD only', async () => {
    const head = await rawRequest(server.url, '/repo/', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String('<h1>home</h1>'.length));
    expect(head.body).toBe('');
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const response = await rawRequest(server.url, '/repo/', method);
      expect(response.status, method).toBe(405);
      expect(response.headers.allow).toBe('GET, HEAD');
    }
  });

  test('without a 404.html, a plain not found; default base /', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmarcops-serve-plain-'));
    try {
      await writeFile(join(dir, 'index.html'), 'root page');
      const plain = await serveSite(dir, {});
      try {
        expect(new URL(plain.url).pathname).toBe('/');
        expect(await (await fetch(plain.url)).text()).toBe('root page');
        const missing = await fetch(`${plain.url}missing`);
        expect(missing.status).toBe(404);
        expect(await missing.text()).toBe('not found\n');
      } finally {
        await plain.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('reads the base a site was built with from its home page', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmarcops-serve-base-'));
    try {
      expect(await builtSiteBase(dir)).toBeNull();
      await writeFile(
        join(dir, 'index.html'),
        '<link rel="stylesheet" href="/dmarc/reports/_astro/index.Bx1.css"><a href="/dmarc/reports/">home</a>',
      );
      expect(await builtSiteBase(dir)).toBe('/dmarc/reports/');
      await writeFile(join(dir, 'index.html'), '<script type=module src=/_astro/page.js></script>');
      expect(await builtSiteBase(dir)).toBe('/');
      await writeFile(join(dir, 'index.html'), '<p>no assets</p>');
      expect(await builtSiteBase(dir)).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
