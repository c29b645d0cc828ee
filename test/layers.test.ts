/**
 * Which folder may import which. Every relative import (static, type-only, re-export, side-effect and
 * dynamic `import('…')` with a literal) in scripts/, site/, bench/ and bin/ is checked against LAYERS.
 * A file that belongs to no layer fails too, so a new stage gets its row before it gets code.
 *
 * The rule in one sentence: the command line (scripts/cli.ts, scripts/cli/) sits on top and nothing
 * imports it but the demo and the benchmarks; stages import the stages below them and scripts/lib/; lib
 * imports nothing of ours. test/ may import anything and is not checked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

interface Layer {
  /** Folders (ending in `/`) and single files that make up the layer, relative to the repository. */
  files: readonly string[];
  /** The other layers its files may import. */
  may: readonly string[];
}

/** The stages, in roughly the order data flows through them. */
const STAGES = ['policy', 'dns', 'mtasts', 'github', 'reports', 'site', 'impact', 'alerts', 'digest'] as const;

// prettier-ignore
const LAYERS: Record<string, Layer> = {
  //         files                                                        may import
  lib: { files: ['scripts/lib/'], may: [] },
  policy: { files: ['scripts/policy/'], may: ['lib'] },
  dns: { files: ['scripts/dns/'], may: ['policy', 'lib'] },
  mtasts: { files: ['scripts/mtasts/'], may: ['policy', 'dns', 'lib'] },
  // By design: the issue sync and the declare-sender pull request render and edit alerts.
  github: { files: ['scripts/github/'], may: ['policy', 'dns', 'alerts', 'lib'] },
  reports: { files: ['scripts/reports/'], may: ['policy', 'lib'] },
  site: { files: ['scripts/site/'], may: ['reports', 'policy', 'lib'] },
  impact: { files: ['scripts/impact/'], may: ['reports', 'site', 'policy', 'dns', 'lib'] },
  alerts: { files: ['scripts/alerts/'], may: ['reports', 'site', 'policy', 'dns', 'lib'] },
  digest: { files: ['scripts/digest/'], may: ['alerts', 'reports', 'site', 'policy', 'lib'] },
  cli: { files: ['scripts/cli/', 'scripts/cli.ts', 'scripts/check-node.js'], may: [...STAGES, 'lib'] },
  demo: { files: ['scripts/demo/', 'scripts/demo.ts'], may: ['cli', ...STAGES, 'lib'] },
  // By design: the about page renders docs/categories.md.
  dashboard: { files: ['site/'], may: ['site', 'reports', 'policy', 'lib', 'docs'] },
  // By design: the plan benchmark drives the tests' fake DNS provider.
  bench: { files: ['bench/'], may: ['cli', ...STAGES, 'lib', 'test'] },
  bin: { files: ['bin/'], may: ['cli'] },
  // Imported, never checked:
  test: { files: ['test/'], may: [] },
  docs: { files: ['docs/'], may: [] },
};

/** Folders whose files are checked; test/ and docs/ are only ever imported. */
const CHECKED = ['scripts', 'site', 'bench', 'bin'];
const SOURCE = /\.(?:ts|mts|js|mjs|astro)$/;

interface Violation {
  file: string;
  specifier: string;
  target: string;
  message: string;
}

/** The layer a repository path belongs to (the longest matching entry wins), or undefined. */
function layerOf(path: string): string | undefined {
  let best: { name: string; length: number } | undefined;
  for (const [name, layer] of Object.entries(LAYERS)) {
    for (const entry of layer.files) {
      const matches = entry.endsWith('/') ? path.startsWith(entry) : path === entry;
      if (matches && (best === undefined || entry.length > best.length)) best = { name, length: entry.length };
    }
  }
  return best?.name;
}

/**
 * The module specifiers a source file imports: `import … from`, `export … from`, `import '…'` and
 * `import('…')` with a string literal. Statements are matched from the start of a line, so imports
 * quoted in comments are not counted; an Astro file's frontmatter and <script> blocks are read alike.
 */
