import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Service-backed suites (Dovecot, PowerDNS, Chromium) start real servers: give them room.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
