/**
 * How the Cloudflare sandbox reads the `content` of a TXT record: the API's own rules on top of the
 * RFC 1035 reader every provider shares (scripts/lib/dns-txt.ts). The rules are what the sandbox
 * checks the provider's codec against; the reader itself is pinned by test/lib/dns-txt.test.ts and
 * by the real PowerDNS server whose presentation format test/dns/powerdns.test.ts reads back.
 *
 * The published contract (OpenAPI `dns-records_TXTRecord.content`, SDK `TXTRecordParam.content`):
 * "The content must consist of quoted 'character strings' (RFC 1035), each with a length of up to
 * 255 bytes. Strings exceeding this allowed maximum length are automatically split." The docs add
 * that inconsistent quotation marks (`"this`, `"these" ones"`) are a validation error, and the API
 * still accepts content without any quotes (stored as sent; only the dashboard warns).
 */
import { decodeTxtStrings, parseTxtContent, quoteCharacterString, splitOctets } from '../../lib/dns-txt.ts';

/** One character-string as octets, and as text for display. */
export interface TxtCharacterString {
  octets: Uint8Array;
  text: string;
}

export type TxtContent =
  /** `"…" "…"`: RFC 1035 quoted strings, `\"`, `\\` and `\DDD` escapes decoded. */
  | { form: 'quoted'; strings: TxtCharacterString[] }
  /** Legacy content without quotes: one logical string, published as is. */
  | { form: 'unquoted'; text: string }
  /** Content that starts with a quote but is not a sequence of quoted strings. */
  | { form: 'invalid'; reason: string };

/** Classify and decode TXT content the way the API validates it: quoted only once it starts with a quote. */
export function classifyTxtContent(content: string): TxtContent {
  if (!content.startsWith('"')) return { form: 'unquoted', text: content };
  const parsed = parseTxtContent(content);
  if ('invalid' in parsed) return { form: 'invalid', reason: parsed.invalid };
  const { strings } = decodeTxtStrings(parsed.strings);
  return { form: 'quoted', strings: parsed.strings.map((octets, index) => ({ octets, text: strings[index] ?? '' })) };
}

/**
 * Split character-strings longer than `max` octets, as the API does ("automatically split"), at
 * UTF-8 character boundaries, and write them back in quoted form.
 */
export function splitOverlongStrings(strings: readonly TxtCharacterString[], max = 255): string {
  const pieces = strings.flatMap(({ octets }) => splitOctets(octets, max));
  return decodeTxtStrings(pieces).strings.map(quoteCharacterString).join(' ');
}

/** The logical strings of a TXT content, whatever its form: what a resolver would receive. */
export function txtStrings(content: string): string[] {
  const parsed = classifyTxtContent(content);
  if (parsed.form === 'quoted') return parsed.strings.map((string) => string.text);
  if (parsed.form === 'unquoted') return [parsed.text];
  return [content];
}
