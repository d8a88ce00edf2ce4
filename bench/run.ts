/**
 * `npm run bench [-- group ...] [-- --only group[:row],...]`: runs every bench/<group>.ts that exports
 * `rows(only?): Promise<Row[]>` (or only the named groups; `group:row` passes the row names to the group,
 * which then measures only those, so a slow machine can run a subset) and prints one markdown table. Add a
 * row group by adding a file. Every number is measured in this run on this machine; nothing is carried over.
 */
import { readdir } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Row } from './row';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const onlyAt = args.indexOf('--only');
const selected = [
  ...args.filter((_, i) => onlyAt < 0 || (i !== onlyAt && i !== onlyAt + 1)),
  ...(onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',').filter(Boolean) : []),
];
const wanted = new Set(selected.map((s) => s.split(':')[0]!));
/** Row names asked for, per group (none: every row of the group). */
const rowsOf = (group: string) => new Set(selected.filter((s) => s.startsWith(`${group}:`)).map((s) => s.slice(group.length + 1)));
const files = (await readdir(here)).filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.d.ts')).sort();

const rows: Row[] = [];
let failed = false;
for (const file of files) {
  const group = basename(file, '.ts');
  if (wanted.size && !wanted.has(group)) continue;
  const module = (await import(pathToFileURL(join(here, file)).href)) as { rows?: (only: ReadonlySet<string>) => Promise<Row[]> };
  if (typeof module.rows !== 'function') continue;
  process.stderr.write(`bench: ${group}...\n`);
  try {
    rows.push(...(await module.rows(rowsOf(group))));
  } catch (error) {
    failed = true;
    rows.push({ group, measurement: 'failed', value: '-', notes: error instanceof Error ? error.message : String(error) });
  }
}

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
const cpu = cpus();
process.stdout.write(
  [
    `Benchmarks, ${new Date().toISOString().slice(0, 10)}: Node ${process.version}, ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM`,
    '',
    '| group | measurement | value | notes |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${cell(r.group)} | ${cell(r.measurement)} | ${cell(r.value)} | ${cell(r.notes ?? '')} |`),
    '',
  ].join('\n'),
);
if (failed) process.exitCode = 1;
