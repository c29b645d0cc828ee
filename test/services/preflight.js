// Before `npm test`: the suites talk to real servers (test/services/system-packages.json). When one is
// missing, say exactly what to install and how, instead of a few hundred failing tests.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

// The list to check: system-packages.json beside this file (a test passes another).
const list = process.argv[2] ?? new URL('./system-packages.json', import.meta.url);
const { packages } = JSON.parse(readFileSync(list, 'utf8'));
const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin'];
const onPath = (command) => dirs.some((dir) => dir !== '' && existsSync(join(dir, command)));
const hasDpkg = spawnSync('dpkg-query', ['--version'], { stdio: 'ignore' }).status === 0;
const installed = (entry) => {
  if (hasDpkg)
    return (
      spawnSync('dpkg-query', ['-W', '-f=${Status}', entry.package], { encoding: 'utf8' }).stdout?.includes('install ok installed') ?? false
    );
  return entry.command === undefined || onPath(entry.command);
};

const missing = packages.filter((entry) => !installed(entry));
if (missing.length > 0) {
  console.error('npm test needs these system packages (the tests run real servers, not fakes):');
  for (const entry of missing) console.error(`  ${entry.package.padEnd(22)} ${entry.why}`);
  console.error('');
  console.error(
    hasDpkg
      ? 'Install them with `npm run test:setup` (apt-get, with sudo), then run `npm test` again.'
      : "Install them (or your system's equivalents), then run `npm test` again.",
  );
  process.exit(1);
}
