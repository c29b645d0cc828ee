/**
 * The general reader: fast-xml-parser on one element's markup (a header element, or a record the
 * fast path gave up on). It validates first, because fast-xml-parser's parser accepts mismatched
 * tags silently; on failure it tries the known repairs (kddi's `…0/report_id>`, uwaterloo's `<>`)
 * once, with a warning, and otherwise throws a `ParseError` naming the element and position.
 * Entities are resolved here (predefined and numeric only: there is never a DTD), so the parser's
 * own entity expansion stays off.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { XmlSink } from './collect.ts';
import { ParseError } from './errors.ts';
import { MAX_DEPTH } from './fastpath.ts';
import type { WarningCode } from './types.ts';

type Warn = (code: WarningCode, message: string) => void;
type OrderedNode = Record<string, unknown>;

const DTD = /<!(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)/i;

export class FxpReader {
  private readonly parser = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: true,
    processEntities: false,
    parseTagValue: false,
    trimValues: false,
    cdataPropName: '#cdata',
    ignoreDeclaration: true,
    ignorePiTags: true,
    maxNestedTags: MAX_DEPTH,
    // Keep names such as `toString` as written; `__proto__`/`constructor`/`prototype` still throw.
    onDangerousProperty: (name: string) => name,
  });
  private readonly name: string | undefined;

  constructor(name?: string) {
    this.name = name;
  }

  /** Feeds `xml` (one element) to `sink`; `where` names it in messages, e.g. `record 12`. */
  read(xml: string, sink: XmlSink, warn: Warn, where: string): void {
    if (DTD.test(xml)) {
      throw new ParseError('dtd-forbidden', `${where} contains a DTD declaration; DTDs and entities are refused`, this.name);
    }
    const checked = XMLValidator.validate(xml);
    if (checked !== true) {
      const repaired = repairMarkup(xml);
      if (repaired.fixes.length === 0 || XMLValidator.validate(repaired.xml) !== true) {
        const { msg, line, col } = checked.err;
        throw new ParseError(
          'malformed-xml',
          `${where} is not well-formed XML: ${msg} (line ${line}, column ${col} of the element)`,
          this.name,
        );
      }
      for (const fix of repaired.fixes) warn('repaired-markup', `${fix} repaired`);
      xml = repaired.xml;
    }
    let tree: OrderedNode[];
    try {
      tree = this.parser.parse(xml) as OrderedNode[];
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (/nested/i.test(message)) {
        throw new ParseError('too-deep', `${where}: elements nested deeper than ${MAX_DEPTH} levels`, this.name);
      }
      throw new ParseError('malformed-xml', `${where} could not be read: ${message}`, this.name);
    }
    walk(tree, sink, warn);
  }
}

function walk(nodes: OrderedNode[], sink: XmlSink, warn: Warn): void {
  for (const node of nodes) {
    for (const key of Object.keys(node)) {
      if (key === ':@') continue;
      const value = node[key];
      if (key === '#text') sink.text(decodeEntities(String(value), warn));
      else if (key === '#cdata') {
        for (const part of value as OrderedNode[]) sink.text(String(part['#text'] ?? ''));
      } else {
        const colon = key.indexOf(':');
        sink.open(colon === -1 ? key : key.slice(colon + 1));
        walk(value as OrderedNode[], sink, warn);
        sink.close();
      }
    }
  }
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const REFERENCE = /&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z_][\w.-]*);/g;

/** Resolves the five predefined entities and character references; others stay as written. */
export function decodeEntities(text: string, warn: Warn): string {
  if (!text.includes('&')) return text;
  return text.replace(REFERENCE, (whole, ref: string) => {
    if (ref.charCodeAt(0) === 35 /* # */) {
      const code = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      if (code > 0 && code <= 0x10ffff) return String.fromCodePoint(code);
    } else if (Object.hasOwn(PREDEFINED, ref)) return PREDEFINED[ref] as string;
    warn('unknown-entity', `entity reference ${whole} left as written (no DTD is read)`);
    return whole;
  });
}

/** Known damage seen in real reports, fixed in a copy. */
export function repairMarkup(xml: string): { xml: string; fixes: string[] } {
  const fixes: string[] = [];
  // kddi: `<report_id>…0/report_id>`, the `<` of the end tag lost.
  let out = xml.replace(/<([A-Za-z_][\w.:-]*)>([^<]*?)\/\1>/g, (_whole, name: string, text: string) => {
    fixes.push(`end tag of <${name}> without "<"`);
    return `<${name}>${text}</${name}>`;
  });
  // uwaterloo: a literal `<>` inside a value.
  if (out.includes('<>')) {
    fixes.push('literal "<>" in text');
    out = out.replaceAll('<>', '&lt;&gt;');
  }
  return { xml: out, fixes };
}
