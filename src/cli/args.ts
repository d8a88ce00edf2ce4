/** Argument parsing shared by the CLI commands (node:util parseArgs with friendlier errors). */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class CliUsageError extends Error {}

export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliUsageError(`${(error as Error).message}\nusage: ${usage}`);
  }
}

export function numberOption(value: string | undefined, name: string, fallback: number, { integer = false, min = -Infinity } = {}): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min) {
    throw new CliUsageError(`--${name} must be ${integer ? 'an integer' : 'a number'}${min > -Infinity ? ` >= ${min}` : ''}, got "${value}"`);
  }
  return n;
}
