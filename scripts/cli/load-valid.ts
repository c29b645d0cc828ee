import type { LoadResult } from '../policy/load.ts';
import { validateDomains } from '../policy/validate.ts';
import { DmarcopsError } from '../lib/errors.ts';
import { formatFinding } from './output.ts';
import type { Output } from './output.ts';

/** Load the domains folder for a command that needs valid files: errors are printed and stop it. */
export async function loadValidDomains(dir: string, output: Output): Promise<LoadResult> {
  const result = await validateDomains(dir);
  const errors = result.findings.filter((finding) => finding.severity === 'error');
  if (errors.length > 0) {
    for (const finding of errors) output.err(formatFinding(finding, output, result.texts.get(finding.file)));
    throw new DmarcopsError(
      'domains-invalid',
      `${errors.length} error${errors.length === 1 ? '' : 's'} in ${dir}; run \`dmarcops validate\` and fix them first`,
    );
  }
  return result;
}
