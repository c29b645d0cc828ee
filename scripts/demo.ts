/**
 * `npm run demo`: the main job on the shipped example domains. Today that is the policy stage:
 * validate domains/ and print the records dmarcops would publish. Later stages add themselves here.
 */
import { main } from './cli.ts';

const step = async (title: string, argv: string[]): Promise<number> => {
  process.stdout.write(`\n── ${title}: dmarcops ${argv.join(' ')}\n\n`);
  return main(argv);
};

const validation = await step('Check the domain files', ['validate']);
if (validation !== 0) process.exit(validation);
process.exitCode = await step('Records to publish', ['record']);
