import { ERROR_AREAS, ERRORS } from '../lib/error-catalogue.ts';
import type { ErrorArea, ErrorCode, ErrorEntry } from '../lib/error-catalogue.ts';
import { usageError } from '../lib/errors.ts';
import type { Command } from './command.ts';
import { EXIT, JSON_OPTION, withDescription } from './command.ts';
import { markdownProse } from './reference.ts';

export const errorsCommand: Command = {
  name: 'errors',
  summary: 'explain an error code (what it means, when it happens, what to do), or list them all',
  arguments: [{ name: 'code…', optional: true, description: 'the codes to explain, as printed in brackets after an error message' }],
  description: [
    'When a command stops on an error it prints `dmarcops <command>: <message> [<code>]` and a hint. This explains a code; ' +
      'without one, it lists every code by area. docs/errors.md is `dmarcops errors --markdown`.',
  ],
  options: [
    withDescription(JSON_OPTION, 'the catalogue as JSON: code, area, title, when, hint, exit code'),
    { name: 'markdown', type: 'boolean', default: false, description: 'the catalogue as Markdown (docs/errors.md)' },
  ],
  examples: [{ command: 'dmarcops errors dns-provider-auth' }],
  exit: { 0: 'ok', 2: 'usage error (an unknown code)' },
  async run(values, codes, { output }) {
    const unknown = codes.filter((code) => !Object.hasOwn(ERRORS, code));
    if (unknown.length > 0)
      throw usageError(`no error has the code ${unknown.map((code) => JSON.stringify(code)).join(', ')}; \`dmarcops errors\` lists them`);
    const wanted = (codes.length > 0 ? codes : Object.keys(ERRORS)) as ErrorCode[];
    if (values.json)
      output.out(
        JSON.stringify(
          wanted.map((code) => entryData(code)),
          null,
          2,
        ),
      );
    else if (values.markdown) output.out(errorsMarkdown().trimEnd());
    else if (codes.length > 0) output.out(wanted.map((code) => explain(code)).join('\n\n'));
    else output.out(errorList());
    return EXIT.ok;
  },
};

function entryData(code: ErrorCode): { code: string; area: ErrorArea; title: string; when: string; hint: string; exitCode: number } {
  const entry: ErrorEntry = ERRORS[code];
  return { code, area: entry.area, title: entry.title, when: entry.when, hint: entry.hint, exitCode: entry.exitCode ?? EXIT.findings };
}

function explain(code: ErrorCode): string {
  const entry = entryData(code);
  return [
    `${code}: ${entry.title} (${ERROR_AREAS[entry.area].title}; exit ${entry.exitCode})`,
    `  when: ${entry.when}`,
    `  hint: ${entry.hint}`,
  ].join('\n');
}

function errorList(): string {
  const codes = Object.keys(ERRORS) as ErrorCode[];
  const width = Math.max(...codes.map((code) => code.length));
  const lines: string[] = [];
  for (const [area, { title }] of Object.entries(ERROR_AREAS) as [ErrorArea, { title: string }][]) {
    const inArea = codes.filter((code) => ERRORS[code].area === area);
    if (inArea.length === 0) continue;
    if (lines.length > 0) lines.push('');
    lines.push(`${title}:`, ...inArea.map((code) => `  ${code.padEnd(width)}  ${ERRORS[code].title}`));
  }
  lines.push('', '`dmarcops errors <code>` explains one.');
  return lines.join('\n');
}

/** docs/errors.md: the catalogue by area, one section per code (its anchor is the code). */
export function errorsMarkdown(): string {
  const codes = Object.keys(ERRORS) as ErrorCode[];
  const out = [
    '# Errors',
    '',
    '<!-- Generated from scripts/lib/error-catalogue.ts by `npm run docs`; test/errors.test.ts keeps it in step. Do not edit by hand. -->',
    '',
    'When a command stops on an error it prints `dmarcops <command>: <message> [<code>]`, then `hint:` and what to do.',
    'The code is stable: search for it here, or run `dmarcops errors <code>`. `--debug` (or `DMARCOPS_DEBUG=1`) adds the stack',
    'and the causes. An error without a code is a bug in dmarcops: it says so, and CONTRIBUTING.md says how to report it.',
    '',
  ];
  for (const [area, { title, intro }] of Object.entries(ERROR_AREAS) as [ErrorArea, { title: string; intro: string }][]) {
    const inArea = codes.filter((code) => ERRORS[code].area === area);
    if (inArea.length === 0) continue;
    out.push(`## ${title}`, '', markdownProse(intro), '');
    out.push(
      '| code | what happened |',
      '|---|---|',
      ...inArea.map((code) => `| [\`${code}\`](#${code}) | ${markdownProse(ERRORS[code].title)} |`),
      '',
    );
    for (const code of inArea) {
      const entry = entryData(code);
      out.push(`### ${code}`, '', `**${markdownProse(entry.title)}** (exit ${entry.exitCode})`, '');
      out.push(markdownProse(entry.when), '', `*What to do:* ${markdownProse(entry.hint)}`, '');
    }
  }
  return out.join('\n');
}
