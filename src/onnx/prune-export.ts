/**
 * Structured FFN pruning of an ONNX decoder: per layer, the gate and up projections lose output
 * channels and the down projection loses the same input channels. Platform neutral; works on a
 * decoded model (tensor bytes in memory) or on a parsed one whose external tensors are read
 * through `readExternal` only when they are changed, so a streaming writer (model-pieces.ts) can
 * copy every untouched weight straight from the source files.
 *
 * - float (fp32 / fp16 / bf16) weights: exact byte slices;
 * - MatMulNBits (4-bit): gate/up lose whole rows of B, scales and zero points (exact); down loses
 *   whole blocks when the plan removes only whole aligned blocks (exact), otherwise it is
 *   requantized with the same block size (from float weights when given, else from its own
 *   dequantized values) and the added error is reported; attributes K/N follow;
 * - optional replacement down weights per layer, and optional FLAP bias compensation;
 * - value_info annotations of the FFN interior get the new width;
 * - an initializer that is also read by something that is not pruned the same way is cloned
 *   (`<name>.pruned.l<layer>.<role>`) rather than sliced under the other reader; everything else
 *   (nodes, initializers, their order) is left exactly as it was.
 */
import { tensorFromBytes } from './builders';
import { discoverFfns, type FfnLayer, type FfnProjection, type NBitsProjectionWeight } from './ffn-discovery';
import { decodeFloats, encodeFloats, floatElementBytes, roundToFloatType, selectColumnBytes, selectRowBytes } from './float-tensor';
import { GraphIndex } from './graph-index';
import { countParameters } from './parameter-count';
import { dequantizeInt4, kBlocksOf, quantizeInt4, removeInt4Blocks, sliceInt4Outputs, wholeBlocksKept, type Int4Weight } from './int4';
import { tensorBytes, type OnnxModel } from './model-io';
import { externalSource } from './model-pieces';
import { AttributeType, DataType, type NodeProto, type TensorProto, type ValueInfoProto } from './proto';
import { planSparsity, removedChannels, uniformKeptSize, validateKeepPlan, type KeepPlan } from '../core/keep-plan';

/** Reads `length` bytes at `offset` of the source model's external data file `location`. */
export type ExternalReader = (location: string, offset: number, length: number) => Promise<Uint8Array>;

export interface PruneOptions {
  /** Discovery result for `model` (computed when absent). */
  ffns?: FfnLayer[];
  /** Needed when changed tensors are still external references (a model from parseModel). */
  readExternal?: ExternalReader;
  /** Per layer, replacement down_proj weights for the kept channels: [kept, hidden] ([in, out], row-major). */
  downWeights?: readonly (Float32Array | null | undefined)[];
  /**
   * FLAP bias compensation: per layer, the mean of every down_proj input channel over calibration
   * data (length = the layer's original FFN width). The removed channels' mean contribution is
   * added back as a bias on the down_proj output.
   */
  channelMeans?: readonly (Float32Array | null | undefined)[];
  /** For 4-bit down projections cut through blocks: the float model's down weights [I, hidden], to requantize from. */
  floatDownWeights?: (layer: number) => Promise<Float32Array | undefined>;
}

export type DownEdit = 'unchanged' | 'sliced' | 'blocks-removed' | 'requantized' | 'replaced';

export interface LayerPruneReport {
  layer: number;
  before: number;
  after: number;
  down: DownEdit;
  /** For requantized 4-bit weights: what they were quantized from. */
  requantizedFrom?: 'float-weights' | 'dequantized' | 'replacement';
  /** For requantized 4-bit weights: difference to the values the quantized source held (or to the replacement). */
  addedError?: { maxAbs: number; rms: number };
  biasCompensation: boolean;
}

export interface PruneReport {
  layers: LayerPruneReport[];
  /** Weight elements: float initializers plus K*N per MatMulNBits weight (scales and zero points not counted). */
  parameters: { before: number; after: number };
  ffnParameters: { before: number; after: number };
}

export interface PruneResult {
  model: OnnxModel;
  report: PruneReport;
}

/** What the per-layer edit functions share: graph lookups, tensor reading, and the edits collected so far. */
interface EditContext {
  index: GraphIndex;
  read: (initializer: string) => Promise<Uint8Array>;
  edits: Edit[];
  /** Node index -> integer attributes to set (MatMulNBits K / N). */
  attributeEdits: Map<number, Record<string, number>>;
}

