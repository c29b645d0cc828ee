/**
 * Public types of the UNPACK stage: mailbox / file → report payloads (DMARC aggregate XML, TLS report JSON).
 * Everything else in this folder is an implementation detail behind index.ts.
 */
import { DmarcopsError } from '../../lib/errors.ts';

export interface UnpackLimits {
  /** Largest decompressed size of any one layer (payload, gzip member, zip entry, attachment), in bytes. */
  maxPayloadBytes: number;
  /** Largest decompressed/compressed ratio of one layer; checked only once its output passes RATIO_FLOOR. */
  maxRatio: number;
  /** How many unwrapping steps (attachment, gunzip, zip entry, attached message…) may be nested. */
  maxDepth: number;
  /** Payloads (and rejected parts) per input; for a mailbox, per message. */
  maxParts: number;
}

export const DEFAULT_LIMITS: UnpackLimits = Object.freeze({
  maxPayloadBytes: 256 * 1024 * 1024,
  maxRatio: 200,
  maxDepth: 5,
  maxParts: 200,
});

/** Tiny inputs legitimately compress far better than 200:1, so the ratio only counts past this size. */
export const RATIO_FLOOR = 1024 * 1024;

export type UnpackErrorCode = 'limit-size' | 'limit-ratio' | 'limit-depth' | 'limit-parts' | 'not-a-report' | 'corrupt' | 'empty';

/** Why an input holds no usable payload; the code is a report refusal of docs/errors.md. */
export class UnpackError extends DmarcopsError {
  declare readonly code: UnpackErrorCode;
  /** Where it happened, outermost first: file, attachment, archive entry… */
  readonly trail: string[];

  constructor(code: UnpackErrorCode, message: string, trail: string[], options?: ErrorOptions) {
    super(code, message, { location: { source: trail.join(' › ') }, ...(options?.cause === undefined ? {} : { cause: options.cause }) });
    this.name = 'UnpackError';
    this.trail = trail;
  }
}

/** Headers of the mail message a payload came from (the innermost one), for the ledger's source_ref. */
export interface MailInfo {
  subject?: string;
  messageId?: string;
  from?: string;
  date?: string;
}

export interface Payload {
  /** What the bytes are: a DMARC aggregate report's XML, or an SMTP TLS report's JSON (RFC 8460). */
  kind: PayloadKind;
  /** File-like name: zip entry, gzip FNAME, attachment name, or the input name. */
  name: string;
  /** How it was reached, e.g. ['msg.eml', 'attachment google.com!x.zip', 'google.com!x.xml']. */
  trail: string[];
  /** Streams the decompressed XML or JSON bytes from the start (callable more than once); throws UnpackError on limits or damage. */
  open(): AsyncIterable<Uint8Array>;
  /** Harmless oddities (e.g. junk after a gzip member). open() may append notes it discovers while streaming. */
  notes: string[];
  /** The enclosing mail message, when there is one. */
  mail?: MailInfo;
}

export interface Problem {
  trail: string[];
  code: UnpackErrorCode;
  message: string;
}

export type ReportKind = 'aggregate' | 'failure' | 'tls' | 'other';
export type PayloadKind = 'aggregate' | 'tls';

export interface UnpackResult {
  payloads: Payload[];
  problems: Problem[];
  /**
   * Best guess: 'aggregate' as soon as there is an aggregate payload, 'tls' for TLS report payloads only
   * or a mail labelled as a TLS report (RFC 8460 §5.3) that held none; failure reports (ARF) are
   * recognised and never unpacked.
   */
  kind: ReportKind;
  /** Headers of the input itself when it is a mail message (a file or mailbox message, not an attached one). */
  mail?: MailInfo;
}