function importsOf(text: string): string[] {
  const specifiers: string[] = [];
  const statement = /^[ \t]*(?:import|export)\b[^;]*?\bfrom\s*(['"])([^'"\n]+)\1|^[ \t]*import\s*(['"])([^'"\n]+)\3/gm;
  for (const match of text.matchAll(statement)) specifiers.push((match[2] ?? match[4]) as string);
  for (const match of text.matchAll(/\bimport\(\s*(['"])([^'"\n]+)\1\s*\)/g)) specifiers.push(match[2] as string);
  return specifiers;
}

/** Every import in `files` (repository path → text) that the table does not allow. */
function checkLayers(files: ReadonlyMap<string, string>): Violation[] {
  const violations: Violation[] = [];
  for (const [file, text] of files) {
    const from = layerOf(file);
    if (from === undefined) {
      violations.push({
        file,
        specifier: '',
        target: '',
        message: `${file} belongs to no layer: add its folder to LAYERS in test/layers.test.ts`,
      });
      continue;
    }
    for (const specifier of importsOf(text)) {
      if (!specifier.startsWith('.')) continue; // packages and node: built-ins
      const target = posix.normalize(posix.join(posix.dirname(file), specifier));
      const to = layerOf(target);
      if (to === from) continue;
      const allowed = LAYERS[from]?.may ?? [];
      if (to !== undefined && allowed.includes(to)) continue;
      const rule = allowed.length === 0 ? `${from} may import no other layer` : `${from} may import ${allowed.join(', ')}`;
      const what = to === undefined ? `${target}, which belongs to no layer` : `${target} (${to})`;
      violations.push({ file, specifier, target, message: `${file} imports '${specifier}' → ${what}: ${rule}` });
    }
  }
  return violations;
}

function sourceFiles(root: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const top of CHECKED) {
    for (const entry of readdirSync(join(root, top), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !SOURCE.test(entry.name)) continue;
      const path = relative(root, join(entry.parentPath, entry.name)).split(sep).join('/');
      if (/(^|\/)(node_modules|dist|\.astro)\//.test(path)) continue;
      files.set(path, readFileSync(join(root, path), 'utf8'));
    }
  }
  return files;
}

/** The table as Markdown, for the contributor guide and for reading in a failing test's output. */
function layerTable(): string {
  const rows = Object.entries(LAYERS)
    .filter(([name]) => name !== 'test' && name !== 'docs')
    .map(([name, layer]) => {
      const files = layer.files.map((file) => `\`${file}\``).join(', ');
      return `| ${name} | ${files} | ${layer.may.length === 0 ? '(nothing of ours)' : layer.may.join(', ')} |`;
    });
  return ['| layer | files | may import |', '|---|---|---|', ...rows].join('\n');
}

describe('layers', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');

  test('every import in scripts/, site/, bench/ and bin/ follows the table', () => {
    const files = sourceFiles(root);
    expect(files.size).toBeGreaterThan(150);
    const violations = checkLayers(files).map((violation) => violation.message);
    expect(violations, `Imports across layers the table does not allow:\n${layerTable()}`).toEqual([]);
  });

  test('a stage that imports the command line fails, naming the file, the import and the rule', () => {
    const violations = checkLayers(
      new Map([
        [
          'scripts/dns/render/text.ts',
          "import type { Output } from '../../cli/output.ts';\nimport { printable } from '../../lib/escape.ts';\n",
        ],
        ['scripts/dns/sandbox/cloudflare-api.ts', "const { CliError } = await import('../../cli/command.ts');\n"],
        ['scripts/policy/lint.ts', "export { main } from '../cli.ts';\n"],
      ]),
    );
    expect(violations.map((violation) => violation.message)).toEqual([
      "scripts/dns/render/text.ts imports '../../cli/output.ts' → scripts/cli/output.ts (cli): dns may import policy, lib",
      "scripts/dns/sandbox/cloudflare-api.ts imports '../../cli/command.ts' → scripts/cli/command.ts (cli): dns may import policy, lib",
      "scripts/policy/lint.ts imports '../cli.ts' → scripts/cli.ts (cli): policy may import lib",
    ]);
  });

  test('the other boundaries: DNS rendering and GitHub, the demo and bench/, lib and the stages, scripts and the Astro site', () => {
    const violations = checkLayers(
      new Map([
        ['scripts/dns/render/markdown.ts', "import { escapeMarkdown } from '../../github/markdown.ts';\n"],
        ['scripts/demo/history.ts', "import { prng } from '../../bench/ingest/generate.ts';\n"],
        ['scripts/lib/text.ts', "import type { Plan } from '../dns/types.ts';\n"],
        ['scripts/digest/render.ts', "import { escapeHtml } from '../../site/src/lib/view.ts';\n"],
        ['site/src/lib/view.ts', "import { main } from '../../../scripts/cli.ts';\n"],
        ['scripts/newstage/x.ts', "import { plural } from '../lib/text.ts';\n"],
      ]),
    );
    expect(violations.map((violation) => violation.file)).toEqual([
      'scripts/dns/render/markdown.ts',
      'scripts/demo/history.ts',
      'scripts/lib/text.ts',
      'scripts/digest/render.ts',
      'site/src/lib/view.ts',
      'scripts/newstage/x.ts',
    ]);
    expect(violations[2]?.message).toBe(
      "scripts/lib/text.ts imports '../dns/types.ts' → scripts/dns/types.ts (dns): lib may import no other layer",
    );
    expect(violations[5]?.message).toMatch(/^scripts\/newstage\/x\.ts belongs to no layer/);
  });

  test('allowed imports pass, whatever their form; imports quoted in comments and packages are not counted', () => {
    const violations = checkLayers(
      new Map([
        [
          'scripts/site/rollups/x.ts',
          [
            "import type { Category } from '../../reports/classify.ts';",
            "import {\n  normaliseName,\n  organizationalDomain,\n} from '../../lib/dns-name.ts';",
            "export { loadDomains } from '../../policy/load.ts';",
            "import { getDomain } from 'tldts';",
            "import { readFile } from 'node:fs/promises';",
            " * see `import { main } from '../../cli.ts'` (a comment)",
            "const own = await import('./common.ts');",
          ].join('\n'),
        ],
        ['scripts/cli/x.ts', "import { computePlan } from '../dns/plan.ts';\nimport { writeDemoHistory } from '../demo/history.ts';\n"],
      ]),
    );
    expect(violations.map((violation) => violation.message)).toEqual([
      "scripts/cli/x.ts imports '../demo/history.ts' → scripts/demo/history.ts (demo): " +
        'cli may import policy, dns, mtasts, github, reports, site, impact, alerts, digest, lib',
    ]);
  });

  test("CONTRIBUTING.md's layer table says what this table says", () => {
    const guide = readFileSync(join(root, 'CONTRIBUTING.md'), 'utf8');
    const start = guide.indexOf('| layer | files |');
    expect(start).toBeGreaterThan(-1);
    const table = guide.slice(start, guide.indexOf('\n\n', start)).split('\n').slice(2).join('\n');
    const rows = new Map<string, { files: string[]; may: string[] }>();
    for (const match of table.matchAll(/^\| ([a-z]+) \| ([^|]+) \|[^|\n]*\| ([^|]+) \|$/gm)) {
      const [, name, files, may] = match as unknown as [string, string, string, string];
      rows.set(name, {
        files: [...files.matchAll(/`([^`]+)`/g)].map((file) => file[1] as string),
        may: may.trim() === 'nothing' ? [] : may.split(',').map((layer) => layer.trim()),
      });
    }
    const checked = Object.entries(LAYERS).filter(([name]) => name !== 'test' && name !== 'docs');
    expect([...rows.keys()].sort()).toEqual(checked.map(([name]) => name).sort());
    for (const [name, layer] of checked) expect(rows.get(name), name).toEqual({ files: [...layer.files], may: [...layer.may] });
  });

  test('the table names real folders and only layers it defines', () => {
    for (const [name, layer] of Object.entries(LAYERS)) {
      for (const other of layer.may) expect(Object.keys(LAYERS), `${name} may import ${other}`).toContain(other);
    }
    const present = new Set(readdirSync(join(root, 'scripts')).map((entry) => `scripts/${entry}`));
    for (const stage of ['lib', 'policy', 'dns', 'mtasts', 'github', 'reports', 'site'])
      expect(present.has(`scripts/${stage}`), stage).toBe(true);
    console.log(`Layers (test/layers.test.ts):\n${layerTable()}`);
  });
});
