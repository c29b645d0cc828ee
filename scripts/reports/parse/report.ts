/**
 * The synchronous core shared by `parseReport` (streaming) and `parseReportBytes`:
 * bytes → decode.ts → scan.ts → records: fastpath.ts (or fxp.ts) → records.ts;
 *                               header elements: fxp.ts → collect.ts → normalize.ts.
 *
 * The header is settled as soon as a record arrives after `report_metadata` and `policy_published`.
 * If records come first (rare), they wait, up to `maxPendingRecords`; then the header is settled
 * with what was seen, or, if nothing was, the report is refused.
 */
import { Collector } from './collect.ts';
import { XmlDecoder } from './decode.ts';
import { ParseError } from './errors.ts';
import { INCOMPLETE, readFast } from './fastpath.ts';
import { FxpReader } from './fxp.ts';
import { type RootInfo, Warnings, normalizeHeader } from './normalize.ts';
import { RecordBuilder } from './records.ts';
import { DECLINED, MORE, Scanner } from './scan.ts';
import { HEADER_ELEMENTS, HEADER_ROOT } from './schema.ts';
import type { ParseOptions, ParseStats, ParseWarning, ReportHeader, ReportRecord, WarningCode } from './types.ts';

const ATTRIBUTE = /([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

export class ReportParser {
  readonly name: string;
  private readonly inputName: string | undefined;
  readonly stats: ParseStats = { bytes: 0, records: 0, messages: 0, fastPath: 0, fallback: 0, encoding: 'utf-8' };
  /** Set once the header is settled. */
  header: ReportHeader | undefined;
  private readonly w = new Warnings();
  private readonly warn = (code: WarningCode, message: string): void => this.w.add(code, message);
  private readonly decoder: XmlDecoder;
  private readonly scanner: Scanner;
  private readonly fxp: FxpReader;
  private readonly headerDraft = new Collector(HEADER_ROOT);
  private readonly builder: RecordBuilder;
  private readonly fastPath: boolean;
  private readonly maxPending: number;
  private root: RootInfo | undefined;
  private readonly seen = new Set<string>();
  private ready: ReportRecord[] = [];
  private textStarted = false;

  constructor(options: ParseOptions = {}) {
    this.name = options.name ?? 'report';
    this.inputName = options.name;
    this.fastPath = options.fastPath ?? true;
    this.maxPending = options.maxPendingRecords ?? 20_000;
    this.decoder = new XmlDecoder(this.warn, options.name);
    this.fxp = new FxpReader(options.name);
    this.builder = new RecordBuilder(this.w);
    this.scanner = new Scanner(
      {
        root: (qname, attributes) => this.onRoot(qname, attributes),
        direct: (local, buf, start) => this.readDirect(local, buf, start),
        element: (local, xml) => this.onElement(local, xml),
      },
      this.warn,
      {
        maxElementChars: options.maxElementChars ?? 1 << 20,
        salvageTruncated: options.salvageTruncated ?? false,
        name: options.name,
      },
    );
  }

  get warnings(): ParseWarning[] {
    return this.w.list;
  }

  push(bytes: Uint8Array): void {
    this.scanner.push(this.decoder.push(bytes));
    this.syncStats();
  }

  /** Input already decoded; a leading byte order mark is dropped as the decoder would. */
  pushText(text: string): void {
    this.scanner.push(this.stats.bytes === 0 && !this.textStarted && text.startsWith('\ufeff') ? text.slice(1) : text);
    this.textStarted = true;
  }

  end(): void {
    this.scanner.push(this.decoder.end());
    this.endText();
  }

  /** `end` for input given as text (`pushText`). */
  endText(): void {
    this.scanner.end();
    this.syncStats();
    if (this.header === undefined) this.settleHeader();
  }

  /** Records ready for the consumer (none until the header is settled). */
  take(): ReportRecord[] {
    if (this.header === undefined || this.ready.length === 0) return [];
    const out = this.ready;
    this.ready = [];
    return out;
  }

  get readyCount(): number {
    return this.header === undefined ? 0 : this.ready.length;
  }

  private syncStats(): void {
    this.stats.bytes = this.decoder.bytes;
    this.stats.encoding = this.decoder.encoding;
  }

  private onRoot(qname: string, attributes: string): void {
    const colon = qname.indexOf(':');
    const wanted = colon === -1 ? 'xmlns' : `xmlns:${qname.slice(0, colon)}`;
    let namespace: string | undefined;
    for (const m of attributes.matchAll(ATTRIBUTE)) {
      if (m[1] === wanted) namespace = (m[2] ?? m[3] ?? '').trim();
    }
    this.root = namespace ? { qname, namespace } : { qname };
  }

  private onElement(local: string, xml: string): void {
    if (local === 'record') {
      this.onRecord(xml);
      return;
    }
    if (!HEADER_ELEMENTS.has(local)) {
      this.warn('unknown-element', `unknown element <${elementName(xml)}> inside <feedback> ignored`);
      return;
    }
    if (this.header !== undefined) {
      this.warn('duplicate-element', `<${local}> after the header was settled (after records) ignored`);
      return;
    }
    if (this.stats.records > 0) this.warn('header-after-records', `<${local}> comes after the first record`);
    this.fxp.read(xml, this.headerDraft, this.warn, `<${local}>`);
    this.seen.add(local);
  }

  /** The fast path, straight from the scanner's buffer. */
  private readDirect(local: string, buf: string, start: number): number {
    if (local !== 'record' || !this.fastPath) return DECLINED;
    this.builder.reset(this.stats.records);
    const end = readFast(buf, start, this.builder);
    if (end < 0) return end === INCOMPLETE ? MORE : DECLINED;
    this.stats.fastPath++;
    this.addRecord();
    return end;
  }

  /** The general path: fast-xml-parser on the element's markup. */
  private onRecord(xml: string): void {
    const index = this.stats.records;
    this.builder.reset(index);
    this.fxp.read(xml, this.builder, (code, message) => this.builder.warn(code, message), `record ${index + 1}`);
    this.stats.fallback++;
    this.addRecord();
  }

  private addRecord(): void {
    const index = this.stats.records;
    const record = this.builder.finish();
    if (record === undefined) throw new ParseError('malformed-xml', `record ${index + 1} could not be read`, this.inputName);
    this.stats.records++;
    if (record.count !== null) this.stats.messages += record.count;
    this.ready.push(record);
    if (this.header === undefined) {
      if (this.seen.has('report_metadata') && this.seen.has('policy_published')) this.settleHeader();
      else if (this.ready.length > this.maxPending) {
        if (this.seen.size === 0) {
          throw new ParseError(
            'header-not-found',
            `no <report_metadata> or <policy_published> in the first ${this.maxPending} records`,
            this.inputName,
          );
        }
        this.settleHeader();
      }
    }
  }

  private settleHeader(): void {
    this.header = normalizeHeader(this.headerDraft.root, this.root, this.w);
    for (const note of this.headerDraft.notes) this.w.add(note.code, note.message);
  }
}

function elementName(xml: string): string {
  return /^<([^\s/>]*)/.exec(xml)?.[1] ?? '?';
}
