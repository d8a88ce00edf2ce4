/**
 * The project's one CLI: `npm run cli -- <command> ...`. Progress goes to stderr, results to stdout,
 * and any bad input ends with a clear message and a non-zero exit code.
 */
import { importGgufCommand } from './import-gguf';
import { generateCommand } from './generate';
import { exportCommand } from './export';
import { makeFixturesCommand } from './make-fixtures';
import { statsCommand } from './stats';
import { pruneCommand } from './prune';
import { evalCommand } from './eval';
import { batchCommand } from './batch';
import { CliUsageError } from './args';
import { exitCodeOf } from './exit-code';

const commands: Record<string, { usage: string; run: (args: string[]) => Promise<void> }> = {
  'import-gguf': importGgufCommand,
  generate: generateCommand,
  export: exportCommand,
  'make-fixtures': makeFixturesCommand,
  stats: statsCommand,
  prune: pruneCommand,
  eval: evalCommand,
  batch: batchCommand,
};

async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  const command = name === undefined ? undefined : commands[name];
  if (!command) {
    const list = Object.values(commands).map((c) => `  ${c.usage}`).join('\n');
    throw new CliUsageError(`${name === undefined ? 'no command given' : `unknown command "${name}"`}\nusage: npm run cli -- <command>\n${list}`);
  }
  await command.run(args);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(exitCodeOf(error));
});
