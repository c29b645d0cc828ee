import { defineConfig } from 'vitest/config';

/**
 * Tests in three tiers (CONTRIBUTING.md, "Tests"): `npm run test:unit`, `test:servers`, `test:browser`;
 * `vitest run` (and `npm test`) runs them all. A new test file that starts a real server or a browser
 * belongs in its tier's list.
 */
/** Real servers started by the tests on free ports: Dovecot, PowerDNS, BIND 9, aiosmtpd (test/services/). */
export const SERVERS = [
  'test/digest/digest.test.ts',
  'test/dns/e2e.powerdns.test.ts',
  'test/dns/e2e.rfc2136.test.ts',
  'test/dns/powerdns.test.ts',
  'test/dns/rfc2136.test.ts',
  'test/reports/fetch.e2e.test.ts',
  'test/reports/fetch.tls.e2e.test.ts',
  'test/reports/fetch.two-phase.test.ts',
  'test/reports/imap.test.ts',
  'test/reports/privacy.test.ts',
];
/** Debian's Chromium driven by playwright-core (test/services/browser.ts). */
export const BROWSER = [
  'test/site/a11y.test.ts',
  'test/site/browser.test.ts',
  'test/site/flood-browser.test.ts',
  'test/site/injection.test.ts',
  'test/site/redaction.test.ts',
  'test/site/tls-browser.test.ts',
  'test/services/browser.test.ts',
];

export default defineConfig({
  test: {
    // Service-backed suites (Dovecot, PowerDNS, Chromium) start real servers: give them room.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...SERVERS, ...BROWSER] } },
      { extends: true, test: { name: 'servers', include: SERVERS } },
      { extends: true, test: { name: 'browser', include: BROWSER } },
    ],
  },
});
