// Guard for npm scripts: under the packaged Node 24 this passes; if `npm ci --ignore-scripts`
// left node_modules/.bin/node missing, npm falls back to the system node and we say so.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `Node ${process.version} is running; dmarcops needs 24+. Run \`npm ci\` (with scripts enabled) so node_modules/.bin/node is Node 24.`,
  );
  process.exit(1);
}
