/**
 * The recursive walk: sniff a node, unwrap it (gzip, zlib, zip, mail, mbox) into child nodes, and
 * end in payloads (aggregate report XML, TLS report JSON) or problems. Payloads are lazy: a payload's open() re-runs its chain of
 * decoders from the original bytes or file, so a big .xml.gz is never held decompressed.
 */
import { bytesSource, collect, drain, errorMessage, gunzipStream, inflateStream, peek, where } from './decompress.ts';
import { formatBytes } from '../../lib/text.ts';
import type { ByteSource, StreamContext } from './decompress.ts';
import type { MailboxMessage } from './mailbox.ts';
import type { ParsedMail } from './mime.ts';
import type { ZipEntry } from './zip.ts';
import { splitMbox } from './mailbox.ts';
import { parseMail } from './mime.ts';
import { describe, gzipFileName, looksLikeTlsReport, sniff, SNIFF_BYTES, xmlRootProblem } from './sniff.ts';
import { RATIO_FLOOR, UnpackError } from './types.ts';
import type { MailInfo, Payload, PayloadKind, Problem, ReportKind, UnpackErrorCode, UnpackLimits, UnpackResult } from './types.ts';
import { isDirectory, readZipEntries, unsupportedReason, zipEntrySource } from './zip.ts';

/** Payloads whose original input is at most this big are decoded to the end during unpack, so that
 * damage, bombs and notes show up in the result instead of in the middle of parsing. */
const VALIDATE_BELOW = 4 * 1024 * 1024;

export interface WalkNode {
  /** File-like name of this node's content. */
  name: string;
  trail: string[];
  /** Unwrapping steps taken to get here (the input itself is 0). */
  depth: number;
  source: ByteSource;
  /** Size of the input this node's bytes are decoded from; decides whether to validate up front. */
  sourceSize: number;
  /** Shared along a chain of single-child layers, so a payload carries its gzip layer's notes. */
  notes: string[];
  mail?: MailInfo;
  /** Set on a mail's direct parts: content that is no report at all is listed here instead of
   * becoming a problem (logos, signatures, calendar files are not worth a warning each). */
  quiet?: string[];
}

export class Walk {
  private readonly limits: UnpackLimits;
  private readonly payloads: Payload[] = [];
  private readonly problems: Problem[] = [];
  private readonly kinds = new Set<ReportKind>();
  /** Headers of the input itself when it is a mail message (the ledger's message_id and subject). */
  private mail: MailInfo | undefined;
  private parts = 0; // payloads and rejected parts of the current input
  private stopped = false; // maxParts reached for the current input

  constructor(limits: UnpackLimits) {
    this.limits = limits;
  }

  result(): UnpackResult {
    const kind: ReportKind = this.payloads.some((payload) => payload.kind === 'aggregate')
      ? 'aggregate'
      : this.payloads.length > 0 || (this.kinds.has('tls') && !this.kinds.has('failure'))
        ? 'tls'
        : this.kinds.has('failure')
          ? 'failure'
          : 'other';
    const result: UnpackResult = { payloads: this.payloads, problems: this.problems, kind };
    if (this.mail) result.mail = this.mail;
    return result;
  }

  async visit(node: WalkNode): Promise<void> {
    if (this.stopped) return;
    let head: Uint8Array;
    try {
      head = await peek(node.source, SNIFF_BYTES);
    } catch (error) {
      this.fail(node, error);
      return;
    }
    const kind = sniff(head);
    switch (kind) {
      case 'gzip':
      case 'zlib':
        return this.decompressed(node, head, kind);
      case 'zip':
        return this.zip(node);
      case 'message':
        return this.message(node);
      case 'mbox':
        return this.mbox(node);
      case 'xml':
        return this.xml(node, head);
      case 'json':
        // RFC 8460 §5.3: `application/tlsrpt+json`, or gzipped as `+gzip` (unwrapped above like any gzip).
        if (looksLikeTlsReport(head)) {
          this.kinds.add('tls');
          return this.payload(node, 'tls');
        }
        return this.reject(node, 'not-a-report', 'is JSON that is neither a DMARC report nor a TLS report');
      case 'empty':
        return this.reject(node, 'empty', 'is empty');
      case 'unknown':
        return this.reject(node, 'not-a-report', `is not XML, gzip, zip, zlib or a mail message (${describe(head)})`);
    }
  }

  /** Starts a new input for the maxParts count (each message of a mailbox is its own input). */
  resetParts(): void {
    this.parts = 0;
    this.stopped = false;
  }

  problem(trail: string[], code: UnpackErrorCode, message: string): void {
    this.problems.push({ trail, code, message });
  }

