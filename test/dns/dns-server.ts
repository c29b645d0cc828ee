/**
 * A tiny authoritative DNS server over UDP on 127.0.0.1 for the apply verification tests: answers TXT
 * queries from a callback (e.g. a FakeProvider's state), NODATA for names without TXT, and nothing
 * else. Enough for node:dns's Resolver (c-ares) pointed at it with setServers(['127.0.0.1:<port>']).
 */
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

export interface DnsTestServer {
  /** `127.0.0.1:<port>`, as --verify-dns takes it. */
  address: string;
  queries: string[];
  stop(): Promise<void>;
}

/** `lookup(name)` gives the TXT records at a name, each as its character-strings. */
export async function startDnsServer(lookup: (name: string) => string[][]): Promise<DnsTestServer> {
  const socket = createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (message, peer) => {
    const response = answer(message, lookup, queries);
    if (response !== undefined) socket.send(response, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    queries,
    stop: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

function answer(query: Buffer, lookup: (name: string) => string[][], queries: string[]): Buffer | undefined {
  if (query.length < 12) return undefined;
  const id = query.readUInt16BE(0);
  const labels: string[] = [];
  let offset = 12;
  while (offset < query.length) {
    const length = query[offset] ?? 0;
    offset += 1;
    if (length === 0) break;
    labels.push(query.subarray(offset, offset + length).toString('latin1'));
    offset += length;
  }
  const qtype = query.readUInt16BE(offset);
  const question = query.subarray(12, offset + 4);
  const name = labels.join('.').toLowerCase();
  queries.push(name);

  const records = qtype === 16 ? lookup(name) : [];
  const answers = records.map((strings) => {
    const rdata = Buffer.concat(
      strings.map((text) => {
        const bytes = Buffer.from(text, 'utf8');
        return Buffer.concat([Buffer.from([bytes.length]), bytes]);
      }),
    );
    const head = Buffer.alloc(12);
    head.writeUInt16BE(0xc00c, 0); // pointer to the question name
    head.writeUInt16BE(16, 2); // TXT
    head.writeUInt16BE(1, 4); // IN
    head.writeUInt32BE(60, 6);
    head.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([head, rdata]);
  });
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x8400, 2); // response, authoritative, NOERROR
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, question, ...answers]);
}