/** A changed input of one node: the tensor it should read instead. */
interface Edit {
  node: number;
  input: number;
  /** Identical signatures produce identical tensors, so uses with one signature can share one. */
  signature: string;
  role: string;
  layer: number;
  tensor: { dims: number[]; dataType: number; bytes: Uint8Array };
}

export class PruneError extends Error {
  override name = 'PruneError';
}

export async function pruneModel(model: OnnxModel, plan: KeepPlan, options: PruneOptions = {}): Promise<PruneResult> {
  const graph = model.graph;
  if (!graph) throw new PruneError('The model has no graph');
  const ffns = options.ffns ?? discoverFfns(model);
  const sizes = ffns.map((f) => f.intermediateSize);
  validateKeepPlan(plan, sizes);
  checkLayerArrays(ffns, plan, options);
  const index = new GraphIndex(graph);
  const read = async (name: string): Promise<Uint8Array> => {
    const t = index.initializers.get(name)!;
    const source = externalSource(t);
    if (!source) return tensorBytes(t);
    if (!options.readExternal) throw new PruneError(`Tensor "${name}" is in external file "${source.location}", and no reader was given`);
    return options.readExternal(source.location, source.offset, source.length);
  };

  const ctx: EditContext = { index, read, edits: [], attributeEdits: new Map() };
  const biases: { ffn: FfnLayer; bias: Float32Array }[] = [];
  const removed = removedChannels(plan, sizes);
  const layers: LayerPruneReport[] = [];
  for (const ffn of ffns) {
    const keep = plan.keep[ffn.layer]!;
    const replacement = options.downWeights?.[ffn.layer] ?? undefined;
    const means = options.channelMeans?.[ffn.layer] ?? undefined;
    const report: LayerPruneReport = { layer: ffn.layer, before: ffn.intermediateSize, after: keep.length, down: 'unchanged', biasCompensation: false };
    layers.push(report);
    if (keep.length === ffn.intermediateSize && !replacement) continue;
    const keepKey = keep.join(',');
    if (keep.length < ffn.intermediateSize) {
      for (const [role, proj] of [
        ['gate', ffn.gate],
        ['up', ffn.up],
      ] as const) {
        await sliceOutputs(ctx, proj, keep, keepKey, role, ffn.layer);
      }
    }
    const down = await pruneDown(ctx, ffn, keep, keepKey, replacement, options);
    Object.assign(report, down.report);
    if (means && removed[ffn.layer]!.length) {
      biases.push({ ffn, bias: flapBias(down.original, ffn.hiddenSize, removed[ffn.layer]!, means) });
      report.biasCompensation = true;
    }
  }

  const pruned = applyEdits(model, ctx);
  retypeInterior(pruned, ffns, plan);
  for (const { ffn, bias } of biases) addBias(pruned, ffn, bias);
  const ffnParams = (keepOf: (f: FfnLayer) => number) => ffns.reduce((n, f) => n + 3 * keepOf(f) * f.hiddenSize, 0);
  return {
    model: pruned,
    report: {
      layers,
      parameters: { before: countParameters(model), after: countParameters(pruned) },
      ffnParameters: { before: ffnParams((f) => f.intermediateSize), after: ffnParams((f) => plan.keep[f.layer]!.length) },
    },
  };
}

function checkLayerArrays(ffns: FfnLayer[], plan: KeepPlan, options: PruneOptions): void {
  for (const f of ffns) {
    const kept = plan.keep[f.layer]!.length;
    const w = options.downWeights?.[f.layer];
    if (w && w.length !== kept * f.hiddenSize) {
      throw new PruneError(`Layer ${f.layer}: replacement down weights have ${w.length} values, expected ${kept} kept x ${f.hiddenSize} hidden = ${kept * f.hiddenSize}`);
    }
    const m = options.channelMeans?.[f.layer];
    if (m && m.length !== f.intermediateSize) {
      throw new PruneError(`Layer ${f.layer}: channel means have ${m.length} values, the layer has ${f.intermediateSize} FFN channels`);
    }
  }
}

export async function readInt4(w: NBitsProjectionWeight, read: (name: string) => Promise<Uint8Array>, layer: number): Promise<Int4Weight> {
  if (w.bits !== 4) throw new PruneError(`Layer ${layer}: MatMulNBits with ${w.bits} bits is not supported (4-bit only)`);
  if (w.zeroPoints && !w.zeroPointsPacked) throw new PruneError(`Layer ${layer}: float zero points of "${w.initializer}" are not supported (packed uint8 only)`);
  return {
    K: w.K,
    N: w.N,
    blockSize: w.blockSize,
    b: await read(w.initializer),
    scales: decodeFloats(await read(w.scales), w.scalesType),
    ...(w.zeroPoints ? { zeroPoints: await read(w.zeroPoints) } : {}),
  };
}