  private async decompressed(node: WalkNode, head: Uint8Array, codec: 'gzip' | 'zlib'): Promise<void> {
    const name =
      codec === 'gzip'
        ? (gzipFileName(head) ?? stripExtension(node.name, /\.(gz|gzip)$/i, 'gunzipped'))
        : stripExtension(node.name, /\.(zlib|zz|z|deflate)$/i, 'inflated');
    const child = this.child(node, name, name, { notes: node.notes });
    if (!child) return;
    const context = this.context(child);
    child.source = codec === 'gzip' ? () => gunzipStream(node.source, context) : () => inflateStream(node.source(), codec, context);
    await this.visit(child);
  }

  private async zip(node: WalkNode): Promise<void> {
    let bytes: Uint8Array;
    let entries: ZipEntry[];
    try {
      bytes = await collect(node.source, this.context(node));
      entries = readZipEntries(bytes);
    } catch (error) {
      this.fail(node, error, 'damaged zip archive');
      return;
    }
    // Directory entries hold nothing; __MACOSX/ holds Finder metadata twins of the real files.
    const files = entries.filter((e) => !isDirectory(e) && !e.name.startsWith('__MACOSX/'));
    if (files.length === 0) return this.reject(node, 'empty', `is a zip archive with no files (${entries.length} entries)`);
    for (const [i, entry] of files.entries()) {
      if (this.stopped) return;
      const path = entry.name || `entry ${i + 1} (no name)`;
      const child = this.child(node, baseName(path), path, { notes: [...node.notes] });
      if (!child) return;
      const unsupported = unsupportedReason(entry);
      if (unsupported) {
        this.leaf(child.trail, 'corrupt', `${where(child.trail)}: zip entry ${unsupported}; skipped`);
        continue;
      }
      // Refuse early on what the archive declares; the real output is counted while streaming anyway.
      const { declaredSize, compressedSize } = entry;
      if (declaredSize > this.limits.maxPayloadBytes) {
        this.leaf(
          child.trail,
          'limit-size',
          `${where(child.trail)}: zip entry declares ${formatBytes(declaredSize)}, ` +
            `more than ${formatBytes(this.limits.maxPayloadBytes)} (maxPayloadBytes); refused`,
        );
        continue;
      }
      if (declaredSize > RATIO_FLOOR && declaredSize > compressedSize * this.limits.maxRatio) {
        this.leaf(
          child.trail,
          'limit-ratio',
          `${where(child.trail)}: zip entry declares ${formatBytes(declaredSize)} from ${formatBytes(compressedSize)} ` +
            `(ratio ${Math.round(declaredSize / Math.max(compressedSize, 1))}:1 > maxRatio ${this.limits.maxRatio}); refused`,
        );
        continue;
      }
      child.source = zipEntrySource(bytes, entry, this.context(child));
      await this.visit(child);
    }
  }

  private async message(node: WalkNode): Promise<void> {
    let mail: ParsedMail;
    try {
      mail = await parseMail(await collect(node.source, this.context(node)));
    } catch (error) {
      this.fail(node, error, 'unreadable mail message');
      return;
    }
    if (node.depth === 0) this.mail = mail.info;
    // The input's own subject is in the ledger anyway (addresses removed); an attached message (a
    // bounce quoting the original mail) is named by its Message-ID only: its subject is someone's mail.
    const label = node.depth === 0 ? mail.label : `attached message${mail.info.messageId ? ` ${mail.info.messageId}` : ''}`;
    const message = node.depth === 0 ? `message ${label}` : label;
    if (mail.kind === 'failure') {
      return this.unsupported(
        node.trail,
        'failure',
        `${message} is a DMARC failure report (ARF); dmarcops does not ingest failure reports (they carry personal data)`,
      );
    }
    // A TLS report mail (RFC 8460 §5.3) carries its report as an attachment like an aggregate report does.
    if (mail.kind === 'tls') this.kinds.add('tls');
    const before = this.payloads.length + this.problems.length;
    const ignored: string[] = [];
    for (const part of mail.attachments) {
      const item =
        part.mimeType === 'message/rfc822'
          ? `attached message${part.name.startsWith('part ') ? '' : ` ${part.name}`}`
          : `attachment ${part.name}`;
      const child = this.child(node, part.name, item, {
        source: bytesSource(part.bytes),
        sourceSize: part.bytes.length,
        mail: mail.info,
        quiet: ignored,
      });
      if (!child) return;
      await this.visit(child);
    }
    // A report pasted inline as text/plain; any other text body is a human summary and ignored.
    const body = new TextEncoder().encode(mail.text.trim());
    if (body[0] === 0x3c && !xmlRootProblem(body)) {
      const child = this.child(node, node.name, 'body', { source: bytesSource(body), sourceSize: body.length, mail: mail.info });
      if (child) await this.visit(child);
    }
    if (this.payloads.length + this.problems.length === before) {
      const found = ignored.length > 0 ? `ignored: ${ignored.join('; ')}` : 'no attachments';
      const wanted = mail.kind === 'tls' ? 'TLS report (RFC 8460)' : 'DMARC aggregate report';
      this.leaf(node.trail, 'not-a-report', `${where(node.trail)}: no ${wanted} in ${message} (${found})`);
    }
  }

