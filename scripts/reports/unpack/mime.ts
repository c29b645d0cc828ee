/**
 * One RFC 5322 message → its attachments (transfer encodings undone by postal-mime), its inline
 * text, and whether it is a failure (ARF) or TLS report. Attached messages (message/rfc822) stay
 * attachments so that the walker recurses into them with a trail of their own.
 */
import type { Address, Email } from 'postal-mime';
import type { MailInfo } from './types.ts';

export interface MailPart {
  /** File name, or `part N (type)` when the part has none. */
  name: string;
  mimeType: string;
  bytes: Uint8Array;
}

export interface ParsedMail {
  info: MailInfo;
  /** How to name the message in trails and messages: `"Subject" <message-id>`. */
  label: string;
  /** Failure reports (ARF) are recognised and never unpacked (they carry personal data); TLS reports are unpacked like aggregate ones. */
  kind?: 'failure' | 'tls';
  attachments: MailPart[];
  /** The inline text/plain body (a human summary, rarely the report itself). */
  text: string;
}

export async function parseMail(bytes: Uint8Array): Promise<ParsedMail> {
  // Loaded on the first mail: ingesting report files never needs it.
  const { default: PostalMime } = await import('postal-mime');
  const email = await PostalMime.parse(bytes, { forceRfc822Attachments: true, attachmentEncoding: 'arraybuffer' });
  const info: MailInfo = {};
  if (email.subject) info.subject = email.subject;
  if (email.messageId) info.messageId = email.messageId;
  if (email.from) info.from = formatAddress(email.from);
  if (email.date) info.date = email.date;

  const attachments = email.attachments.map((part, i) => ({
    name: part.filename ?? `part ${i + 1} (${part.mimeType})`,
    mimeType: part.mimeType,
    bytes: typeof part.content === 'string' ? new TextEncoder().encode(part.content) : new Uint8Array(part.content),
  }));
  const parsed: ParsedMail = { info, label: mailLabel(info), attachments, text: email.text ?? '' };
  const kind = reportKind(email, attachments);
  if (kind) parsed.kind = kind;
  return parsed;
}

// Labels and types are fine for telling report *kinds* apart (RFC 6591 and RFC 8460 require
// them); the content itself is still sniffed.
function reportKind(email: Email, parts: MailPart[]): 'failure' | 'tls' | undefined {
  const contentType = email.headers.find((h) => h.key === 'content-type')?.value ?? '';
  const reportType = /report-type\s*=\s*"?([\w-]+)/i.exec(contentType)?.[1]?.toLowerCase();
  if (
    reportType === 'feedback-report' ||
    email.headers.some((h) => h.key === 'feedback-type') ||
    parts.some((p) => p.mimeType === 'message/feedback-report')
  ) {
    return 'failure';
  }
  if (reportType === 'tlsrpt' || parts.some((p) => p.mimeType.startsWith('application/tlsrpt'))) return 'tls';
  return undefined;
}

export function mailLabel(info: MailInfo): string {
  const subject = info.subject === undefined ? '(no subject)' : JSON.stringify(info.subject);
  return info.messageId ? `${subject} ${info.messageId}` : subject;
}

function formatAddress(address: Address): string {
  if (address.address === undefined) return address.name;
  return address.name ? `${address.name} <${address.address}>` : address.address;
}