/** Edits for a MatMulNBits node's B / scales / zero points, keeping each tensor's rank. */
function int4Edits(ctx: EditContext, proj: FfnProjection, w: NBitsProjectionWeight, q: Int4Weight, signature: string, role: string, layer: number): Edit[] {
  const kBlocks = kBlocksOf(q.K, q.blockSize);
  const rank = (name: string) => ctx.index.initializers.get(name)!.dims?.length ?? 1;
  const out: Edit[] = [
    { node: proj.nodeIndex, input: 1, signature: `${signature}:B`, role: `${role}.B`, layer, tensor: { dims: [q.N, kBlocks, q.blockSize / 2], dataType: DataType.UINT8, bytes: q.b } },
    {
      node: proj.nodeIndex,
      input: 2,
      signature: `${signature}:scales`,
      role: `${role}.scales`,
      layer,
      tensor: { dims: rank(w.scales) === 2 ? [q.N, kBlocks] : [q.N * kBlocks], dataType: w.scalesType, bytes: encodeFloats(q.scales, w.scalesType) },
    },
  ];
  if (w.zeroPoints && q.zeroPoints) {
    const perRow = q.zeroPoints.length / q.N;
    out.push({
      node: proj.nodeIndex,
      input: 3,
      signature: `${signature}:zp`,
      role: `${role}.zero_points`,
      layer,
      tensor: { dims: rank(w.zeroPoints) === 2 ? [q.N, perRow] : [q.N * perRow], dataType: DataType.UINT8, bytes: q.zeroPoints },
    });
  }
  return out;
}

async function sliceOutputs(ctx: EditContext, proj: FfnProjection, keep: number[], keepKey: string, role: string, layer: number): Promise<void> {
  const w = proj.weight;
  if (w.format === 'float') {
    const eb = floatElementBytes(w.dataType);
    const bytes = selectColumnBytes(await ctx.read(w.initializer), w.dims[0], w.dims[1], eb, keep);
    ctx.edits.push({ node: proj.nodeIndex, input: 1, signature: `cols:${keepKey}`, role, layer, tensor: { dims: [w.dims[0], keep.length], dataType: w.dataType, bytes } });
    return;
  }
  const q = sliceInt4Outputs(await readInt4(w, ctx.read, layer), keep);
  ctx.edits.push(...int4Edits(ctx, proj, w, q, `nbits-rows:${keepKey}`, role, layer));
  ctx.attributeEdits.set(proj.nodeIndex, { N: keep.length });
}

/** Edits the down projection; returns its report part and the original weights as floats [I, hidden] (for FLAP). */
async function pruneDown(
  ctx: EditContext,
  ffn: FfnLayer,
  keep: number[],
  keepKey: string,
  replacement: Float32Array | undefined,
  options: PruneOptions,
): Promise<{ report: Partial<LayerPruneReport>; original: () => Float32Array }> {
  const proj = ffn.down;
  const w = proj.weight;
  const H = ffn.hiddenSize;
  const layer = ffn.layer;
  if (w.format === 'float') {
    const eb = floatElementBytes(w.dataType);
    const bytes = await ctx.read(w.initializer);
    const sliced = replacement ? encodeFloats(replacement, w.dataType) : selectRowBytes(bytes, H * eb, keep);
    const signature = replacement ? `replace:${layer}` : `rows:${keepKey}`;
    ctx.edits.push({ node: proj.nodeIndex, input: 1, signature, role: 'down', layer, tensor: { dims: [keep.length, H], dataType: w.dataType, bytes: sliced } });
    return { report: { down: replacement ? 'replaced' : 'sliced' }, original: () => decodeFloats(bytes, w.dataType) };
  }
  const q = await readInt4(w, ctx.read, layer);
  const original = () => dequantizeInt4(q);
  const roundScale = (v: number) => (w.scalesType === DataType.FLOAT ? Math.fround(v) : roundToFloatType(v, w.scalesType));
  const quantize = (values: Float32Array) => quantizeInt4(values, keep.length, H, q.blockSize, { zeroPoints: !!q.zeroPoints, roundScale });
  const blocks = replacement ? null : wholeBlocksKept(keep, q.K, q.blockSize);
  let result: Int4Weight;
  let report: Partial<LayerPruneReport>;
  if (replacement) {
    result = quantize(replacement);
    report = { down: 'replaced', requantizedFrom: 'replacement', addedError: differenceStats(dequantizeInt4(result), replacement) };
  } else if (blocks) {
    result = removeInt4Blocks(q, blocks);
    report = { down: 'blocks-removed' };
  } else {
    const floats = await options.floatDownWeights?.(layer);
    if (floats && floats.length !== q.K * H) throw new PruneError(`Layer ${layer}: float down weights have ${floats.length} values, expected ${q.K} x ${H}`);
    const target = selectFloatRows(original(), H, keep);
    result = quantize(floats ? selectFloatRows(floats, H, keep) : target);
    report = { down: 'requantized', requantizedFrom: floats ? 'float-weights' : 'dequantized', addedError: differenceStats(dequantizeInt4(result), target) };
  }
  const signature = replacement ? `replace:${layer}` : blocks ? `nbits-blocks:${keepKey}` : `requant:${layer}:${keepKey}`;
  ctx.edits.push(...int4Edits(ctx, proj, w, result, signature, 'down', layer));
  ctx.attributeEdits.set(proj.nodeIndex, { K: result.K });
  return { report, original };
}

