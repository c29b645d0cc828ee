/**
 * Fetching a policy the way senders do (RFC 8461 §3.3): HTTPS GET of
 * https://mta-sts.<domain>/.well-known/mta-sts.txt, the certificate verified against trusted roots
 * and for that host name, no redirect followed, the body bounded. Node's TLS does the verification;
 * when it refuses, a second handshake that verifies nothing (and sends nothing) fetches the
 * certificate, only to say precisely what is wrong with it.
 *
 * `connect` and `ca` are for tests and staging: `connect` sends the connection for a host name to
 * another address (the certificate is still checked for the host name), `ca` replaces the trusted roots.
 */
import { request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { LookupAddress } from 'node:dns';
import { connect as tlsConnect } from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import { mtaStsHost } from '../policy/mtasts.ts';

export interface ConnectTarget {
  address: string;
  port: number;
}

export interface FetchPolicyOptions {
  /** Where to connect for a host name instead of its DNS addresses (undefined: DNS, port 443). */
  connect?: (host: string) => ConnectTarget | undefined;
  /** Trusted roots instead of Node's bundled ones (PEM). */
  ca?: string | string[];
  /** Whole request, default 10 s. */
  timeoutMs?: number;
  /** Largest body read; more is reported as too large. Default 64 KiB. */
  maxBytes?: number;
}

/** What the server said, or why nothing usable came back. */
export type PolicyResponse =
  | { kind: 'response'; status: number; contentType?: string; location?: string; body: Buffer; tooLarge: boolean }
  | { kind: 'certificate'; code: string; message: string; certificate?: CertificateSummary }
  | { kind: 'error'; code: string; message: string };

export interface CertificateSummary {
  subject?: string;
  /** Subject alternative names as the certificate lists them (`DNS:mta-sts.example.com`). */
  altNames?: string;
  validFrom?: string;
  validTo?: string;
  issuer?: string;
}

export const DEFAULT_MAX_BYTES = 64 * 1024;
const CERTIFICATE_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
]);

export async function fetchPolicyFile(domain: string, options: FetchPolicyOptions = {}): Promise<PolicyResponse> {
  const host = mtaStsHost(domain);
  const target = options.connect?.(host);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const result = await get(host, target, options.ca, timeoutMs, maxBytes);
  if (result.kind !== 'certificate') return result;
  const certificate = await peerCertificate(host, target, timeoutMs).catch(() => undefined);
  return certificate === undefined ? result : { ...result, certificate };
}

function get(
  host: string,
  target: ConnectTarget | undefined,
  ca: string | string[] | undefined,
  timeoutMs: number,
  maxBytes: number,
): Promise<PolicyResponse> {
  return new Promise((resolve) => {
    const req = request({
      host,
      port: target?.port ?? 443,
      path: '/.well-known/mta-sts.txt',
      method: 'GET',
      servername: host,
      agent: false,
      rejectUnauthorized: true,
      headers: { accept: 'text/plain', 'user-agent': 'dmarcops mta-sts check' },
      ...(ca === undefined ? {} : { ca }),
      ...(target === undefined ? {} : { lookup: fixedLookup(target.address) }),
    });
    const timer = setTimeout(
      () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const code = error.code ?? 'ERROR';
      resolve(
        CERTIFICATE_CODES.has(code)
          ? { kind: 'certificate', code, message: error.message }
          : { kind: 'error', code, message: error.message },
      );
    });
    req.on('response', (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let tooLarge = false;
      const done = () => {
        clearTimeout(timer);
        const answer: PolicyResponse = { kind: 'response', status: response.statusCode ?? 0, body: Buffer.concat(chunks), tooLarge };
        const contentType = response.headers['content-type'];
        if (contentType !== undefined) answer.contentType = contentType;
        if (response.headers.location !== undefined) answer.location = response.headers.location;
        resolve(answer);
      };
      response.on('data', (chunk: Buffer) => {
        if (tooLarge) return;
        size += chunk.length;
        if (size > maxBytes) {
          tooLarge = true;
          chunks.push(chunk.subarray(0, chunk.length - (size - maxBytes)));
          response.destroy();
          done();
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => {
        if (!tooLarge) done();
      });
      response.on('error', (error: NodeJS.ErrnoException) => {
        if (tooLarge) return;
        clearTimeout(timer);
        resolve({ kind: 'error', code: error.code ?? 'ERROR', message: error.message });
      });
    });
    req.end();
  });
}

/** The server's certificate, from a handshake that verifies nothing and sends no request. */
function peerCertificate(host: string, target: ConnectTarget | undefined, timeoutMs: number): Promise<CertificateSummary> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: target?.address ?? host,
      port: target?.port ?? 443,
      servername: host,
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    socket.once('secureConnect', () => {
      const certificate = socket.getPeerCertificate();
      socket.destroy();
      resolve(summarise(certificate));
    });
    socket.once('timeout', () => socket.destroy(new Error('timeout')));
    socket.once('error', reject);
  });
}

function summarise(certificate: PeerCertificate): CertificateSummary {
  const summary: CertificateSummary = {};
  if (certificate.subject?.CN !== undefined) summary.subject = String(certificate.subject.CN);
  if (certificate.subjectaltname !== undefined) summary.altNames = certificate.subjectaltname;
  if (certificate.valid_from !== undefined) summary.validFrom = new Date(certificate.valid_from).toISOString();
  if (certificate.valid_to !== undefined) summary.validTo = new Date(certificate.valid_to).toISOString();
  if (certificate.issuer?.CN !== undefined) summary.issuer = String(certificate.issuer.CN);
  return summary;
}

/** A `lookup` for node:net that answers every name with one address (both the single and the `all` form). */
function fixedLookup(address: string) {
  const family = address.includes(':') ? 6 : 4;
  return (
    _hostname: string,
    options: { all?: boolean },
    callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}
