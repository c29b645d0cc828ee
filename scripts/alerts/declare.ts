/**
 * "Declare this sender": the domain file with one more entry under `senders:`, every other byte as it
 * was (comments, their alignment, key order, quoting, flow lists). Pure: text in, text out.
 *
 * The yaml package's Document API finds the `senders:` sequence (its nodes carry source ranges) and
 * writes the new entry (`Document#toString`, so quoting follows YAML's rules whatever a service is
 * called); the entry is spliced in after the last one at the same indentation. Re-serialising the
 * whole document instead would keep comments and order but not their layout: inline comments lose
 * their alignment and flow lists get padded, which makes the pull request's diff noisy.
 *
 * When the domain file has no `senders:` of its own, the list is added at the end; if it inherited
 * senders from `_defaults.yaml`, those are copied first (a list in a domain file replaces the
 * defaults' list: README "The domain file"), with a comment saying so.
 */
import { Document, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { YAMLSeq } from 'yaml';
import type { DomainFileSpec } from '../policy/load.ts';
import { DmarcopsError } from '../lib/errors.ts';
import { oneLine } from '../lib/escape.ts';
import type { SenderProposal } from './model.ts';

export interface DeclareOptions {
  /** Senders the domain file inherits from `_defaults.yaml` (when it sets none itself). */
  inherited?: DomainFileSpec['senders'];
  /** The comment line above the new entry (one line; `#` added). */
  comment?: string;
}

const STRINGIFY = { lineWidth: 0, flowCollectionPadding: false } as const;

/** The domain file's text with `proposal.sender` added under `senders:`. Throws when the file has no place for it. */
export function addSender(text: string, proposal: SenderProposal, options: DeclareOptions = {}): string {
  const doc = parseDocument(text, { version: '1.2' });
  if (doc.errors.length > 0) {
    throw new DmarcopsError(
      'declare-sender-failed',
      `${proposal.file} does not parse as YAML: ${doc.errors[0]?.message ?? 'unknown error'}`,
    );
  }
  if (doc.contents !== null && !isMap(doc.contents))
    throw new DmarcopsError('declare-sender-failed', `${proposal.file} is not a mapping of keys to values`);
  const comment = options.comment === undefined ? [] : [`# ${oneLine(options.comment)}`];
  const entry = orderedSender(proposal.sender);
  const pair = isMap(doc.contents) ? doc.contents.items.find((item) => isScalar(item.key) && item.key.value === 'senders') : undefined;
  const senders = pair?.value;

  if (isSeq(senders) && !senders.flow && senders.items.length > 0 && senders.range) {
    const { dashIndent, nestedIndent } = layoutOf(text, senders);
    const item = renderItem(entry, nestedIndent);
    const last = senders.items.at(-1) as { range?: [number, number, number] } | undefined;
    const end = last?.range?.[1] ?? senders.range[1];
    const lineEnd = text.indexOf('\n', Math.max(0, end - 1));
    const at = lineEnd === -1 ? text.length : lineEnd + 1;
    const before = lineEnd === -1 ? `${text}\n` : text.slice(0, at);
    const lines = [...comment, ...item].map((line) => `${' '.repeat(dashIndent)}${line}`);
    return `${before}${lines.join('\n')}\n${text.slice(at)}`;
  }
  if (pair !== undefined && !(senders === null || (isScalar(senders) && senders.value === null))) {
    // A flow list, an empty list or another odd shape: set the whole value through the Document API.
    const list = isSeq(senders) ? (senders.toJSON() as unknown[]) : [];
    doc.set('senders', doc.createNode([...list, entry]));
    return doc.toString(STRINGIFY);
  }

  // No senders of its own (or `senders:` with nothing after it): a new list at the end.
  const inherited = pair === undefined ? (options.inherited ?? []) : [];
  const head = inherited.length > 0 ? ["# The senders of _defaults.yaml, copied: a list here replaces the defaults' list."] : [];
  const items = [...inherited.map((s) => orderedSender(s)), entry].flatMap((s, index) => [
    ...(index === inherited.length ? comment : []),
    ...renderItem(s, 2),
  ]);
  const block = [...head, 'senders:', ...items.map((line) => `  ${line}`)].join('\n');
  if (pair !== undefined) {
    // `senders:` with an empty value: replace that line's value.
    const keyRange = (pair.key as { range?: [number, number, number] }).range;
    const lineStart = keyRange === undefined ? -1 : text.lastIndexOf('\n', keyRange[0] - 1) + 1;
    const lineEnd = keyRange === undefined ? -1 : text.indexOf('\n', keyRange[0]);
    if (lineStart >= 0) return `${text.slice(0, lineStart)}${block}\n${lineEnd === -1 ? '' : text.slice(lineEnd + 1)}`;
  }
  return `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${block}\n`;
}

/** The keys in the order the README and the schema write them. */
function orderedSender(sender: SenderProposal['sender'] | NonNullable<DomainFileSpec['senders']>[number]): Record<string, unknown> {
  const ordered: Record<string, unknown> = { name: sender.name };
  if (sender.type !== undefined) ordered.type = sender.type;
  if ('ips' in sender && sender.ips !== undefined && sender.ips.length > 0) ordered.ips = sender.ips;
  if (sender.spf_includes !== undefined && sender.spf_includes.length > 0) ordered.spf_includes = sender.spf_includes;
  if (sender.dkim !== undefined && sender.dkim.length > 0)
    ordered.dkim = sender.dkim.map((d) => (d.selector === undefined ? { domain: d.domain } : { domain: d.domain, selector: d.selector }));
  return ordered;
}

/**
 * One sequence item as lines starting with `- `, nested sequences indented by `nestedIndent` under
 * their key (0: `dkim:\n- domain`, 2: `dkim:\n  - domain`); lists of plain values in flow style, as
 * the README writes `spf_includes: [_spf.google.com]`.
 */
function renderItem(entry: Record<string, unknown>, nestedIndent: number): string[] {
  const doc = new Document([entry]);
  const seq = doc.contents as YAMLSeq;
  const map = seq.items[0];
  if (isMap(map)) {
    for (const pair of map.items) {
      if (isSeq(pair.value) && pair.value.items.every((item) => isScalar(item))) pair.value.flow = true;
    }
  }
  return doc
    .toString({ ...STRINGIFY, indentSeq: nestedIndent > 0 })
    .replace(/\n$/, '')
    .split('\n');
}

/** Where the file puts a sequence's dashes (columns), and whether nested sequences are indented under their key. */
function layoutOf(text: string, senders: YAMLSeq): { dashIndent: number; nestedIndent: number } {
  const first = senders.items[0] as { range?: [number, number, number] } | undefined;
  const start = first?.range?.[0] ?? senders.range?.[0] ?? 0;
  const lineStart = text.lastIndexOf('\n', start - 1) + 1;
  const line = text.slice(lineStart, text.indexOf('\n', lineStart) === -1 ? undefined : text.indexOf('\n', lineStart));
  const dashIndent = Math.max(0, line.indexOf('-'));
  // A nested block sequence under a key of an existing entry: `key:\n<spaces>- …` — indented when its dash is right of the key.
  let nestedIndent = 2;
  const match = /\n( *)([A-Za-z_][\w-]*):[ \t]*(?:#.*)?\n( *)- /.exec(text.slice(lineStart, senders.range?.[1] ?? text.length));
  if (match !== null) nestedIndent = (match[3]?.length ?? 0) > (match[1]?.length ?? 0) ? 2 : 0;
  return { dashIndent, nestedIndent };
}
