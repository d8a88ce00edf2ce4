/**
 * The import graph of src/: every import runs down the layers below and no files import each other in a
 * circle. The layers are folders of src/; a file may import its own folder and the folders listed before
 * it in its stack. Test files may import anything (fixtures, higher layers to set up a case), but no
 * production file imports a test file.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/** Lowest first; each reason says why the folder sits above the ones before it. */
const SHARED: readonly [folder: string, reason: string][] = [
  ['core', 'types every layer shares (calibration statistics and samples, keep-plans); imports nothing'],
  ['onnx', 'the ONNX format (protobuf, graphs, float16, structural export): needs only the core types'],
  ['model', 'config, tokenizer, ORT types, generation: reads ONNX graphs'],
  ['import', 'GGUF reader and GGUF → ONNX: writes ONNX graphs, samples with the model helpers'],
  ['gpu', 'WebGPU device, backend choice, WGSL kernels and CPU references: run on ORT tensors of a model'],
  ['calibration', 'persona prompts, sensitivity, the calibration engine: runs models and kernels'],
  ['pruning', 'scoring, reconstruction, allocation, estimates: consume calibration statistics'],
  ['eval', 'NLL, held-out KL, in-memory plan models: apply pruning plans and run calibration batches'],
  ['gguf', 'GGUF export: writes pruned models'],
  ['pipeline', 'the persona pipeline: orders every step above'],
];
const STACKS: Record<string, readonly string[]> = {
  browser: [...SHARED.map(([f]) => f), 'sources', 'worker', 'store', 'ui', 'testing', '.'],
  node: [...SHARED.map(([f]) => f), 'node', 'fixtures', 'cli'],
};

interface Import {
  from: string;
  to: string;
}

const isTest = (file: string) => /\.test\.tsx?$/.test(file);

/** Relative module references: imports, `export ... from`, `import()` and `new URL('./x', import.meta.url)`. */
function specifiers(file: string, text: string): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      found.push(node.arguments[0].text);
    } else if (
      ts.isNewExpression(node) &&
      node.expression.getText() === 'URL' &&
      node.arguments?.length === 2 &&
      ts.isStringLiteral(node.arguments[0]!) &&
      node.arguments[1]!.getText() === 'import.meta.url'
    ) {
      found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true));
  return found.filter((s) => s.startsWith('.'));
}

const isFile = (path: string) => statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
const isFolder = (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;

/** Every .ts/.tsx file under `dir`, as paths relative to it, and their relative imports resolved to files. */
function readImportGraph(dir: string): { files: string[]; imports: Import[]; unresolved: string[] } {
  const walk = (sub: string): string[] =>
    readdirSync(join(dir, sub), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(sub, e.name)) : /\.tsx?$/.test(e.name) ? [join(sub, e.name)] : [],
    );
  const files = walk('.');
  const imports: Import[] = [];
  const unresolved: string[] = [];
  for (const from of files) {
    for (const specifier of specifiers(from, readFileSync(join(dir, from), 'utf8'))) {
      const base = join(dirname(from), specifier.replace(/\?.*$/, ''));
      const to = [base, `${base}.ts`, `${base}.tsx`].find((p) => isFile(join(dir, p)));
      // Outside src/ (shaders/, package.json) is no layer, nor is a folder; a reference to nothing is a defect.
      if (to) imports.push({ from, to });
      else if (!base.startsWith('..') && !isFolder(join(dir, base))) unresolved.push(`${from} → ${specifier}`);
    }
  }
  return { files, imports, unresolved };
}

const folderOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');

/** Whether `from`'s folder may import `to`'s: the same folder, or one below it in a stack holding both. */
function allowed(from: string, to: string, stacks: Record<string, readonly string[]>): boolean {
  const a = folderOf(from);
  const b = folderOf(to);
  if (a === b) return true;
  return Object.values(stacks).some((stack) => stack.includes(a) && stack.includes(b) && stack.indexOf(b) < stack.indexOf(a));
}

function upwardImports(imports: readonly Import[], stacks: Record<string, readonly string[]>): string[] {
  return imports.filter((i) => !isTest(i.from) && !allowed(i.from, i.to, stacks)).map((i) => `${i.from} → ${i.to}`);
}

