/**
 * Untrusted text through the commands that print it: YAML values from a fork's pull request (validate,
 * record, check-record) and report fields and file names from the mailbox (ingest, ledger). In a
 * workflow log a forged `::error::`, `::add-mask::` or `::stop-commands::` line would be obeyed; on a
 * terminal an ESC byte starts an ANSI sequence. Neither may come out of a command.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import { toAnnotation } from '../../scripts/github/annotations.ts';
import { captureOutput } from '../helpers/output.ts';
import { workflowCommands } from '../helpers/workflow-log.ts';

/** Domain files whose values each carry an injection (YAML double-quoted escapes; \\L is U+2028). */
const HOSTILE_SCHEMA = [
  '# yaml-language-server: $schema=../scripts/policy/domain.schema.json',
  'policy: "\\n::error::x"',
  'dns:',
  '  provider: "\\n::add-mask::x"',
  'alignment: {dkim: "\\n::stop-commands::resume"}',
  '"\\r::warning::y": 1',
  'domain_role: "\\L::notice::z"',
  '',
].join('\n');
/** Valid for the schema, so the lint rules run and quote the sender names. */
const HOSTILE_LINT = [
  '# yaml-language-server: $schema=../scripts/policy/domain.schema.json',
  'policy: none',
  'reports: [dmarc@lint.example]',
  'senders:',
  '  - name: "##[error]legacy"',
  '  - name: "##[ERROR]LEGACY"',
  '  - name: "\\e[31mred\\e[0m"',
  '  - name: "\\e[31mRED\\e[0m"',
  '',
].join('\n');

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-untrusted-'));
});

afterAll(async () => {
  if (dir?.startsWith(join(tmpdir(), 'dmarcops-untrusted-'))) await rm(dir, { recursive: true, force: true });
});

async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; text: string }> {
  const output = captureOutput();
  const code = await main(argv, output, env);
  return { code, text: [...output.stdout, ...output.stderr].join('\n') };
}

describe('dmarcops validate with workflow commands in YAML values', () => {
  let domains: string;

  beforeAll(async () => {
    domains = join(dir, 'domains');
    await mkdir(domains);
    await writeFile(join(domains, 'hostile.example.yaml'), HOSTILE_SCHEMA);
    await writeFile(join(domains, 'lint.example.yaml'), HOSTILE_LINT);
  });

  test('on a terminal: every value is one visible line, and no line is a command', async () => {
    const { code, text } = await run(['validate', '--domains', domains]);
    expect(code).toBe(1);
    expect(workflowCommands(text)).toEqual([]);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/);
    // The values are still there to read.
    expect(text).toContain('`\\n::error::x`');
    expect(text).toContain('\\x1b[31mRED\\x1b[0m');
    expect(text).toContain('##\\x5bERROR]LEGACY');
  });

  test('under GitHub Actions: the only commands are one annotation per finding, each a whole line', async () => {
    const output = captureOutput();
    expect(await main(['validate', '--domains', domains, '--json'], output, {})).toBe(1);
    const findings = (JSON.parse(output.text()) as { findings: unknown[] }).findings;
    expect(findings.length).toBeGreaterThanOrEqual(7); // five schema errors, two duplicate sender names

    const { text } = await run(['validate', '--domains', domains], { GITHUB_ACTIONS: 'true' });
    const commands = workflowCommands(text);
    expect(commands).toHaveLength(findings.length);
    expect(commands.every((line) => /^::(error|warning|notice) file=[^:,]+,line=\d+,col=\d+,title=dmarcops [a-z-]+::/.test(line))).toBe(
      true,
    );
    expect(text.split(/\r\n|\r|\n/).filter((line) => /^\s*::(error::x|add-mask|stop-commands|warning::y|notice::z)/.test(line))).toEqual(
      [],
    );
    expect(text).not.toContain('\u001b');
  });

  test('an annotation shows the value escaped, and its message cannot hold another command', () => {
    const annotation = toAnnotation({
      rule: 'invalid-value',
      severity: 'error',
      file: 'domains/a.yaml',
      line: 2,
      col: 9,
      message: 'not `\n::add-mask::x` \u001b[2J',
      hint: '##[error]y',
    });
    expect(annotation.split(/\r\n|\r|\n/)).toHaveLength(1);
    expect(annotation).toBe(
      '::error file=domains/a.yaml,line=2,col=9,title=dmarcops invalid-value::not `\\n::add-mask::x` \\x1b[2J%0A##\\x5berror]y',
    );
  });

  test('record and check-record print YAML and record text escaped', async () => {
    const domains2 = join(dir, 'domains-record');
    await mkdir(domains2);
    await writeFile(join(domains2, 'b.example.yaml'), 'policy: none\nreports: ["\\e[31mx@b.example"]\n');
    const record = await run(['record', '--domains', domains2]);
    expect(record.code).toBe(0);
    expect(record.text).not.toContain('\u001b');

    const check = await run(['check-record', 'v=DMARC1; p=none; rua=mailto:a@b.example\n::error::x; \u001b[31m=1']);
    expect(workflowCommands(check.text)).toEqual([]);
    expect(check.text).not.toContain('\u001b');
  });

  test('an error message is printed line by line through printable', async () => {
    const { code, text } = await run(['validate', '--domains', join(dir, 'no such\n::error::dir\u001b[2J')]);
    expect(code).toBe(1);
    expect(workflowCommands(text)).toEqual([]);
    expect(text).not.toContain('\u001b');
  });
});

describe('ingest and ledger with hostile report fields and file names', () => {
  const org = 'evil\u001b[31mred\u001b[0m\n::error::org \u202egnp.exe';

  function report(id: string, domain: string): string {
    return (
      `<?xml version="1.0" encoding="UTF-8"?>\n<feedback><report_metadata><org_name>${org}</org_name><email>noreply@receiver.example</email>` +
      `<report_id>${id}</report_id><date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>` +
      `<policy_published><domain>${domain}</domain><p>none</p></policy_published>` +
      '<record><row><source_ip>192.0.2.1</source_ip><count>1</count>' +
      '<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>' +
      `<identifiers><header_from>${domain}</header_from></identifiers>` +
      `<auth_results><spf><domain>${domain}</domain><result>pass</result></spf></auth_results></record></feedback>\n`
    );
  }

  test('no ESC byte and no workflow command reaches the output', async () => {
    const inbox = join(dir, 'inbox');
    const data = join(dir, 'reports');
    await mkdir(inbox);
    await writeFile(join(inbox, '01-ours.xml'), report('id-1\n::add-mask::x', 'example.com'));
    await writeFile(join(inbox, '02-foreign\u001b[2J\n::error::file.xml'), report('id-2 ##[error]x', 'not-ours.example'));
    await writeFile(join(inbox, '03-broken\u001b]0;title\u0007.xml'), '<feedback><report_metadata><org_name>x');

    const ingest = await run(['ingest', inbox, '--data', data, '--domains', 'domains', '--offline']);
    expect(ingest.code).toBe(0);
    expect(ingest.text).toMatch(/foreign .*02-foreign\\x1b\[2J\\n::error::file\.xml/);
    expect(ingest.text).toMatch(/invalid .*03-broken\\x1b\]0;title\\x07\.xml/);

    const ledger = await run(['ledger', '--data', data]);
    expect(ledger.code).toBe(0);
    expect(ledger.text).toContain('evil\\x1b[31mred\\x1b[0m\\n::error::org \\u202egnp.exe');

    for (const { text } of [ingest, ledger]) {
      expect(text).not.toContain('\u001b');
      expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
      expect(workflowCommands(text)).toEqual([]);
    }
  });
});
