/**
 * GitHub Actions job summaries: Markdown appended to the file `$GITHUB_STEP_SUMMARY` names. GitHub
 * shows at most 1 MiB per step, so longer text is cut at a line (closing an open code fence) with a
 * note. Outside Actions (no variable) nothing is written.
 * https://docs.github.com/actions/reference/workflows-and-actions/workflow-commands#adding-a-job-summary
 */
import { appendFile, stat } from 'node:fs/promises';
import { truncateMarkdown } from './comment.ts';

export const SUMMARY_LIMIT_BYTES = 1024 * 1024;

/** Appends `markdown` to the step summary; returns false when there is no summary file to write. */
export async function appendJobSummary(markdown: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const file = env.GITHUB_STEP_SUMMARY;
  if (file === undefined || file === '') return false;
  const existing = await stat(file).then(
    (info) => info.size,
    () => 0,
  );
  const room = Math.max(0, SUMMARY_LIMIT_BYTES - existing - 1);
  const note =
    '> [!NOTE]\n> Cut here: a job summary holds at most 1 MiB. Run `dmarcops plan` locally, or download the plan JSON artifact, for the rest.';
  const { text } = truncateMarkdown(markdown.endsWith('\n') ? markdown : `${markdown}\n`, room, note);
  await appendFile(file, `${text}\n`, 'utf8');
  return true;
}
