/** Argument parsing shared by the CLI commands (node:util parseArgs with friendlier errors). */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class CliUsageError extends Error {}

const NEGATIVE_NUMBER = /^-(\d|\.\d|Infinity)/;

/**
 * parseArgs takes `--temperature -1` for an option missing its value ("argument is ambiguous"); a value
 * that is a negative number is joined to its option, so the command's own range check can explain it.
 */
function joinNegativeValues(args: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    const next = args[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, usage: string) {
  try {
    return parseArgs({ args: joinNegativeValues(args, options), options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliUsageError(`${(error as Error).message}\nusage: ${usage}`);
  }
}

export interface NumberRange {
  integer?: boolean;
  /** Smallest allowed value (inclusive). */
  min?: number;
  /** Values must be greater than this (exclusive lower bound). */
  above?: number;
  /** Largest allowed value (inclusive). */
  max?: number;
}

/** "an integer >= 1", "a number in (0, 1]": the range a message states. */
function describeRange({ integer = false, min, above, max }: NumberRange): string {
  const kind = integer ? 'an integer' : 'a number';
  const low = above !== undefined ? `(${above}` : min !== undefined ? `[${min}` : undefined;
  if (low !== undefined && max !== undefined) return `${kind} in ${low}, ${max}]`;
  if (above !== undefined) return `${kind} > ${above}`;
  if (min !== undefined) return `${kind} >= ${min}`;
  if (max !== undefined) return `${kind} <= ${max}`;
  return kind;
}

export function numberOption(value: string | undefined, name: string, fallback: number, range: NumberRange = {}): number {
  if (value === undefined) return fallback;
  const n = value.trim() === '' ? NaN : Number(value);
  const { integer = false, min = -Infinity, above = -Infinity, max = Infinity } = range;
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n <= above || n > max) {
    throw new CliUsageError(`--${name} must be ${describeRange(range)}, got "${value}"`);
  }
  return n;
}
