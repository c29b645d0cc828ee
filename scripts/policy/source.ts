/**
 * YAML text with its source positions, so every finding can point at file:line:col.
 * The `yaml` library keeps byte ranges on each node; a LineCounter turns them into lines and columns.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node } from 'yaml';
import type { Finding, SourcePosition } from './model.ts';

export type YamlPath = readonly (string | number)[];

export interface YamlSource {
  file: string;
  text: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

export interface Located extends SourcePosition {
  file: string;
}

export function parseYamlSource(text: string, file: string): { source: YamlSource; findings: Finding[] } {
  const lineCounter = new LineCounter();
  // YAML 1.2 core schema: `yes`/`no`/`on` stay strings, so `policy: no` is caught as a typo, not read as false.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: '1.2' });
  const source: YamlSource = { file, text, doc, lineCounter };
  // After the first syntax error the parser's later complaints are mostly echoes of it: report the
  // first one, and every duplicate key (those are independent).
  const errors = doc.errors.filter((error, index) => index === 0 || error.code === 'DUPLICATE_KEY');
  const findings: Finding[] = errors.map((error) => {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    const duplicate = error.code === 'DUPLICATE_KEY';
    return {
      rule: duplicate ? 'duplicate-key' : 'yaml-syntax',
      severity: 'error' as const,
      message: duplicate ? 'this key appears twice in the same mapping' : firstLine(error.message),
      file,
      line,
      col,
    };
  });
  return { source, findings };
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

/**
 * Where a path points in the document: at the key (`part: 'key'`) or at the value. When the path is
 * missing, the closest existing ancestor is returned, so a finding always has a place to point at.
 */
export function locateInSource(source: YamlSource, path: YamlPath, part: 'key' | 'value' = 'value'): Located | null {
  let node: unknown = source.doc.contents;
  let offset: number | null = rangeStart(node);
  for (const [index, segment] of path.entries()) {
    const isLast = index === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) return offset === null ? null : toLocated(source, offset);
      if (isLast && part === 'key') return toLocated(source, rangeStart(pair.key) ?? offset ?? 0);
      node = pair.value;
      offset = rangeStart(pair.value) ?? rangeStart(pair.key) ?? offset;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) return offset === null ? null : toLocated(source, offset);
      node = item;
      offset = rangeStart(item) ?? offset;
    } else {
      return offset === null ? null : toLocated(source, offset);
    }
  }
  return offset === null ? null : toLocated(source, offset);
}

/** Whether the document itself sets the value at this path (as opposed to inheriting it from defaults). */
export function hasPath(source: YamlSource, path: YamlPath): boolean {
  return source.doc.hasIn(path as unknown[]);
}

function rangeStart(node: unknown): number | null {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : null;
}

function toLocated(source: YamlSource, offset: number): Located {
  const { line, col } = source.lineCounter.linePos(offset);
  return { file: source.file, line, col };
}

/** The text of one line, for the code frame under a finding. */
export function sourceLine(text: string, line: number): string | undefined {
  return text.split(/\r?\n/)[line - 1];
}