  private async mbox(node: WalkNode): Promise<void> {
    let messages: MailboxMessage[];
    try {
      messages = splitMbox(await collect(node.source, this.context(node)), this.limits.maxPayloadBytes);
    } catch (error) {
      this.fail(node, error);
      return;
    }
    for (const message of messages) {
      const child = this.child(node, message.name, message.name, { source: bytesSource(message.bytes), sourceSize: message.bytes.length });
      if (!child) return;
      if (message.error) {
        this.problem(child.trail, message.error.code, message.error.message);
        continue;
      }
      this.resetParts(); // maxParts counts per message
      await this.visit(child);
    }
  }

  private async xml(node: WalkNode, head: Uint8Array): Promise<void> {
    const notReport = xmlRootProblem(head);
    if (notReport) return this.reject(node, 'not-a-report', notReport);
    return this.payload(node, 'aggregate');
  }

  /** A payload, decoded to the end first when small (damage and bombs show up here, not mid-parse). */
  private async payload(node: WalkNode, kind: PayloadKind): Promise<void> {
    if (node.sourceSize <= VALIDATE_BELOW) {
      try {
        await drain(node.source);
      } catch (error) {
        this.fail(node, error);
        return;
      }
    }
    if (!this.count(node.trail)) return;
    const payload: Payload = { kind, name: node.name, trail: node.trail, open: node.source, notes: node.notes };
    if (node.mail) payload.mail = node.mail;
    this.payloads.push(payload);
  }

  private unsupported(trail: string[], kind: 'failure', message: string): void {
    this.kinds.add(kind);
    this.leaf(trail, 'not-a-report', `${where(trail)}: ${message}`);
  }

  /** Content that is not a report: a problem, or just a line in the mail's summary for a mail's own parts. */
  private reject(node: WalkNode, code: UnpackErrorCode, reason: string): void {
    if (node.quiet) node.quiet.push(`${node.trail.at(-1)} ${reason}`);
    else this.leaf(node.trail, code, `${where(node.trail)}: ${reason}`);
  }

  private fail(node: WalkNode, error: unknown, what = 'damaged data'): void {
    if (error instanceof UnpackError) this.leaf(error.trail, error.code, error.message);
    else this.leaf(node.trail, 'corrupt', `${where(node.trail)}: ${what} (${errorMessage(error)})`);
  }

  /** A problem that ends a branch; counts toward maxParts. */
  private leaf(trail: string[], code: UnpackErrorCode, message: string): void {
    if (this.count(trail)) this.problem(trail, code, message);
  }

  private count(trail: string[]): boolean {
    if (this.stopped) return false;
    if (++this.parts > this.limits.maxParts) {
      this.stopped = true;
      this.problem(
        trail,
        'limit-parts',
        `${where(trail)}: more than ${this.limits.maxParts} payloads or rejected parts in one input (maxParts); the rest was not unpacked`,
      );
      return false;
    }
    return true;
  }

  /** A node one step deeper (or undefined past maxDepth). It inherits source, size and mail unless `own` sets them; notes start empty. */
  private child(node: WalkNode, name: string, item: string, own: Partial<WalkNode> = {}): WalkNode | undefined {
    const trail = [...node.trail, item];
    const depth = node.depth + 1;
    if (depth > this.limits.maxDepth) {
      this.leaf(
        trail,
        'limit-depth',
        `${where(trail)}: nested ${depth} levels deep, more than ${this.limits.maxDepth} (maxDepth); not unpacked`,
      );
      return undefined;
    }
    const child: WalkNode = { name, trail, depth, source: node.source, sourceSize: node.sourceSize, notes: [], ...own };
    if (node.mail && !child.mail) child.mail = node.mail;
    return child;
  }

  private context(node: WalkNode): StreamContext {
    return {
      limits: this.limits,
      trail: node.trail,
      note(message) {
        if (!node.notes.includes(message)) node.notes.push(message);
      },
    };
  }
}

function stripExtension(name: string, extension: RegExp, fallback: string): string {
  const base = baseName(name);
  const stripped = base.replace(extension, '');
  return stripped !== base && stripped !== '' ? stripped : `${base} (${fallback})`;
}

export function baseName(path: string): string {
  return path.split(/[/\\]/).pop() || path;
}
