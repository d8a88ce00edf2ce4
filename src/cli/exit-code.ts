/** The CLI's exit code for an error: 2 for bad input (usage, a refused output path, a config.json the graph cannot repair), else 1. */
import { ModelConfigError } from '../model/config-check';
import { OutputPathError } from '../node/output-guard';
import { CliUsageError } from './args';

export function exitCodeOf(error: unknown): number {
  return error instanceof CliUsageError || error instanceof OutputPathError || error instanceof ModelConfigError ? 2 : 1;
}
