/**
 * The document scanner: decoded text in, chunk by chunk; complete top-level elements out, one
 * string each (`<record>…</record>`, `<report_metadata>…</report_metadata>`). Only the current
 * element is ever buffered, and no element may grow past `maxElementChars`, so memory stays
 * bounded whatever the input (a 200 MB element or a nested-tag bomb fails fast).
 *
 * It also deals with the document's outside: the prolog (declaration, comments, junk such as a
 * stray `"` after the declaration, IKEA's stray `<xs:schema>`), DTDs (refused: no entity is ever
 * expanded), the root element (must be `feedback`, any prefix) and whatever follows it.
 */
import { isBlank } from './collect.ts';
import { ParseError } from './errors.ts';
import type { WarningCode } from './types.ts';

export interface ScanHandler {
  /** The root start tag: qualified name and the raw attribute text. */
  root(qname: string, attributes: string): void;
  /**
   * Offered first: read the child element starting at `buf[start]` in place. Returns the index just
   * past its end, `DECLINED` (then `element` gets it), or `MORE` (wait for more text).
   */
  direct(local: string, buf: string, start: number): number;
  /** One complete child element of the root, by local name, with its markup. */
  element(local: string, xml: string): void;
}

export const DECLINED = -1;
export const MORE = -2;

export interface ScanOptions {
  maxElementChars: number;
  salvageTruncated: boolean;
  name?: string;
}

type Warn = (code: WarningCode, message: string) => void;

interface StartTag {
  qname: string;
  attributes: string;
  /** Index just past the `>`. */
  end: number;
  selfClosing: boolean;
}

const PROLOG = 0;
const BODY = 1;
const AFTER = 2;
const DTD = /^<!(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)/i;

export class Scanner {
  private readonly handler: ScanHandler;
  private readonly warn: Warn;
  private readonly options: ScanOptions;
  private buf = '';
  private pos = 0;
  /** Characters dropped from the front of `buf` so far (for positions in messages). */
  private consumed = 0;
  private state = PROLOG;
  private rootQname = '';
  private sawMarkup = false;
  /** Where to resume looking for the end tag of the element that starts at `pos`. */
  private searchFrom = -1;
  private strayChars = 0;
  /** The direct reader asked for more text for the element at `pos`. */
  private waiting = false;
  private trailingSeen = false;

  constructor(handler: ScanHandler, warn: Warn, options: ScanOptions) {
    this.handler = handler;
    this.warn = warn;
    this.options = options;
  }

  push(text: string): void {
    if (text === '') return;
    if (this.state === AFTER) {
      this.trailing(text, 0);
      return;
    }
    this.buf = this.pos < this.buf.length ? this.buf.slice(this.pos) + text : text;
    this.consumed += this.pos;
    if (this.searchFrom >= 0) this.searchFrom -= this.pos;
    this.pos = 0;
    this.run(false);
  }

  end(): void {
    this.run(true);
    if (this.state === PROLOG) {
      throw this.error(this.sawMarkup ? 'not-a-report' : 'not-xml', 'the payload has no root element');
    }
    if (this.state === BODY) {
      const pending = isBlank(this.buf, this.pos) ? '' : ` inside ${this.describe(this.pos)}`;
      const message = `the document ends before </${this.rootQname}>${pending}: it is truncated`;
      if (!this.options.salvageTruncated) throw this.error('truncated', message);
      this.warn('truncated', `${message}; the complete records before the cut were kept`);
    }
  }

  private run(final: boolean): void {
    for (;;) {
      const progressed = this.state === PROLOG ? this.prolog(final) : this.state === BODY ? this.body(final) : false;
      if (!progressed) break;
    }
    if (this.state === AFTER && this.pos < this.buf.length) {
      this.trailing(this.buf, this.pos);
      this.buf = '';
      this.pos = 0;
    }
  }