/** Strongly connected components with more than one file (Tarjan), each as a path that closes the circle. */
function cycles(imports: readonly Import[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of imports) next.set(from, [...(next.get(from) ?? []), to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || next.get(v)?.includes(v)) components.push(component);
    }
  };
  for (const v of next.keys()) if (!index.has(v)) connect(v);
  // Print each component as one circle through it (breadth-first from its first file back to it).
  return components.map((component) => {
    const members = new Set(component);
    const start = [...component].sort()[0]!;
    const parent = new Map<string, string>();
    const queue = [start];
    while (queue.length) {
      const v = queue.shift()!;
      for (const w of next.get(v) ?? []) {
        if (!members.has(w)) continue;
        if (w === start) {
          const path = [v];
          while (path[0] !== start) path.unshift(parent.get(path[0]!)!);
          return [...path, start];
        }
        if (!parent.has(w)) {
          parent.set(w, v);
          queue.push(w);
        }
      }
    }
    return component;
  });
}

describe('import graph helpers', () => {
  const edge = (from: string, to: string): Import => ({ from, to });

  it('finds each circle, and none in a graph without one', () => {
    const graph = [edge('a/x.ts', 'a/y.ts'), edge('a/y.ts', 'b/z.ts'), edge('b/z.ts', 'a/x.ts'), edge('b/z.ts', 'c/w.ts'), edge('c/w.ts', 'c/v.ts'), edge('c/v.ts', 'c/w.ts')];
    expect(cycles(graph)).toEqual(expect.arrayContaining([['a/x.ts', 'a/y.ts', 'b/z.ts', 'a/x.ts'], ['c/v.ts', 'c/w.ts', 'c/v.ts']]));
    expect(cycles(graph)).toHaveLength(2);
    expect(cycles([edge('a/x.ts', 'a/y.ts'), edge('a/y.ts', 'b/z.ts'), edge('a/x.ts', 'b/z.ts')])).toEqual([]);
  });

  it('allows imports down a stack and within a folder, not up, and not across stacks', () => {
    const stacks = { web: ['low', 'mid', 'web'], cli: ['low', 'mid', 'cli'] };
    expect(upwardImports([edge('mid/a.ts', 'low/b.ts'), edge('mid/a.ts', 'mid/c.ts'), edge('web/a.ts', 'low/b.ts')], stacks)).toEqual([]);
    expect(upwardImports([edge('low/a.ts', 'mid/b.ts'), edge('web/a.ts', 'cli/b.ts'), edge('low/a.test.ts', 'web/x.ts')], stacks)).toEqual([
      'low/a.ts → mid/b.ts',
      'web/a.ts → cli/b.ts',
    ]);
  });
});

describe('src/ import graph', () => {
  const src = fileURLToPath(new URL('.', import.meta.url));
  const { files, imports, unresolved } = readImportGraph(src);
  const production = imports.filter((i) => !isTest(i.from));

  it('reads the whole tree', () => {
    expect(files.length).toBeGreaterThan(200);
    expect(unresolved).toEqual([]);
  });

  it('puts every folder of src/ in a layer', () => {
    const layered = new Set(Object.values(STACKS).flat());
    expect([...new Set(files.map(folderOf))].filter((f) => !layered.has(f))).toEqual([]);
  });

  it('has no import that runs up the layers (file → imported file)', () => {
    expect(upwardImports(imports, STACKS)).toEqual([]);
  });

  it('has no circle of imports', () => {
    expect(cycles(production).map((c) => c.join(' → '))).toEqual([]);
  });

  it('has no production file that imports a test file', () => {
    expect(production.filter((i) => isTest(i.to)).map((i) => `${i.from} → ${i.to}`)).toEqual([]);
  });

  it('has no node: import outside src/node, src/cli, src/fixtures and tests', () => {
    const nodeOnly = files.filter((f) => !isTest(f) && !['node', 'cli', 'fixtures'].includes(folderOf(f)) && /(from |import\()'node:/.test(readFileSync(join(src, f), 'utf8')));
    expect(nodeOnly).toEqual([]);
  });
});
