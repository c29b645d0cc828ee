/**
 * IP addresses: parsed as numbers (for range lookups and stable cache keys), spelled one way
 * (`canonicalIp`), and told public or not (`isPublicIp`).
 * IPv4 is one uint32; IPv6 is four uint32 words, most significant first. An IPv4-mapped IPv6
 * address (`::ffff:192.0.2.1`) is treated as the IPv4 address it carries, as senders are.
 */
import { isIP } from 'node:net';

export type ParsedIp = { family: 4; value: number } | { family: 6; words: [number, number, number, number] };

/** Parses an IPv4 or IPv6 address (a `%zone` suffix is ignored); null when it is not one. */
export function parseIp(text: string): ParsedIp | null {
  // The common dotted quad without net.isIP's regular expressions.
  const quad = parseIpv4(text);
  if (quad !== -1) return { family: 4, value: quad };
  const trimmed = text.trim();
  const zone = trimmed.indexOf('%');
  const address = zone === -1 ? trimmed : trimmed.slice(0, zone);
  const family = isIP(address);
  if (family === 4) return { family: 4, value: parseIpv4(address) };
  if (family !== 6) return null;
  const words = parseIpv6(address);
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return { family: 4, value: words[3] };
  return { family: 6, words };
}

/**
 * A dotted quad as net.isIPv4 accepts it (four decimal octets 0–255, no leading zeros) → uint32; -1
 * for anything else. Hand-written because report rows are mostly dotted quads and net.isIP's regular
 * expressions cost more than the rest of the row.
 */
export function parseIpv4(text: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i === text.length ? 46 : text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || part > 255 || (digits > 1 && part < 10 ** (digits - 1))) return -1;
      value = value * 256 + part;
      part = digits = 0;
      parts++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + c - 48;
      digits++;
    } else return -1;
  }
  return parts === 4 ? value : -1;
}

/** IPv6 text (with `::` and an optional dotted IPv4 tail) → four uint32 words. Assumes valid input. */
export function parseIpv6(text: string): [number, number, number, number] {
  const hextets = new Array<number>(8).fill(0);
  const gap = text.indexOf('::');
  const head = gap === -1 ? text : text.slice(0, gap);
  const tail = gap === -1 ? '' : text.slice(gap + 2);
  const headGroups = groups(head);
  const tailGroups = groups(tail);
  for (let i = 0; i < headGroups.length; i++) hextets[i] = headGroups[i] ?? 0;
  for (let i = 0; i < tailGroups.length; i++) hextets[8 - tailGroups.length + i] = tailGroups[i] ?? 0;
  const word = (i: number): number => ((hextets[i] ?? 0) * 0x10000 + (hextets[i + 1] ?? 0)) >>> 0;
  return [word(0), word(2), word(4), word(6)];
}

function groups(part: string): number[] {
  if (part === '') return [];
  const out: number[] = [];
  for (const group of part.split(':')) {
    if (group.includes('.')) {
      const v4 = parseIpv4(group);
      out.push(Math.floor(v4 / 0x10000), v4 % 0x10000);
    } else {
      out.push(Number.parseInt(group, 16));
    }
  }
  return out;
}

/** The one spelling of an address: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as `::`). */
export function formatIp(ip: ParsedIp): string {
  if (ip.family === 4) {
    const v = ip.value;
    return `${Math.floor(v / 0x1000000)}.${Math.floor(v / 0x10000) % 256}.${Math.floor(v / 0x100) % 256}.${v % 256}`;
  }
  const hextets: number[] = [];
  for (const w of ip.words) hextets.push(Math.floor(w / 0x10000), w % 0x10000);
  // The longest run of two or more zero hextets (the first, on a tie) becomes `::`.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (hextets[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && hextets[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]): string => list.map((h) => h.toString(16)).join(':');
  if (bestStart === -1) return hex(hextets);
  return `${hex(hextets.slice(0, bestStart))}::${hex(hextets.slice(bestStart + bestLength))}`;
}

/** The canonical spelling of an address string, or null when it is not an IP address. */
export function canonicalIp(text: string): string | null {
  const parsed = parseIp(text);
  return parsed === null ? null : formatIp(parsed);
}

// Special-purpose IPv4 blocks (RFC 6890 and friends) that no public sender uses: [first address, prefix length].
const NON_PUBLIC_V4: [string, number][] = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 3], // multicast, reserved, broadcast (224/4 + 240/4)
];
const NON_PUBLIC_V4_RANGES = NON_PUBLIC_V4.map(([base, bits]) => {
  const start = parseIpv4(base);
  return { start, end: start + 2 ** (32 - bits) - 1 };
});

/**
 * Whether an address can be a sender on the public Internet: not private, loopback, link-local,
 * documentation, multicast… For IPv6 that means global unicast (2000::/3) outside 2001:db8::/32.
 * Such addresses get no PTR query (it would go to the local resolver) and no ASN.
 */
export function isPublicIp(ip: ParsedIp): boolean {
  if (ip.family === 4) return !NON_PUBLIC_V4_RANGES.some((r) => ip.value >= r.start && ip.value <= r.end);
  const [first] = ip.words;
  if (first >>> 29 !== 0b001) return false;
  return first !== 0x20010db8;
}