  private prolog(final: boolean): boolean {
    const buf = this.buf;
    let i = this.pos;
    while (i < buf.length && isSpace(buf.charCodeAt(i))) i++;
    this.pos = i;
    if (i >= buf.length) return false;
    if (buf.charCodeAt(i) !== 60 /* < */) {
      if (!this.sawMarkup) {
        throw this.error('not-xml', `the payload is not XML (it starts with ${JSON.stringify(buf.slice(i, i + 24))})`);
      }
      const lt = buf.indexOf('<', i);
      const end = lt === -1 ? buf.length : lt;
      this.warn('junk-before-root', `text ${JSON.stringify(buf.slice(i, Math.min(end, i + 24)))} before the root element ignored`);
      this.stray(end - i);
      this.pos = end;
      return true;
    }
    if (buf.length - i < 10 && !final) return false;
    if (buf.startsWith('<?', i)) {
      const close = buf.indexOf('?>', i + 2);
      if (close === -1) return this.needMore(i, final);
      if (/^<\?xml\s/.test(buf.slice(i, i + 6)) && (this.sawMarkup || this.consumed + i > 0)) {
        this.warn('xml-declaration-not-at-start', 'the XML declaration is not at the very start of the document');
      }
      this.sawMarkup = true;
      this.pos = close + 2;
      return true;
    }
    if (buf.startsWith('<!--', i)) return this.skipComment(i, final);
    if (buf.startsWith('<!', i)) {
      if (DTD.test(buf.slice(i, i + 12))) throw this.dtd();
      throw this.error('not-xml', `unexpected ${JSON.stringify(buf.slice(i, i + 12))} before the root element`);
    }
    const tag = this.startTag(i);
    if (tag === null) return this.needMore(i, final);
    this.sawMarkup = true;
    const local = localName(tag.qname);
    this.pos = tag.end;
    if (local === 'schema') {
      this.warn('stray-schema-tag', `stray <${tag.qname}> tag before the root element ignored`);
      return true;
    }
    if (local !== 'feedback') {
      throw this.error('not-a-report', `the root element is <${tag.qname}>, not <feedback>: not a DMARC aggregate report`);
    }
    this.rootQname = tag.qname;
    this.handler.root(tag.qname, tag.attributes);
    this.state = tag.selfClosing ? AFTER : BODY;
    return true;
  }

  private body(final: boolean): boolean {
    const buf = this.buf;
    const lt = buf.indexOf('<', this.pos);
    if (lt === -1) {
      this.text(this.pos, buf.length);
      this.pos = buf.length;
      return false;
    }
    if (lt > this.pos) {
      this.text(this.pos, lt);
      this.pos = lt;
    }
    if (buf.length - lt < 12 && !final) return false;
    const c = buf.charCodeAt(lt + 1);
    if (c === 47 /* / */) {
      const gt = buf.indexOf('>', lt);
      if (gt === -1) return this.needMore(lt, final);
      const qname = buf.slice(lt + 2, gt).trim();
      this.pos = gt + 1;
      if (qname === this.rootQname) this.state = AFTER;
      else if (localName(qname) === 'schema') this.warn('stray-schema-tag', `stray </${qname}> tag ignored`);
      else this.warn('stray-markup', `stray end tag </${qname}> inside <${this.rootQname}> ignored`);
      return true;
    }
    if (c === 33 /* ! */) {
      if (buf.startsWith('<!--', lt)) return this.skipComment(lt, final);
      if (buf.startsWith('<![CDATA[', lt)) {
        const close = buf.indexOf(']]>', lt);
        if (close === -1) return this.needMore(lt, final);
        this.warn('stray-markup', `CDATA section directly inside <${this.rootQname}> ignored`);
        this.pos = close + 3;
        return true;
      }
      throw this.dtd();
    }
    if (c === 63 /* ? */) {
      const close = buf.indexOf('?>', lt);
      if (close === -1) return this.needMore(lt, final);
      this.pos = close + 2;
      return true;
    }
    const tag = this.startTag(lt);
    if (tag === null) return this.needMore(lt, final);
    if (tag.qname === '') throw this.error('malformed-xml', `"<" not followed by an element name ${this.at(lt)}`);
    const local = localName(tag.qname);
    if (tag.selfClosing) {
      this.pos = tag.end;
      this.handler.element(local, buf.slice(lt, tag.end));
      return true;
    }
    if (local === 'schema') {
      // IKEA: an `<xs:schema …>` start tag left in the report, never closed.
      this.pos = tag.end;
      this.warn('stray-schema-tag', `stray <${tag.qname}> tag ignored`);
      return true;
    }
    // After a first MORE, wait (cheaply, with the incremental end-tag search) for the whole element
    // before offering it again: tiny chunks must not make the direct reader start over each time.
    if (this.waiting && this.findClose(tag.qname, tag.end) === -1) return this.needMore(lt, final);
    const end = this.handler.direct(local, buf, lt);
    if (end >= 0) {
      this.checkSize(lt, end);
      this.pos = end;
      this.waiting = false;
      this.searchFrom = -1;
      return true;
    }
    if (end === MORE && !final) {
      this.waiting = true;
      return this.needMore(lt, final);
    }
    this.waiting = false;
    const close = this.findClose(tag.qname, tag.end);
    if (close === -1) return this.needMore(lt, final);
    this.checkSize(lt, close);
    this.searchFrom = -1;
    this.pos = close;
    this.handler.element(local, buf.slice(lt, close));
    return true;
  }