function selectFloatRows(w: Float32Array, cols: number, keep: readonly number[]): Float32Array {
  return new Float32Array(selectRowBytes(new Uint8Array(w.buffer, w.byteOffset, w.byteLength), cols * 4, keep).buffer);
}

function differenceStats(a: Float32Array, b: Float32Array): { maxAbs: number; rms: number } {
  let maxAbs = 0;
  let sq = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    maxAbs = Math.max(maxAbs, d);
    sq += d * d;
  }
  return { maxAbs, rms: a.length ? Math.sqrt(sq / a.length) : 0 };
}

/** bias[n] = sum over removed channels c of mean[c] * W[c, n]: what those channels added on average. */
function flapBias(original: () => Float32Array, hidden: number, removed: number[], means: Float32Array): Float32Array {
  const w = original();
  const bias = new Float64Array(hidden);
  for (const c of removed) for (let n = 0; n < hidden; n++) bias[n] += means[c]! * w[c * hidden + n]!;
  return Float32Array.from(bias);
}

/** Rewrites initializers and node inputs/attributes; clones shared initializers where needed. */
function applyEdits(model: OnnxModel, { index, edits, attributeEdits }: EditContext): OnnxModel {
  const graph = model.graph!;
  const byName = new Map<string, Edit[]>();
  for (const e of edits) {
    const name = graph.node![e.node]!.input![e.input]!;
    let list = byName.get(name);
    if (!list) byName.set(name, (list = []));
    list.push(e);
  }
  const nodes = [...graph.node!];
  const renames = new Map<number, Map<number, string>>();
  const replaced = new Map<string, TensorProto>();
  const clones = new Map<string, TensorProto[]>();
  const keepOriginal = new Set<string>();
  for (const [name, list] of byName) {
    const original = index.initializers.get(name)!;
    const editedUses = new Set(list.map((e) => `${e.node}:${e.input}`));
    const otherReaders = index.otherUses.has(name) || index.consumers(name).some((u) => !editedUses.has(`${u.node}:${u.input}`));
    const signatures = new Set(list.map((e) => e.signature));
    if (!otherReaders && signatures.size === 1) {
      replaced.set(name, withData(original, name, list[0]!.tensor));
      continue;
    }
    if (otherReaders) keepOriginal.add(name);
    const made = new Map<string, string>();
    for (const e of list) {
      let cloneName = made.get(e.signature);
      if (!cloneName) {
        cloneName = `${name}.pruned.l${e.layer}.${e.role}`;
        made.set(e.signature, cloneName);
        clones.set(name, [...(clones.get(name) ?? []), withData(original, cloneName, e.tensor)]);
      }
      let inputs = renames.get(e.node);
      if (!inputs) renames.set(e.node, (inputs = new Map()));
      inputs.set(e.input, cloneName);
    }
  }
  for (const [i, inputs] of renames) nodes[i] = { ...nodes[i]!, input: nodes[i]!.input!.map((name, k) => inputs.get(k) ?? name) };
  for (const [i, values] of attributeEdits) nodes[i] = withAttributes(nodes[i]!, values);
  const initializer = (graph.initializer ?? []).flatMap((t) => {
    const name = t.name ?? '';
    if (replaced.has(name)) return [replaced.get(name)!];
    if (!clones.has(name)) return [t];
    return [...(keepOriginal.has(name) ? [t] : []), ...clones.get(name)!];
  });
  return { ...model, graph: { ...graph, node: nodes, initializer } };
}

