/**
 * A second, independent way to read a report, for differential tests only: fast-xml-parser on the
 * whole document, with no scanner and no fast path; the same collectors and normalisers make the
 * objects. Fine for corpus-sized files; never use it for real input (it holds the whole document).
 */
import { Collector } from './collect.ts';
import type { XmlSink } from './collect.ts';
import { XmlDecoder } from './decode.ts';
import { FxpReader } from './fxp.ts';
import { type RootInfo, Warnings, normalizeHeader } from './normalize.ts';
import { RecordBuilder } from './records.ts';
import { HEADER_ELEMENTS, HEADER_ROOT } from './schema.ts';
import type { ReportHeader, ReportRecord, WarningCode } from './types.ts';

export interface ReferenceReport {
  header: ReportHeader;
  records: ReportRecord[];
}

export function parseReportReference(bytes: Uint8Array): ReferenceReport {
  const w = new Warnings();
  const warn = (code: WarningCode, message: string): void => w.add(code, message);
  const decoder = new XmlDecoder(warn);
  const text = decoder.push(bytes) + decoder.end();
  const sink = new DocumentSink(w);
  new FxpReader().read(text, sink, warn, 'the document');
  return { header: normalizeHeader(sink.header.root, rootInfo(text), w), records: sink.records };
}

/** Routes the children of `<feedback>` to the header or a record collector. */
class DocumentSink implements XmlSink {
  readonly header = new Collector(HEADER_ROOT);
  readonly records: ReportRecord[] = [];
  private readonly record: RecordBuilder;
  private depth = 0;
  private target: XmlSink | null = null;

  constructor(w: Warnings) {
    this.record = new RecordBuilder(w);
  }

  open(name: string): void {
    this.depth++;
    if (this.depth === 2) {
      if (name === 'record') {
        this.record.reset(this.records.length);
        this.target = this.record;
      } else this.target = HEADER_ELEMENTS.has(name) ? this.header : null;
    }
    if (this.depth >= 2) this.target?.open(name);
  }

  text(value: string): void {
    if (this.depth >= 2) this.target?.text(value);
  }

  close(): void {
    if (this.depth >= 2) this.target?.close();
    if (this.depth === 2 && this.target === this.record) {
      const record = this.record.finish();
      if (record !== undefined) this.records.push(record);
    }
    this.depth--;
  }
}

function rootInfo(text: string): RootInfo | undefined {
  const tag = /<([A-Za-z_][\w.:-]*)([^>]*)>/.exec(text.replace(/<\?[\s\S]*?\?>|<!--[\s\S]*?-->/g, ''));
  if (!tag) return undefined;
  const qname = tag[1] as string;
  const colon = qname.indexOf(':');
  const attribute = colon === -1 ? 'xmlns' : `xmlns:${qname.slice(0, colon)}`;
  const value = new RegExp(`(?:^|\\s)${attribute}\\s*=\\s*["']([^"']*)["']`).exec(tag[2] ?? '')?.[1]?.trim();
  return value ? { qname, namespace: value } : { qname };
}
