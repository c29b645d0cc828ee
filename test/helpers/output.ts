import type { Output } from '../../scripts/cli/output.ts';

/** An Output that records lines instead of writing to a terminal. */
export function captureOutput(): Output & { stdout: string[]; stderr: string[]; text(): string } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (line = '') => void stdout.push(line),
    err: (line = '') => void stderr.push(line),
    style: (_format, text) => text,
    colors: false,
    text: () => stdout.join('\n'),
  };
}
