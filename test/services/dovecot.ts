/**
 * A real Dovecot IMAP server for tests: config, self-signed certificate, passwd-file user and
 * Maildir all live in one temp dir; ports are picked free on 127.0.0.1 at start. Works as root
 * (CI) and as an ordinary user. Needs the Debian packages `dovecot-imapd` and `openssl`; when
 * they are missing this throws instead of skipping, so CI cannot pass without really testing.
 *
 *   const imap = await startDovecot();
 *   try { ... } finally { await imap.stop(); }
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';

export interface DovecotOptions {
  /** Replaces the advertised CAPABILITY list (Dovecot's `imap_capability`), e.g. to hide MOVE. */
  imapCapability?: string;
}

export interface DovecotFolderEntry {
  uid: number;
  subject: string;
  messageId: string;
}

export interface DovecotServer {
  host: string;
  /** Plain IMAP (STARTTLS offered). */
  port: number;
  /** Implicit TLS (IMAPS). */
  tlsPort: number;
  /** PEM of the self-signed server certificate (CN=localhost, SAN localhost + 127.0.0.1). */
  caFile: string;
  user: string;
  password: string;
  /** Delivers raw message bytes with `doveadm save` (creates the folder if needed). */
  appendMessage(folder: string, bytes: Uint8Array): Promise<void>;
  /** Messages in a folder, by UID; throws when the folder does not exist. */
  listFolder(folder: string): Promise<DovecotFolderEntry[]>;
  listFolders(): Promise<string[]>;
  /** Runs `doveadm -c <conf> ...` against this instance (e.g. `flags add -u reports ...`); resolves stdout. */
  doveadm(args: string[]): Promise<string>;
  /** Stops the whole process group and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;
const USER = 'reports';
const PASSWORD = 'Imap-Test-Pa55word';

function findExecutable(name: string, installHint: string): string {
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
  throw new Error(`${name} not found: the IMAP tests need a real Dovecot server. Install it with: ${installHint}`);
}

function run(file: string, args: string[], input?: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

/** Distinct free ports on 127.0.0.1: all listeners stay open until every port is known. */
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

/** Resolves true once the server sends an `* OK` greeting on the port, false on any failure. */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (chunk) => done(chunk.toString('latin1').startsWith('* OK')));
  });
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

interface Layout {
  dir: string;
  port: number;
  tlsPort: number;
  options: DovecotOptions;
}

