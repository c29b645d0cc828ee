/**
 * The lines of `text` that the GitHub Actions runner could read as workflow commands: any line that
 * starts with `::` after leading whitespace (ActionCommand.TryParseV2 trims with .NET's TrimStart,
 * so U+0085 and U+180E count too), or holds `##[` anywhere (the legacy TryParse). Stricter than the
 * runner, which also wants a registered name and a second `::`. The runner reads stdout line by line,
 * and .NET's ReadLine ends a line at CR, LF or CRLF.
 * https://github.com/actions/runner/blob/main/src/Runner.Common/ActionCommand.cs
 */
export function workflowCommands(text: string): string[] {
  return text.split(/\r\n|\r|\n/).filter((line) => /^[\s\u0085\u180e]*::/u.test(line) || line.includes('##['));
}
