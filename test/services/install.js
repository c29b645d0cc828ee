#!/usr/bin/env node
// `npm run test:setup`: installs the Debian/Ubuntu packages the test suites need (the real servers of
// test/services/system-packages.json), only those that are missing, then says so. Uses sudo unless run
// as root. On other systems it prints the list to install by hand. Plain JavaScript that any Node
// runs, so it works before `npm ci` and on the machine's own Node.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const { packages } = JSON.parse(readFileSync(new URL('./system-packages.json', import.meta.url), 'utf8'));
const names = packages.map((entry) => entry.package);

const hasDpkg = spawnSync('dpkg-query', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasDpkg || !existsSync('/usr/bin/apt-get')) {
  console.error(
    "test:setup installs Debian/Ubuntu packages with apt-get, which this machine does not have. Install these (or your system's equivalents) yourself:",
  );
  for (const entry of packages) console.error(`  ${entry.package.padEnd(22)} ${entry.why}`);
  process.exit(1);
}

const installed = (name) =>
  spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' }).stdout?.includes('install ok installed') ?? false;
const missing = names.filter((name) => !installed(name));
if (missing.length === 0) {
  console.log(`test:setup: all ${names.length} system packages the tests need are installed.`);
  process.exit(0);
}

const root = process.getuid?.() === 0;
const sudo = (command, args) => (root ? [command, args] : ['sudo', [command, ...args]]);
const run = (command, args, options = {}) => {
  const [program, argv] = sudo(command, args);
  execFileSync(program, argv, { stdio: 'inherit', ...options });
};

console.log(`test:setup: installing ${missing.join(' ')}${root ? '' : ' (with sudo)'}`);
// Keep the packages' maintainer scripts from starting the daemons: the tests start their own on free
// ports. Only while installing, and only when no policy-rc.d was there already.
const policy = '/usr/sbin/policy-rc.d';
const ownPolicy = !existsSync(policy);
try {
  if (ownPolicy) {
    if (root) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    else run('sh', ['-c', `printf '#!/bin/sh\\nexit 101\\n' > ${policy} && chmod 755 ${policy}`]);
  }
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
} finally {
  if (ownPolicy) {
    if (root) rmSync(policy, { force: true });
    else spawnSync('sudo', ['rm', '-f', policy], { stdio: 'inherit' });
  }
}
const still = names.filter((name) => !installed(name));
if (still.length > 0) {
  console.error(`test:setup: still missing after apt-get: ${still.join(' ')}`);
  process.exit(1);
}
console.log('test:setup: done. Now `npm test`.');
