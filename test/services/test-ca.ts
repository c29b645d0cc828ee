/**
 * A certificate authority made for one test run with openssl (installed here and in CI: .ci/run), and
 * leaf certificates it signs for any names and any validity window, expired ones included
 * (`openssl ca -startdate/-enddate`, which every OpenSSL 3 has). Keys are P-256: fast to make.
 * openssl rather than a JavaScript X.509 library: it is already a test dependency (Dovecot's
 * certificate), and node:crypto can read certificates but not make them.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { locateExecutable, run } from './process.ts';

export interface TestCa {
  /** The CA certificate, PEM: what a client trusts. */
  cert: string;
  issue(options: { names: string[]; start?: Date; end?: Date }): Promise<{ cert: string; key: string }>;
  remove(): Promise<void>;
}

/** `YYYYMMDDHHMMSSZ`, as `openssl ca -startdate` takes it. */
function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

export async function makeTestCa(): Promise<TestCa> {
  const openssl = locateExecutable('openssl');
  if (openssl === undefined)
    throw new Error('openssl not found: the MTA-STS HTTPS tests make their certificates with it. Install it with: apt-get install openssl');
  const dir = await mkdtemp(join(tmpdir(), 'dmarcops-test-ca-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run(openssl, [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    join(dir, 'ca.key'),
    '-out',
    join(dir, 'ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=dmarcops test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await mkdir(join(dir, 'issued'));
  await writeFile(join(dir, 'index.txt'), '');
  await writeFile(join(dir, 'serial'), '1000\n');
  let count = 0;
  return {
    cert: await readFile(join(dir, 'ca.crt'), 'utf8'),
    async issue({ names, start = new Date(Date.now() - 3600_000), end = new Date(Date.now() + 86400_000) }) {
      const id = `leaf${++count}`;
      const config = [
        '[ca]',
        'default_ca = test',
        '[test]',
        `database = ${join(dir, 'index.txt')}`,
        `new_certs_dir = ${join(dir, 'issued')}`,
        `serial = ${join(dir, 'serial')}`,
        'default_md = sha256',
        'policy = any',
        'unique_subject = no',
        'copy_extensions = none',
        '[any]',
        'commonName = supplied',
        '[leaf]',
        'basicConstraints = CA:FALSE',
        'keyUsage = digitalSignature',
        'extendedKeyUsage = serverAuth',
        `subjectAltName = ${names.map((name) => `DNS:${name}`).join(',')}`,
      ].join('\n');
      await writeFile(join(dir, `${id}.cnf`), `${config}\n`);
      await run(openssl, [
        'req',
        ...ec,
        '-keyout',
        join(dir, `${id}.key`),
        '-out',
        join(dir, `${id}.csr`),
        '-subj',
        `/CN=${names[0] ?? 'test'}`,
      ]);
      await run(openssl, [
        'ca',
        '-batch',
        '-notext',
        '-config',
        join(dir, `${id}.cnf`),
        '-cert',
        join(dir, 'ca.crt'),
        '-keyfile',
        join(dir, 'ca.key'),
        '-in',
        join(dir, `${id}.csr`),
        '-out',
        join(dir, `${id}.crt`),
        '-startdate',
        asn1Time(start),
        '-enddate',
        asn1Time(end),
        '-extensions',
        'leaf',
      ]);
      return { cert: await readFile(join(dir, `${id}.crt`), 'utf8'), key: await readFile(join(dir, `${id}.key`), 'utf8') };
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