const DATA_FIELDS = ['raw_data', 'float_data', 'int32_data', 'string_data', 'int64_data', 'double_data', 'uint64_data', 'data_location', 'external_data'] as const;

function withData(original: TensorProto, name: string, t: Edit['tensor']): TensorProto {
  const rest: TensorProto = { ...original };
  for (const key of DATA_FIELDS) delete rest[key];
  return { ...rest, ...tensorFromBytes(name, t.dims, t.dataType, t.bytes) };
}

function withAttributes(n: NodeProto, values: Record<string, number>): NodeProto {
  const attribute = (n.attribute ?? []).map((a) => (a.name && a.name in values ? { ...a, type: AttributeType.INT, i: values[a.name]! } : a));
  return { ...n, attribute };
}

/** Sets the new width on the annotations (value_info, graph outputs) of each pruned layer's FFN interior. */
function retypeInterior(model: OnnxModel, ffns: FfnLayer[], plan: KeepPlan): void {
  const graph = model.graph!;
  const width = new Map<string, { from: number; to: number }>();
  for (const f of ffns) {
    const kept = plan.keep[f.layer]!.length;
    if (kept !== f.intermediateSize) for (const t of f.interior) width.set(t, { from: f.intermediateSize, to: kept });
  }
  const fix = (v: ValueInfoProto): ValueInfoProto => {
    const change = width.get(v.name ?? '');
    const dims = v.type?.tensor_type?.shape?.dim;
    if (!change || !dims?.length || dims[dims.length - 1]!.dim_value !== change.from) return v;
    const dim = [...dims.slice(0, -1), { ...dims[dims.length - 1]!, dim_value: change.to }];
    return { ...v, type: { ...v.type, tensor_type: { ...v.type!.tensor_type, shape: { ...v.type!.tensor_type!.shape, dim } } } };
  };
  if (graph.value_info) graph.value_info = graph.value_info.map(fix);
  if (graph.output) graph.output = graph.output.map(fix);
}

/** Inserts `down_out = down_matmul_out + bias` right after the down projection (consumers keep their input name). */
function addBias(model: OnnxModel, ffn: FfnLayer, bias: Float32Array): void {
  const graph = model.graph!;
  const nodes = graph.node!;
  const downIndex = nodes.findIndex((n) => n.output?.[0] === ffn.down.output);
  const down = nodes[downIndex]!;
  const base = down.name || `layers.${ffn.layer}.down_proj`;
  const inner = `${ffn.down.output}_before_flap_bias`;
  const biasName = `${base.replace(/^\//, '').replaceAll('/', '.')}.flap_bias`;
  graph.initializer = [...(graph.initializer ?? []), tensorFromBytes(biasName, [bias.length], ffn.activationType, encodeFloats(bias, ffn.activationType))];
  graph.node = [
    ...nodes.slice(0, downIndex),
    { ...down, output: [inner, ...down.output!.slice(1)] },
    { input: [inner, biasName], output: [ffn.down.output], name: `${base}/flap_bias/Add`, op_type: 'Add' },
    ...nodes.slice(downIndex + 1),
  ];
}


/** config.json of the pruned model: intermediate_size is the kept width when uniform; otherwise the widest layer, with the per-layer list beside it. */
export function prunedConfig(config: Record<string, unknown>, plan: KeepPlan): Record<string, unknown> {
  const sizes = plan.keep.map((k) => k.length);
  const uniform = uniformKeptSize(plan);
  const out: Record<string, unknown> = { ...config, intermediate_size: uniform ?? Math.max(...sizes) };
  if (uniform === undefined) out.intermediate_sizes = sizes;
  else delete out.intermediate_sizes;
  return out;
}

/** pruning.json: the plan (same `keep` shape as plan.json) and what the export did. */
export function pruningManifest(plan: KeepPlan, report: PruneReport, method: string): Record<string, unknown> {
  return {
    keep: plan.keep,
    method,
    sparsity: planSparsity(plan, report.layers.map((l) => l.before)),
    intermediate_sizes: report.layers.map((l) => l.after),
    original_intermediate_sizes: report.layers.map((l) => l.before),
    parameters: report.parameters,
    ffn_parameters: report.ffnParameters,
    layers: report.layers,
  };
}

/** JSON text with two-space indentation, but every array of numbers on one line (keep lists stay readable). */
export function manifestJsonText(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]/g, (_, items: string) => `[${items.split(/,\s+/).join(', ')}]`) + '\n';
}

export { countParameters };