/** Root runs the stock privilege split (login as dovenull, mail as nobody); anyone else runs every process as themselves. */
function config({ dir, port, tlsPort, options }: Layout): string {
  const root = process.getuid?.() === 0;
  const me = userInfo();
  const privileges = root
    ? ['default_login_user = dovenull', 'default_internal_user = dovecot']
    : [
        `default_login_user = ${me.username}`,
        `default_internal_user = ${me.username}`,
        // Dovecot wants a group name here, and os.userInfo() has only the gid.
        `default_internal_group = ${execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim()}`,
      ];
  const mailOwner = root ? 'uid=nobody gid=nogroup' : `uid=${me.uid} gid=${me.gid}`;
  // Without root, chroot() is not permitted.
  const chroot = root ? '' : '  chroot =\n';
  return `# generated by test/services/dovecot.ts
protocols = imap
listen = 127.0.0.1
instance_name = dmarcops-test-${port}
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/log/dovecot.log
info_log_path = ${dir}/log/dovecot.log
${privileges.join('\n')}
disable_plaintext_auth = no
auth_mechanisms = plain login
# the bad-password test should not wait out the default 2 s failure delay
auth_failure_delay = 0
ssl = yes
ssl_cert = <${dir}/cert.pem
ssl_key = <${dir}/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
${options.imapCapability ? `imap_capability = ${options.imapCapability}\n` : ''}passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = passwd-file
  args = username_format=%u ${dir}/users
  default_fields = ${mailOwner} home=${dir}/mail/%u
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
service imap-login {
${chroot}  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${tlsPort}
    ssl = yes
  }
}
service anvil {
${chroot}  # mode 0 turns off the auth penalty, which would delay every later login from 127.0.0.1 by 2-4 s
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
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

export async function startDovecot(options: DovecotOptions = {}): Promise<DovecotServer> {
  const dovecot = findExecutable('dovecot', 'apt-get install dovecot-imapd (Debian package dovecot-imapd)');
  const doveadm = findExecutable('doveadm', 'apt-get install dovecot-imapd (doveadm is in dovecot-core)');
  const openssl = findExecutable('openssl', 'apt-get install openssl');

  const dir = await mkdtemp(join(tmpdir(), 'dmarcops-dovecot-'));
  try {
    // mkdtemp gives 0700; the unprivileged mail processes must reach their home below it.
    await chmod(dir, 0o755);
    await Promise.all(['run', 'state', 'log', 'mail'].map((sub) => mkdir(join(dir, sub))));
    if (process.getuid?.() === 0) await chown(join(dir, 'mail'), 65534, 65534); // nobody:nogroup; Dovecot refuses uid 0 for mail
    await run(openssl, [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ]);
    await writeFile(join(dir, 'users'), `${USER}:{PLAIN}${PASSWORD}::::::\n`, { mode: 0o644 });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const confFile = join(dir, 'dovecot.conf');

  // A port picked free can be taken before Dovecot binds it: retry with new ports.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const [port = 0, tlsPort = 0] = await freePorts(2);
    await writeFile(confFile, config({ dir, port, tlsPort, options }));
    const child = spawn(dovecot, ['-F', '-c', confFile], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const pid = child.pid;
    if (pid === undefined) throw new Error('could not spawn dovecot');
    running.set(pid, dir);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) => (output += `${error.message}\n`));

    const stop = async (): Promise<void> => {
      if (!running.delete(pid)) return;
      killGroup(pid, 'SIGTERM');
      // The master can linger ~2.5 s after SIGTERM; tests need not wait for that.
      await Promise.race([exited(child), new Promise((resolve) => setTimeout(resolve, 500))]);
      killGroup(pid, 'SIGKILL');
      await exited(child);
      await rm(dir, { recursive: true, force: true });
    };

    const deadline = Date.now() + READY_TIMEOUT_MS;
    let ready = false;
    while (!ready && Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      ready = await greets(port);
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (ready) return server(dir, confFile, doveadm, port, tlsPort, stop);

    const log = await readFile(join(dir, 'log', 'dovecot.log'), 'utf8').catch(() => '');
    const why = child.exitCode !== null || child.signalCode !== null ? 'exited' : `did not greet within ${READY_TIMEOUT_MS} ms`;
    lastError = new Error(`dovecot on 127.0.0.1:${port} ${why} (config ${confFile})\n${output}${log.slice(-2000)}`);
    killGroup(pid, 'SIGKILL');
    await exited(child);
    running.delete(pid);
    if (!/Address already in use/.test(output + log)) break;
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

function server(
  dir: string,
  confFile: string,
  doveadm: string,
  port: number,
  tlsPort: number,
  stop: () => Promise<void>,
): DovecotServer {
  const adm = (args: string[], input?: Uint8Array) => run(doveadm, ['-c', confFile, ...args], input);
  return {
    host: '127.0.0.1',
    port,
    tlsPort,
    caFile: join(dir, 'cert.pem'),
    user: USER,
    password: PASSWORD,
    async appendMessage(folder, bytes) {
      try {
        await adm(['save', '-u', USER, '-m', folder], bytes);
      } catch (error) {
        if (!/doesn't exist|not found/i.test(String(error))) throw error;
        await adm(['mailbox', 'create', '-u', USER, folder]);
        await adm(['save', '-u', USER, '-m', folder], bytes);
      }
    },
    async listFolder(folder) {
      // doveadm fetch answers an empty list for a missing mailbox; tests need to tell the two apart.
      const folders = (await adm(['mailbox', 'list', '-u', USER])).split('\n');
      if (!folders.includes(folder)) throw new Error(`folder ${folder} does not exist (have: ${folders.filter(Boolean).join(', ')})`);
      const out = await adm(['-f', 'json', 'fetch', '-u', USER, 'uid hdr.subject hdr.message-id', 'mailbox', folder, 'ALL']);
      const rows = JSON.parse(out || '[]') as Array<Record<string, string>>;
      return rows
        .map((row) => ({
          uid: Number(row.uid),
          subject: (row['hdr.subject'] ?? '').trim(),
          messageId: (row['hdr.message-id'] ?? '').trim(),
        }))
        .sort((a, b) => a.uid - b.uid);
    },
    async listFolders() {
      return (await adm(['mailbox', 'list', '-u', USER])).split('\n').filter(Boolean).sort();
    },
    doveadm: (args) => adm(args),
    stop,
  };
}
