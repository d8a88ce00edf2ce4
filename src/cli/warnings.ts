/** Warnings on stderr, one a line, so stdout stays the command's result. */
export function printWarnings(lines: readonly string[]): void {
  for (const line of lines) process.stderr.write(`warning: ${line}\n`);
}
