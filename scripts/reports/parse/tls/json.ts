/**
 * Bytes → a JSON value, within limits, before anything trusts it: gzip undone with a cap on the output,
 * strict UTF-8, then one linear scan that enforces nesting depth, string length and keys per object,
 * refuses keys that pollute prototypes in code that merges objects (`__proto__`, `constructor`,
 * `prototype`, also when written with escapes) and notes duplicate keys (JSON.parse keeps the last one).
 * Only then does JSON.parse build the value. The scan checks structure, not grammar: whatever it lets
 * through that is not JSON, JSON.parse refuses.
 */
import { gunzipSync } from 'node:zlib';
import { TlsParseError } from './errors.ts';
import { keyForMessage } from './fields.ts';
import type { TlsParseLimits } from './types.ts';

export const DEFAULT_TLS_LIMITS: Readonly<TlsParseLimits> = Object.freeze({
  maxBytes: 32 * 1024 * 1024,
  maxDepth: 16,
  maxStringChars: 16 * 1024,
  maxKeys: 256,
  maxPolicies: 10_000,
  maxFailureDetails: 100_000,
  maxListItems: 1_000,
});

const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export interface JsonDocument {
  value: unknown;
  /** Bytes of JSON (after decompression). */
  bytes: number;
  gzip: boolean;
  byteOrderMark: boolean;
  /** JSON paths of keys that appear twice in one object (the last value is the one kept). */
  duplicateKeys: string[];
}

export function readJsonDocument(input: Uint8Array | string, limits: TlsParseLimits, name?: string): JsonDocument {
  let gzip = false;
  let text: string;
  let bytes: number;
  if (typeof input === 'string') {
    text = input;
    bytes = Buffer.byteLength(input, 'utf8');
  } else {
    let data = input;
    if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) {
      gzip = true;
      try {
        data = gunzipSync(data, { maxOutputLength: limits.maxBytes });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
          throw new TlsParseError('too-large', `decompresses to more than ${limits.maxBytes} bytes (the limit for one report)`, name);
        }
        throw new TlsParseError('corrupt-gzip', `is gzip but cannot be decompressed: ${(error as Error).message}`, name);
      }
    }
    bytes = data.length;
    if (bytes > limits.maxBytes)
      throw new TlsParseError('too-large', `is ${bytes} bytes, more than ${limits.maxBytes} (the limit for one report)`, name);
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(data);
    } catch {
      throw new TlsParseError('invalid-utf8', 'is not UTF-8 text (RFC 8259 §8.1 requires UTF-8 for JSON)', name);
    }
  }
  if (bytes > limits.maxBytes)
    throw new TlsParseError('too-large', `is ${bytes} bytes, more than ${limits.maxBytes} (the limit for one report)`, name);
  const byteOrderMark = text.charCodeAt(0) === 0xfeff;
  if (byteOrderMark) text = text.slice(1);
  if (text.trim() === '') throw new TlsParseError('empty', 'is empty', name);

  const duplicateKeys = scan(text, limits, name);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TlsParseError('malformed-json', `is not valid JSON: ${syntaxProblem((error as Error).message)}`, name);
  }
  return { value, bytes, gzip, byteOrderMark, duplicateKeys };
}

interface Frame {
  kind: 'object' | 'array';
  keys: Set<string>;
  expectKey: boolean;
  key: string;
  index: number;
}

/** Where the scan is, as a JSON path: keys the format does not define are not repeated (fields.ts). */
function pathOf(stack: readonly Frame[]): string {
  return (
    stack
      .map((frame) => (frame.kind === 'object' ? (frame.key === '' ? '' : keyForMessage(frame.key)) : `[${frame.index}]`))
      .filter((part) => part !== '')
      .join('/')
      .replace(/\/\[/g, '[') || '(top level)'
  );
}

/** The structural checks; returns the paths of duplicate keys. Stops quietly at text that is not JSON. */
function scan(text: string, limits: TlsParseLimits, name?: string): string[] {
  const stack: Frame[] = [];
  const duplicates: string[] = [];
  const length = text.length;
  let i = 0;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      if (end < 0) return duplicates; // unterminated: JSON.parse says where
      if (end - i - 2 > limits.maxStringChars) {
        throw new TlsParseError(
          'string-too-long',
          `a string at ${pathOf(stack)} is ${end - i - 2} characters long, more than ${limits.maxStringChars}`,
          name,
        );
      }
      const top = stack[stack.length - 1];
      if (top?.kind === 'object' && top.expectKey) {
        let key: string;
        try {
          key = JSON.parse(text.slice(i, end)) as string;
        } catch {
          return duplicates; // a bad escape: JSON.parse reports it
        }
        const where = pathOf(stack.slice(0, -1)); // the object holding the key
        if (FORBIDDEN_KEYS.has(key)) {
          throw new TlsParseError(
            'forbidden-key',
            `has a key ${JSON.stringify(key)} in ${where}: refused, such keys change object prototypes in code that merges objects`,
            name,
          );
        }
        if (top.keys.has(key)) duplicates.push(where === '(top level)' ? key : `${where}/${key}`);
        top.keys.add(key);
        if (top.keys.size > limits.maxKeys)
          throw new TlsParseError('too-many-items', `an object in ${where} has more than ${limits.maxKeys} keys`, name);
        top.key = key;
        top.expectKey = false;
      }
      i = end;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      stack.push({ kind: c === 0x7b ? 'object' : 'array', keys: new Set(), expectKey: c === 0x7b, key: '', index: 0 });
      if (stack.length > limits.maxDepth)
        throw new TlsParseError(
          'too-deep',
          `nests objects and lists more than ${limits.maxDepth} levels deep (a TLS report needs 5)`,
          name,
        );
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.kind === 'object') top.expectKey = true;
      else if (top?.kind === 'array') top.index += 1;
    }
    i += 1;
  }
  return duplicates;
}

/** Index just after the closing quote of the string starting at `start`, or -1 when it is not closed. */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) return -1;
    let backslashes = 0;
    for (let k = quote - 1; k > start && text.charCodeAt(k) === 0x5c; k--) backslashes += 1;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/**
 * JSON.parse's complaint in words that quote nothing of the text: V8 writes some with a slice of the
 * document (`Unexpected token 'x', "…" is not valid JSON`), and a refused document may be anyone's.
 */
function syntaxProblem(message: string): string {
  const located = /^([^"]{1,100}?) (in|after) JSON at position (\d+)(?: \(line (\d+) column (\d+)\))?$/.exec(message);
  if (located !== null) {
    const [, what, where, position, line, column] = located;
    const place = line === undefined ? `character ${Number(position) + 1}` : `line ${line}, column ${column}`;
    return `${what}${where === 'after' ? ' after the JSON value' : ''} at ${place}`;
  }
  if (message.startsWith('Unexpected end of JSON input')) return 'it ends in the middle (cut off?)';
  if (message.startsWith('Unexpected token')) return 'a character or word that JSON does not allow';
  return 'a syntax error';
}
