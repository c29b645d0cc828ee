/**
 * Mailing the digest through nodemailer (SMTP): one message with a plain-text and an HTML part
 * (multipart/alternative). Settings and secrets come from the environment only:
 *
 *   DMARCOPS_SMTP_HOST      the server; mail is sent only when it is set
 *   DMARCOPS_SMTP_PORT      default 587 (465 with implicit TLS)
 *   DMARCOPS_SMTP_TLS       starttls (default: refused without it) | implicit | none (test servers only)
 *   DMARCOPS_SMTP_USER, DMARCOPS_SMTP_PASSWORD   SMTP AUTH, when the server wants it (both or neither)
 *   DMARCOPS_SMTP_FROM      the sender address (required)
 *   DMARCOPS_SMTP_TO        recipients, comma-separated (required)
 *   DMARCOPS_SMTP_CA_FILE   PEM of a private CA the server's certificate is signed by
 */
import { readFile } from 'node:fs/promises';
import { createTransport } from 'nodemailer';
import { DmarcopsError } from '../lib/errors.ts';

export const SMTP_ENV = {
  host: 'DMARCOPS_SMTP_HOST',
  port: 'DMARCOPS_SMTP_PORT',
  tls: 'DMARCOPS_SMTP_TLS',
  user: 'DMARCOPS_SMTP_USER',
  password: 'DMARCOPS_SMTP_PASSWORD',
  from: 'DMARCOPS_SMTP_FROM',
  to: 'DMARCOPS_SMTP_TO',
  ca: 'DMARCOPS_SMTP_CA_FILE',
} as const;

export interface SmtpSettings {
  host: string;
  port: number;
  tls: 'starttls' | 'implicit' | 'none';
  auth?: { user: string; pass: string };
  from: string;
  to: string[];
  caFile?: string;
}

const ADDRESS = /^[^\s@<>,;"]+@[^\s@<>,;"]+$/;

/** The settings, or null when DMARCOPS_SMTP_HOST is not set; throws an `smtp-config` error naming the variable at fault. */
export function smtpSettingsFromEnv(env: NodeJS.ProcessEnv): SmtpSettings | null {
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const host = get(SMTP_ENV.host);
  if (host === undefined) return null;
  const tlsText = (get(SMTP_ENV.tls) ?? 'starttls').toLowerCase();
  if (tlsText !== 'starttls' && tlsText !== 'implicit' && tlsText !== 'none') {
    throw new DmarcopsError('smtp-config', `${SMTP_ENV.tls} must be starttls, implicit or none, not ${JSON.stringify(tlsText)}`);
  }
  const tls = tlsText;
  const portText = get(SMTP_ENV.port) ?? (tls === 'implicit' ? '465' : '587');
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new DmarcopsError('smtp-config', `${SMTP_ENV.port} must be a port number, not ${JSON.stringify(portText)}`);
  }
  const user = get(SMTP_ENV.user);
  const password = env[SMTP_ENV.password];
  if ((user === undefined) !== (password === undefined || password === '')) {
    throw new DmarcopsError('smtp-config', `set both ${SMTP_ENV.user} and ${SMTP_ENV.password}, or neither`);
  }
  const from = get(SMTP_ENV.from);
  if (from === undefined || !ADDRESS.test(from))
    throw new DmarcopsError('smtp-config', `${SMTP_ENV.from} must be the sender's address (name@example.com)`);
  const to = (get(SMTP_ENV.to) ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (to.length === 0 || to.some((a) => !ADDRESS.test(a))) {
    throw new DmarcopsError('smtp-config', `${SMTP_ENV.to} must list the recipients' addresses, separated by commas`);
  }
  const settings: SmtpSettings = { host, port: Number(portText), tls, from, to };
  if (user !== undefined && password !== undefined) settings.auth = { user, pass: password };
  const ca = get(SMTP_ENV.ca);
  if (ca !== undefined) settings.caFile = ca;
  return settings;
}

export interface DigestMail {
  subject: string;
  text: string;
  html: string;
}

export interface SentMail {
  messageId: string;
  accepted: string[];
  rejected: string[];
}

/** Sends one message; certificates are always verified (a private CA goes in DMARCOPS_SMTP_CA_FILE). */
export async function sendMail(settings: SmtpSettings, mail: DigestMail): Promise<SentMail> {
  const ca = settings.caFile === undefined ? undefined : await readFile(settings.caFile, 'utf8');
  const transport = createTransport({
    host: settings.host,
    port: settings.port,
    secure: settings.tls === 'implicit',
    requireTLS: settings.tls === 'starttls',
    ignoreTLS: settings.tls === 'none',
    ...(settings.auth === undefined ? {} : { auth: settings.auth }),
    tls: { rejectUnauthorized: true, minVersion: 'TLSv1.2', ...(ca === undefined ? {} : { ca }) },
    connectionTimeout: 20_000,
    greetingTimeout: 20_000,
    socketTimeout: 60_000,
  });
  try {
    const info = await transport.sendMail({
      from: settings.from,
      to: settings.to,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
    });
    const addresses = (list: unknown): string[] =>
      Array.isArray(list) ? list.map((a) => (typeof a === 'string' ? a : String((a as { address?: string }).address ?? ''))) : [];
    return { messageId: String(info.messageId), accepted: addresses(info.accepted), rejected: addresses(info.rejected) };
  } catch (error) {
    // nodemailer's messages name the server and the SMTP reply; never the password.
    const reason = (error as Error).message;
    throw new DmarcopsError('smtp-failed', `mailing the digest through ${settings.host}:${settings.port} failed: ${reason}`, {
      cause: error,
    });
  } finally {
    transport.close();
  }
}
