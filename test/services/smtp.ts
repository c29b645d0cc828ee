/**
 * A real SMTP server for tests: Debian's aiosmtpd (package python3-aiosmtpd, run by Debian's own
 * /usr/bin/python3), on a free port of 127.0.0.1, with STARTTLS required (a self-signed certificate
 * for localhost and 127.0.0.1 made by openssl), AUTH PLAIN/LOGIN required after it, and every
 * message delivered into a Maildir the test reads. When the packages are missing this throws with
 * the command to install them, so CI cannot pass without really testing.
 *
 *   const smtp = await startSmtp();
 *   try { … smtp.messages() … } finally { await smtp.stop(); }
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, locateExecutable, run, stopGroup, waitUntilReady } from './process.ts';

export interface SmtpServer {
  host: string;
  port: number;
  /** PEM of the server's self-signed certificate (for DMARCOPS_SMTP_CA_FILE). */
  caFile: string;
  user: string;
  password: string;
  /** The raw messages delivered so far (RFC 5322 bytes), oldest first. */
  messages(): Promise<Buffer[]>;
  stop(): Promise<void>;
}

const PYTHON = '/usr/bin/python3';
const READY_TIMEOUT_MS = 20_000;
const USER = 'digest';
const PASSWORD = 'Smtp-Test-Pa55word';

// The server, run as a script so that STARTTLS and AUTH can be required (the module's command line
// has no option for an authenticator). Everything else is aiosmtpd as Debian ships it.
const SERVER = `
import signal, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

host, port, maildir, cert, key, user, password = sys.argv[1:8]

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
    return AuthResult(success=ok, handled=False)

context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
controller = Controller(Mailbox(maildir), hostname=host, port=int(port), server_hostname='localhost',
                        tls_context=context, require_starttls=True, authenticator=authenticator, auth_required=True)
controller.start()
print('ready', flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
controller.stop()
`;

function requirements(): { python: string; openssl: string } {
  const openssl = locateExecutable('openssl');
  if (!existsSync(PYTHON) || openssl === undefined) {
    throw new Error("the mail tests need a real SMTP server: apt-get install python3-aiosmtpd openssl (Debian's /usr/bin/python3 runs it)");
  }
  return { python: PYTHON, openssl };
}

export async function startSmtp(): Promise<SmtpServer> {
  const { python, openssl } = requirements();
  try {
    await run(python, ['-c', 'import aiosmtpd']);
  } catch {
    throw new Error('aiosmtpd is not installed for /usr/bin/python3: apt-get install python3-aiosmtpd');
  }
  const dir = await mkdtemp(join(tmpdir(), 'dmarcops-smtp-'));
  const maildir = join(dir, 'Maildir');
  try {
    for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(maildir, sub), { recursive: true });
    await run(openssl, [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    await writeFile(join(dir, 'server.py'), SERVER);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  // A port picked free can be taken before the server binds it: retry with another.
  for (let attempt = 0; ; attempt++) {
    const [port = 0] = await freePorts(1);
    const child = spawn(
      python,
      [join(dir, 'server.py'), '127.0.0.1', String(port), maildir, join(dir, 'cert.pem'), join(dir, 'key.pem'), USER, PASSWORD],
      {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    let ready = false;
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) ready = true;
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const up = await waitUntilReady(child, READY_TIMEOUT_MS, async () => ready && (await accepts(port)));
    const pid = child.pid ?? 0;
    if (!up) {
      await stopGroup(child, pid, 2000);
      if (attempt < 2 && /address already in use/i.test(stderr)) continue;
      await rm(dir, { recursive: true, force: true });
      throw new Error(`aiosmtpd did not start: ${stderr.trim() || 'no output'}`);
    }
    let stopped = false;
    return {
      host: '127.0.0.1',
      port,
      caFile: join(dir, 'cert.pem'),
      user: USER,
      password: PASSWORD,
      async messages() {
        const files: { name: string; bytes: Buffer }[] = [];
        for (const sub of ['new', 'cur']) {
          const folder = join(maildir, sub);
          if (!existsSync(folder)) continue;
          for (const name of await readdir(folder)) files.push({ name, bytes: await readFile(join(folder, name)) });
        }
        // Maildir names start with the delivery time.
        return files.sort((a, b) => a.name.localeCompare(b.name)).map((f) => f.bytes);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopGroup(child, pid, 3000);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('220'));
    });
    socket.once('error', () => resolve(false));
  });
}
