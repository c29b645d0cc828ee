import { expect, test } from 'vitest';

test('tests run under the packaged Node 24, not the system node', () => {
  expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
});
