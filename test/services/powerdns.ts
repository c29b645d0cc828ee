/**
 * A real PowerDNS Authoritative server for tests: gsqlite3 backend in a fresh database made from the
 * schema the Debian package ships, HTTP API on, DNS and API on free ports of 127.0.0.1, everything in
 * one temp dir. Works as root (CI) and as an ordinary user. Needs the Debian packages `pdns-server`,
 * `pdns-backend-sqlite3` and `sqlite3`; when they are missing this throws instead of skipping, so CI
 * cannot pass without really testing.
 *
 *   const pdns = await startPowerDns({ zones: ['example.test'] });
 *   try { ... } finally { await pdns.stop(); }
 *
 * Zones are created through the API with SOA-EDIT-API `DEFAULT`, so PowerDNS bumps the SOA serial on
 * every API change (YYYYMMDDnn), as a production setup would.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { accessSync, constants, existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** One record to seed, in PowerDNS content form (TXT quoted: `'"v=DMARC1; p=none"'`). */
export interface SeedRecord {
  /** Fully qualified owner name, with or without the trailing dot. */
  name: string;
  type: string;
  content: string;
  /** Default 300. Records of one name and type share the TTL of the first one given. */
  ttl?: number;
  disabled?: boolean;
}

export interface PowerDnsServer {
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:41234` (the API lives under `/api/v1`). */
  apiUrl: string;
  apiKey: string;
  /** UDP and TCP port of the DNS listener on `host`. */
  dnsPort: number;
  host: '127.0.0.1';
  serverId: 'localhost';
  /** Creates a Native zone (SOA and `ns1.<zone>` NS made by PowerDNS) with these extra records. */
  createZone(name: string, records?: readonly SeedRecord[]): Promise<void>;
  /** Deletes a zone; no error when it does not exist. */
  deleteZone(name: string): Promise<void>;
  /** The zone as the API returns it (`GET /zones/<name>.`), rrsets included. */
  getZone(name: string): Promise<PowerDnsZoneJson>;
  /** A raw API call below `/api/v1/servers/localhost`; resolves the parsed JSON (undefined for 204). */
  api(method: string, path: string, body?: unknown): Promise<unknown>;
  /** A resolver that asks this server only. */
  resolver(): Resolver;
  /** The server's log so far (stdout and stderr). */
  log(): string;
  /** Stops the process group and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface PowerDnsZoneJson {
  id: string;
  name: string;
  serial: number;
  edited_serial?: number;
  soa_edit_api?: string;
  rrsets: { name: string; type: string; ttl: number; records: { content: string; disabled: boolean }[]; comments: unknown[] }[];
  [key: string]: unknown;
}

export interface PowerDnsOptions {
  /** Zones to create at start, empty but for SOA and NS. */
  zones?: string[];
}

const READY_TIMEOUT_MS = 20_000;
const API_KEY = 'pdns-test-api-key-7c1e';
const SCHEMA_CANDIDATES = [
  '/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql',
  '/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql',
];
const INSTALL_HINT = 'apt-get install pdns-server pdns-backend-sqlite3 sqlite3';

function findExecutable(name: string, packageName: string): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next directory
    }
  }
  throw new Error(
    `${name} not found (Debian package ${packageName}): the PowerDNS tests need a real PowerDNS Authoritative server. ` +
      `Install it with: ${INSTALL_HINT}`,
  );
}

function findSchema(): string {
  const schema = SCHEMA_CANDIDATES.find((path) => existsSync(path));
  if (schema === undefined) {
    throw new Error(
      `the gsqlite3 schema is missing (looked for ${SCHEMA_CANDIDATES.join(', ')}; Debian package pdns-backend-sqlite3). Install it with: ${INSTALL_HINT}`,
    );
  }
  return schema;
}

function run(file: string, args: string[], input?: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

/** Distinct free TCP ports on 127.0.0.1 (the DNS port is used for UDP too; a clash there means a retry). */
async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  const ports = await Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => {
            const address = server.address();
            if (typeof address === 'object' && address) resolve(address.port);
            else reject(new Error('no port'));
          });
        }),
    ),
  );
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // group already gone
  }
}

function config(dir: string, dnsPort: number, apiPort: number): string {
  return `# generated by test/services/powerdns.ts
launch=gsqlite3
gsqlite3-database=${join(dir, 'pdns.sqlite3')}
gsqlite3-dnssec=yes
local-address=127.0.0.1
local-port=${dnsPort}
socket-dir=${dir}
daemon=no
guardian=no
disable-syslog=yes
loglevel=4
# no security-status query to the internet at start
security-poll-suffix=
api=yes
api-key=${API_KEY}
webserver=yes
webserver-address=127.0.0.1
webserver-port=${apiPort}
webserver-allow-from=127.0.0.0/8
# API changes visible over DNS at once
cache-ttl=0
negquery-cache-ttl=0
query-cache-ttl=0
zone-cache-refresh-interval=0
# SOA of zones created through the API (serial 0 is replaced by SOA-EDIT-API on creation)
default-soa-content=ns1.@ hostmaster.@ 0 10800 3600 604800 300
receiver-threads=1
distributor-threads=1
`;
}

/** Process groups (and their temp dirs) still running; killed and removed if the test process exits without stop(). */
const running = new Map<number, string>();
process.once('exit', () => {
  for (const [pid, dir] of running) {
    killGroup(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

function fqdn(name: string): string {
  const trimmed = name.trim().toLowerCase();
  return trimmed.endsWith('.') ? trimmed : `${trimmed}.`;
}

export async function startPowerDns(options: PowerDnsOptions = {}): Promise<PowerDnsServer> {
  const pdnsServer = findExecutable('pdns_server', 'pdns-server');
  const sqlite3 = findExecutable('sqlite3', 'sqlite3');
  const schema = findSchema();

  const dir = await mkdtemp(join(tmpdir(), 'dmarcops-pdns-'));
  const confFile = join(dir, 'pdns.conf');
  try {
    await run(sqlite3, [join(dir, 'pdns.sqlite3')], await readFile(schema));
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  // A port picked free can be taken before PowerDNS binds it: retry with new ports.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const [dnsPort = 0, apiPort = 0] = await freePorts(2);
    await writeFile(confFile, config(dir, dnsPort, apiPort));
    // --config-dir alone: pdns_server reads <dir>/pdns.conf and nothing from /etc/powerdns.
    const child = spawn(pdnsServer, [`--config-dir=${dir}`], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const pid = child.pid;
    if (pid === undefined) throw new Error('could not spawn pdns_server');
    running.set(pid, dir);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) => (output += `${error.message}\n`));

    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const stop = async (): Promise<void> => {
      if (!running.delete(pid)) return;
      killGroup(pid, 'SIGTERM');
      // pdns takes 1-2 s to exit cleanly; the database is thrown away, so do not wait for that.
      await Promise.race([exited(child), new Promise((resolve) => setTimeout(resolve, 300))]);
      killGroup(pid, 'SIGKILL');
      await exited(child);
      await rm(dir, { recursive: true, force: true });
    };

    const deadline = Date.now() + READY_TIMEOUT_MS;
    let ready = false;
    while (!ready && Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      ready = (await apiAnswers(apiUrl)) && (await dnsAnswers(dnsPort));
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (ready) {
      const server = makeServer(apiUrl, dnsPort, () => output, stop);
      try {
        for (const zone of options.zones ?? []) await server.createZone(zone);
      } catch (error) {
        await stop();
        throw error;
      }
      return server;
    }

    const why = child.exitCode !== null || child.signalCode !== null ? 'exited' : `was not ready within ${READY_TIMEOUT_MS} ms`;
    lastError = new Error(`pdns_server (DNS 127.0.0.1:${dnsPort}, API ${apiUrl}) ${why} (config ${confFile})\n${output.slice(-3000)}`);
    killGroup(pid, 'SIGKILL');
    await exited(child);
    running.delete(pid);
    if (!/Address already in use|Unable to bind/i.test(output)) break;
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

async function apiAnswers(apiUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${apiUrl}/api/v1/servers/localhost`, {
      headers: { 'X-API-Key': API_KEY },
      signal: AbortSignal.timeout(2000),
    });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/** True once the DNS listener answers anything (REFUSED for a zone it does not serve counts). */
