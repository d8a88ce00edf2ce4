/**
 * Which ONNX graphs a model folder offers. transformers.js-style repositories (onnx-community, Xenova)
 * keep one graph per precision: `onnx/model.onnx`, `model_fp16.onnx`, `model_q4.onnx`, `model_q4f16.onnx`,
 * `model_quantized.onnx`, ...; onnxruntime-genai folders keep `model.onnx` at the top. Weights of a graph
 * may live beside it in external-data files `<graph>_data`, `<graph>_data_1`, ... or `<graph>.data`.
 * The listing only proposes those files; the graph's own `location` fields decide what is fetched.
 */

export interface ListedFile {
  /** '/'-separated, relative to the model folder. */
  path: string;
  /** Bytes, when the listing knows them. */
  size?: number;
}

export type WeightFormat = 'fp32' | 'fp16' | 'int4' | 'q4f16' | 'int8' | 'uint8' | 'bnb4' | 'unknown';

export interface Variant {
  /** The graph's path; unique within a folder. */
  id: string;
  graph: ListedFile;
  /** External-data candidates from the listing, in chunk order. */
  dataFiles: ListedFile[];
  /** What the file name says; the model card reports what the graph really holds. */
  format: WeightFormat;
  label: string;
  /** Graph plus data candidates, when every size is known. */
  bytes: number | undefined;
}

const FORMATS: Record<string, { format: WeightFormat; label: string }> = {
  '': { format: 'fp32', label: 'fp32 (full precision)' },
  _fp16: { format: 'fp16', label: 'fp16 (half precision)' },
  _q4: { format: 'int4', label: 'int4 weights, fp32 compute (q4)' },
  _q4f16: { format: 'q4f16', label: 'int4 weights, fp16 compute (q4f16)' },
  _quantized: { format: 'int8', label: 'int8 (quantized)' },
  _int8: { format: 'int8', label: 'int8' },
  _uint8: { format: 'uint8', label: 'uint8' },
  _bnb4: { format: 'bnb4', label: '4-bit bitsandbytes (bnb4)' },
};
const ORDER = Object.keys(FORMATS);

const GRAPH_NAME = /^model(_[A-Za-z0-9]+)?\.onnx$/;

const split = (path: string) => {
  const slash = path.lastIndexOf('/');
  return { dir: path.slice(0, slash + 1), name: path.slice(slash + 1) };
};

/** Chunk number of `file` as external data of graph `graphName`: 0 for `_data`, n for `_data_n`, last for `.data`. */
export function dataChunkIndex(graphName: string, file: string): number | undefined {
  if (!file.startsWith(graphName)) return undefined;
  const rest = file.slice(graphName.length);
  if (rest === '_data') return 0;
  if (rest === '.data') return Number.MAX_SAFE_INTEGER;
  const m = /^_data_(\d+)$/.exec(rest);
  return m ? Number(m[1]) : undefined;
}

export function discoverVariants(files: readonly ListedFile[]): Variant[] {
  const variants: (Variant & { rank: number })[] = [];
  for (const file of files) {
    const { dir, name } = split(file.path);
    const m = GRAPH_NAME.exec(name);
    if (!m) continue;
    const suffix = m[1] ?? '';
    // transformers.js keeps fp32 in onnx/model.onnx; a bare model.onnx elsewhere (onnxruntime-genai) may hold any precision.
    const known = suffix === '' && dir !== 'onnx/' ? undefined : FORMATS[suffix];
    const dataFiles = files
      .filter((f) => split(f.path).dir === dir && dataChunkIndex(name, split(f.path).name) !== undefined)
      .sort((a, b) => dataChunkIndex(name, split(a.path).name)! - dataChunkIndex(name, split(b.path).name)!);
    const sizes = [file, ...dataFiles].map((f) => f.size);
    variants.push({
      id: file.path,
      graph: file,
      dataFiles,
      format: known?.format ?? 'unknown',
      label: known?.label ?? (suffix ? suffix.slice(1) : `${file.path} (precision not in its name)`),
      bytes: sizes.every((s) => s !== undefined) ? sizes.reduce((a, b) => a + b, 0) : undefined,
      rank: known ? ORDER.indexOf(suffix) : ORDER.length,
    });
  }
  return variants
    .sort((a, b) => a.rank - b.rank || a.id.localeCompare(b.id))
    .map(({ rank: _, ...variant }) => variant);
}

/** fp32 when offered (pruning is exact there), else the most precise variant there is. */
export function defaultVariant(variants: readonly Variant[]): Variant | undefined {
  return variants[0];
}

/** What choosing this precision means for pruning, in a sentence or two. */
export function formatAdvice(format: WeightFormat): string {
  switch (format) {
    case 'fp32':
      return 'Full precision: pruning removes channels exactly, and the pruned model matches the original with those channels switched off.';
    case 'fp16':
      return 'Half the size of fp32. Pruning is still an exact slice of the weights; results differ from fp32 only by fp16 rounding.';
    case 'int4':
    case 'q4f16':
      return (
        'About a seventh of fp32. Weights are 4-bit numbers in blocks of 32 input channels (MatMulNBits). Pruning the gate and up ' +
        'projections is exact, but the down projection loses input channels inside blocks: unless whole blocks go, that matrix is ' +
        're-quantized, which adds a small error. Choose fp32 (or fp16) for exact pruning when memory allows.'
      );
    case 'int8':
    case 'uint8':
    case 'bnb4':
      return 'This quantization runs for chat, but the pruning exporter handles fp32, fp16 and int4 (MatMulNBits) only.';
    case 'unknown':
      return 'The file name does not say the precision; the model card shows what the graph holds once it is loaded.';
  }
}
