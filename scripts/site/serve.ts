/**
 * A local static server for the built dashboard, behaving like GitHub Pages where it matters:
 * the site lives under its base path, folders serve their index.html, `/repo` redirects to
 * `/repo/`, missing files get the site's 404.html.
 *
 * Written on node:http rather than taking a package (sirv, serve-handler): it is ~100 lines, and
 * the parts that need care (the base path, path traversal, Pages' redirects) are ones we would
 * have to configure and test anyway.
 */
import { createReadStream } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, sep } from 'node:path';
import { normaliseBase } from './budget.ts';

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.parquet': 'application/vnd.apache.parquet',
};

export interface SiteServer {
  /** Where the site is, base path included, e.g. `http://127.0.0.1:4321/repo/`. */
  url: string;
  close(): Promise<void>;
}

export async function serveSite(outDir: string, options: { base?: string; port?: number; host?: string } = {}): Promise<SiteServer> {
  const root = await realpath(outDir);
  const base = normaliseBase(options.base ?? '/');
  const host = options.host ?? '127.0.0.1';
  const server = createServer((request, response) => {
    handle(root, base, request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, request, 500, 'text/plain; charset=utf-8', `server error: ${(error as Error).message}\n`);
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${hostInUrl}:${port}${base}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function handle(root: string, base: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('allow', 'GET, HEAD');
    send(response, request, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  const target = request.url ?? '/';
  const queryAt = target.search(/[?#]/);
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  const query = queryAt === -1 ? '' : target.slice(queryAt);
  let pathname: string;
  try {
    pathname = decodeURIComponent(rawPath);
  } catch {
    send(response, request, 400, 'text/plain; charset=utf-8', 'bad request\n');
    return;
  }
  if (`${pathname}/` === base) return redirect(response, request, `${base}${query}`);
  if (!pathname.startsWith(base)) return notFound(root, request, response);
  // Decoded, so `..%2f` and `%2e%2e/` are caught here too; NUL bytes would make fs throw.
  const segments = pathname.slice(base.length).split('/');
  if (segments.some((segment) => segment === '..' || segment.includes('\\')) || pathname.includes('\0')) {
    return notFound(root, request, response);
  }
  const file = await resolveFile(root, segments.join('/'));
  if (file === null) return notFound(root, request, response);
  if (file.redirectToFolder) return redirect(response, request, `${rawPath}/${query}`);
  sendFile(response, request, 200, file.path, file.size);
}

/** The file a path names: itself, its folder's index.html, or `<path>.html` (as GitHub Pages does). */
async function resolveFile(root: string, relativePath: string): Promise<{ path: string; size: number; redirectToFolder?: boolean } | null> {
  const candidate = join(root, relativePath);
  const tryFile = async (path: string) => {
    const info = await stat(path).catch(() => null);
    if (info === null) return null;
    // Symbolic links must not lead out of the site folder.
    const real = await realpath(path).catch(() => null);
    if (real === null || (real !== root && !real.startsWith(root + sep))) return null;
    return info;
  };
  const info = await tryFile(candidate);
  if (info?.isFile() && !relativePath.endsWith('/')) return { path: candidate, size: info.size };
  if (info?.isDirectory()) {
    if (relativePath !== '' && !relativePath.endsWith('/')) return { path: candidate, size: 0, redirectToFolder: true };
    const index = join(candidate, 'index.html');
    const indexInfo = await tryFile(index);
    return indexInfo?.isFile() ? { path: index, size: indexInfo.size } : null;
  }
  if (relativePath !== '' && !relativePath.endsWith('/')) {
    const html = await tryFile(`${candidate}.html`);
    if (html?.isFile()) return { path: `${candidate}.html`, size: html.size };
  }
  return null;
}

async function notFound(root: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const page = join(root, '404.html');
  const info = await stat(page).catch(() => null);
  if (info?.isFile()) sendFile(response, request, 404, page, info.size);
  else send(response, request, 404, 'text/plain; charset=utf-8', 'not found\n');
}

function redirect(response: ServerResponse, request: IncomingMessage, location: string): void {
  response.setHeader('location', location);
  send(response, request, 301, 'text/plain; charset=utf-8', `moved to ${location}\n`);
}

function send(response: ServerResponse, request: IncomingMessage, status: number, type: string, body: string): void {
  response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'x-content-type-options': 'nosniff' });
  response.end(request.method === 'HEAD' ? undefined : body);
}

function sendFile(response: ServerResponse, request: IncomingMessage, status: number, path: string, size: number): void {
  response.writeHead(status, {
    'content-type': CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
    'content-length': size,
    // A local preview is rebuilt often: always revalidate.
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  const stream = createReadStream(path);
  stream.on('error', () => response.destroy());
  stream.pipe(response);
}

/**
 * The base a built site was made for, read from where its home page loads Astro's assets
 * (`/repo/_astro/…`); null when the page names none. Saves passing --base to serve what was built.
 */
export async function builtSiteBase(outDir: string): Promise<string | null> {
  const html = await readFile(join(outDir, 'index.html'), 'utf8').catch(() => '');
  const match = /\s(?:src|href)=["']?(\/(?:[^"'\s>]*\/)?)_astro\//.exec(html);
  return match ? normaliseBase(match[1]!) : null;
}