async function dnsAnswers(port: number): Promise<boolean> {
  const resolver = new Resolver({ timeout: 300, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  try {
    await resolver.resolveSoa('ready.invalid');
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== 'ETIMEOUT' && code !== 'ECONNREFUSED';
  }
}

function makeServer(apiUrl: string, dnsPort: number, log: () => string, stop: () => Promise<void>): PowerDnsServer {
  const api = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${apiUrl}/api/v1/servers/localhost${path}`, {
      method,
      headers: { 'X-API-Key': API_KEY, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`PowerDNS test server: ${method} ${path} -> HTTP ${response.status} ${text}`);
    return text.trim() === '' ? undefined : (JSON.parse(text) as unknown);
  };

  return {
    apiUrl,
    apiKey: API_KEY,
    dnsPort,
    host: '127.0.0.1',
    serverId: 'localhost',
    async createZone(name, records = []) {
      const rrsets = new Map<string, { name: string; type: string; ttl: number; changetype: 'REPLACE'; records: { content: string; disabled: boolean }[] }>();
      for (const record of records) {
        const owner = fqdn(record.name);
        const type = record.type.toUpperCase();
        const key = `${owner} ${type}`;
        let rrset = rrsets.get(key);
        if (rrset === undefined) rrsets.set(key, (rrset = { name: owner, type, ttl: record.ttl ?? 300, changetype: 'REPLACE', records: [] }));
        rrset.records.push({ content: record.content, disabled: record.disabled ?? false });
      }
      await api('POST', '/zones', {
        name: fqdn(name),
        kind: 'Native',
        nameservers: [`ns1.${fqdn(name)}`],
        soa_edit_api: 'DEFAULT',
        rrsets: [...rrsets.values()],
      });
    },
    async deleteZone(name) {
      try {
        await api('DELETE', `/zones/${fqdn(name)}`);
      } catch (error) {
        if (!/HTTP (404|422)/.test(String(error))) throw error;
      }
    },
    async getZone(name) {
      return (await api('GET', `/zones/${fqdn(name)}`)) as PowerDnsZoneJson;
    },
    api,
    resolver() {
      const resolver = new Resolver({ timeout: 2000, tries: 2 });
      resolver.setServers([`127.0.0.1:${dnsPort}`]);
      return resolver;
    },
    log,
    stop,
  };
}
