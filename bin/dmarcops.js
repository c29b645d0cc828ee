#!/usr/bin/env node
// Entry point. The scripts are TypeScript run by Node's own type stripping, which needs Node 24+:
// fail loudly rather than run half-way on an older system node.
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `dmarcops needs Node.js 24 or newer; this is ${process.version}.\n` +
      'Run it through npm (npx dmarcops, npm run …) so the Node 24 from node_modules is used, after `npm ci`.\n',
  );
  process.exit(2);
}
// `dmarcops ledger | head` closes the pipe early: that is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}
// ingest and fetch stream big reports through V8: with V8's default young generation (which grows
// far beyond 16 MiB semi-spaces on a 64-bit Node) a 100k-record ingest peaks ~80 MiB higher, for
// no measurable speed (bench/README.md).
// The flag only works at startup, so the process replaces itself (same pid, no child) with one
// that has it, unless a --max-semi-space-size was given already.
// It also caps glibc's malloc arenas at 2 (unless MALLOC_ARENA_MAX is set): by default each thread
// that allocates (zlib and fs on libuv's pool, DuckDB) may get an arena of its own, whose freed
// memory stays resident: −10 to −20 MiB peak for the same time.
const SEMI_SPACE_MB = 16;
// The command is the first argument that is not a flag (`dmarcops --debug ingest …`).
const commandName = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
const streaming = commandName === 'ingest' || commandName === 'fetch';
const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((flag) =>
  flag.startsWith('--max-semi-space-size'),
);
if (streaming && !given && typeof process.execve === 'function') {
  const env = { MALLOC_ARENA_MAX: '2', ...process.env };
  process.execve(
    process.execPath,
    [process.execPath, `--max-semi-space-size=${SEMI_SPACE_MB}`, ...process.execArgv, ...process.argv.slice(1)],
    env,
  );
}
// Keep what Node makes of each module (type-stripped source and V8 code) on disk: without it every
// process strips and compiles its ~450 modules again, 0.1–0.3 s and ~25 MiB (the stripper's WASM)
// of a 10-record ingest (bench/README.md). Entries are checked against the source, so edits are seen.
// Project-local like the ASN cache (a shared temp dir would let another user plant code); a
// NODE_COMPILE_CACHE already set wins, NODE_DISABLE_COMPILE_CACHE=1 turns it off.
const { enableCompileCache } = await import('node:module');
enableCompileCache?.(fileURLToPath(new URL('../node_modules/.cache/dmarcops-compile', import.meta.url)));
const { main } = await import('../scripts/cli.ts');
process.exitCode = await main(process.argv.slice(2));
