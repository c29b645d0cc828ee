#!/usr/bin/env node
// Entry point. The scripts are TypeScript run by Node's own type stripping, which needs Node 24+:
// fail loudly rather than run half-way on an older system node.
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
const SEMI_SPACE_MB = 16;
const streaming = process.argv[2] === 'ingest' || process.argv[2] === 'fetch';
const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((flag) => flag.startsWith('--max-semi-space-size'));
if (streaming && !given && typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, `--max-semi-space-size=${SEMI_SPACE_MB}`, ...process.execArgv, ...process.argv.slice(1)], process.env);
}
const { main } = await import('../scripts/cli.ts');
process.exitCode = await main(process.argv.slice(2));