  /** Index just past the end tag of `qname`, searching from `from`; -1 if not in the buffer yet. */
  private findClose(qname: string, from: number): number {
    const buf = this.buf;
    const needle = `</${qname}`;
    let at = Math.max(from, this.searchFrom);
    for (;;) {
      const k = buf.indexOf(needle, at);
      if (k === -1) {
        this.searchFrom = Math.max(from, buf.length - needle.length);
        return -1;
      }
      let j = k + needle.length;
      while (j < buf.length && isSpace(buf.charCodeAt(j))) j++;
      if (j >= buf.length) {
        this.searchFrom = k;
        return -1;
      }
      if (buf.charCodeAt(j) === 62 /* > */) return j + 1;
      at = k + 1; // `</recordx…`
    }
  }

  /** Parses the start tag at `i` (quote-aware); null when its `>` is not in the buffer yet. */
  private startTag(i: number): StartTag | null {
    const buf = this.buf;
    const n = buf.length;
    let j = i + 1;
    while (j < n) {
      const c = buf.charCodeAt(j);
      if (c <= 32 || c === 47 || c === 62) break;
      j++;
    }
    let quote = 0;
    let k = j;
    for (; k < n; k++) {
      const c = buf.charCodeAt(k);
      if (quote !== 0) {
        if (c === quote) quote = 0;
      } else if (c === 34 || c === 39) quote = c;
      else if (c === 62) break;
    }
    if (k >= n) return null;
    const selfClosing = k > j - 1 && buf.charCodeAt(k - 1) === 47;
    return {
      qname: buf.slice(i + 1, j),
      attributes: buf.slice(j, selfClosing ? k - 1 : k),
      end: k + 1,
      selfClosing,
    };
  }

  private skipComment(i: number, final: boolean): boolean {
    const close = this.buf.indexOf('-->', i + 4);
    if (close === -1) return this.needMore(i, final);
    this.pos = close + 3;
    return true;
  }

  /** Waits for more input for the construct at `i`, within the size cap. */
  private needMore(i: number, final: boolean): boolean {
    this.pos = i;
    if (final) return false; // end() reports what is left
    this.checkSize(i, this.buf.length);
    return false;
  }

  private checkSize(start: number, end: number): void {
    if (end - start > this.options.maxElementChars) {
      throw this.error(
        'element-too-large',
        `${this.describe(start)} is larger than ${this.options.maxElementChars} characters; refusing to buffer it`,
      );
    }
  }

  private text(from: number, to: number): void {
    if (isBlank(this.buf, from, to)) return;
    this.warn('unexpected-text', `text directly inside <${this.rootQname}> ignored`);
    this.stray(to - from);
  }

  private stray(chars: number): void {
    this.strayChars += chars;
    if (this.strayChars > this.options.maxElementChars) {
      throw this.error('malformed-xml', `more than ${this.options.maxElementChars} characters of text outside any element`);
    }
  }

  private trailing(text: string, from: number): void {
    if (this.trailingSeen || isBlank(text, from)) return;
    const rest = text.slice(from).trim();
    if (/^<\/[\w.-]+:schema\s*>\s*$/.test(rest)) {
      this.warn('stray-schema-tag', `stray ${rest} after the root element ignored`);
      return;
    }
    this.trailingSeen = true;
    this.warn('trailing-content', `content after </${this.rootQname}> ignored (${JSON.stringify(rest.slice(0, 24))}…)`);
  }

  private describe(i: number): string {
    const name = /^<([^\s/>]*)/.exec(this.buf.slice(i, i + 64))?.[1];
    return name ? `<${name}> ${this.at(i)}` : `the markup ${this.at(i)}`;
  }

  private at(i: number): string {
    return `at character ${this.consumed + i}`;
  }

  private dtd(): ParseError {
    return this.error(
      'dtd-forbidden',
      'the document has a DTD (<!DOCTYPE>/<!ENTITY>); DTDs are refused so no entity is ever expanded (billion laughs, external entities)',
    );
  }

  private error(code: ParseError['code'], message: string): ParseError {
    return new ParseError(code, message, this.options.name);
  }
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9 || c === 0xfeff;
}

export function localName(qname: string): string {
  const colon = qname.indexOf(':');
  return colon === -1 ? qname : qname.slice(colon + 1);
}
