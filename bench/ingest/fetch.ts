/**
 * Fetch benchmark: `dmarcops fetch` over IMAP from a real Dovecot (test/services/dovecot.ts), the way
 * the ingest workflow runs it, on a mailbox of N small report mails (one gzipped 5-record report each,
 * as most receivers send). Prints the wall time and peak RSS of the child process and the messages per
 * second: what `fetch --max-messages` (default 10,000) bounds a run to.
 *
 *   node bench/ingest/fetch.ts [--messages 2000]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { mail, reportXml } from '../../test/fixtures/unpack/make.ts';
import { startDovecot } from '../../test/services/dovecot.ts';
import { mibOfKib } from '../figures.ts';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '2000' } } });
const MESSAGES = Number(values.messages);

const root = mkdtempSync(join(tmpdir(), 'dmarcops-bench-fetch-'));
const server = await startDovecot();
try {
  mkdirSync(join(root, 'domains'));
  writeFileSync(join(root, 'domains', 'example.com.yaml'), 'policy: none\n');
  const started = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    const body = gzipSync(reportXml(`bench-${i}`, 5, 'example.com'));
    const message = mail({ Subject: `Report Domain: example.com Report-ID: bench-${i}`, 'Message-ID': `<bench-${i}@receiver.example>` }, [
      { type: 'application/gzip', filename: `r-${i}.xml.gz`, body, encoding: 'base64' },
    ]);
    await server.appendMessage('INBOX', message);
  }
  console.log(`${MESSAGES.toLocaleString('en')} messages appended in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const env = {
    ...process.env,
    DMARCOPS_IMAP_HOST: server.host,
    DMARCOPS_IMAP_PORT: String(server.port),
    DMARCOPS_IMAP_TLS: 'none',
    DMARCOPS_IMAP_USER: server.user,
    DMARCOPS_IMAP_PASSWORD: server.password,
  };
  const args = ['bin/dmarcops.js', 'fetch', '--data', join(root, 'reports'), '--domains', join(root, 'domains'), '--offline', '--json'];
  const wall = performance.now();
  const run = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, ...args], {
    env,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const seconds = (performance.now() - wall) / 1000;
  const [, kib] = (run.stderr.trim().split('\n').at(-1) ?? '').split(' ');
  if (run.status !== 0) throw new Error(`fetch failed (${run.status}): ${run.stderr.slice(-2000)}`);
  const summary = JSON.parse(run.stdout) as { items: number; reports: { stored: number } };
  console.log(
    `fetch: ${summary.items} messages, ${summary.reports.stored} reports stored and filed in ${seconds.toFixed(2)} s ` +
      `(${Math.round(summary.items / seconds)} messages/s), peak RSS ${mibOfKib(Number(kib))} MiB, load average ${loadavg()[0]?.toFixed(2)}`,
  );
} finally {
  await server.stop();
  rmSync(root, { recursive: true, force: true });
}
