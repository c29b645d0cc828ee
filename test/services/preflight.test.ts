import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';

const packages = JSON.parse(readFileSync('test/services/system-packages.json', 'utf8')) as {
  packages: { package: string; command?: string; why: string }[];
};

test('npm test names each missing system package and how to install it, before running anything', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dmarcops-preflight-'));
  try {
    const list = join(dir, 'packages.json');
    await writeFile(
      list,
      JSON.stringify({
        packages: [
          ...packages.packages,
          { package: 'dmarcops-no-such-package', command: 'dmarcops-no-such-command', why: 'a server nobody has' },
        ],
      }),
    );
    const run = spawnSync(process.execPath, ['test/services/preflight.js', list], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('dmarcops-no-such-package');
    expect(run.stderr).toContain('a server nobody has');
    expect(run.stderr).toMatch(/npm run test:setup|Install them/);
    // Only what is missing is listed: this machine has the real ones (CI installs them first).
    for (const entry of packages.packages) expect(run.stderr).not.toContain(`  ${entry.package} `);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the package list is the one `npm test` checks and `npm run test:setup` installs; CI runs the same setup', () => {
  const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;
  expect(scripts.test).toMatch(/^node scripts\/check-node\.js && node test\/services\/preflight\.js && /);
  expect(scripts['test:setup']).toBe('node test/services/install.js');
  const ci = readFileSync('.ci/run', 'utf8');
  expect(ci).toMatch(/^node test\/services\/install\.js$/m);
  expect(ci.trimEnd().endsWith('npm test')).toBe(true);
  // Every service a test starts comes from a listed package.
  const names = packages.packages.map((entry) => entry.package);
  for (const needed of ['dovecot-imapd', 'pdns-server', 'bind9', 'chromium']) expect(names).toContain(needed);
  expect(execFileSync(process.execPath, ['test/services/preflight.js'], { encoding: 'utf8' })).toBe('');
});
