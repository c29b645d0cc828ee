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
const { main } = await import('../scripts/cli.ts');
process.exitCode = await main(process.argv.slice(2));
