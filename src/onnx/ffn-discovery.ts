/**
 * Finds the gated FFN of every decoder layer by its op pattern:
 *
 *   x ─┬─ gate projection ── activation ──┐
 *      └─ up projection ─────────────────  Mul ── down projection ── (residual Add / SkipLayerNorm)
 *
 * where a projection is a MatMul with a constant [in, out] weight or a com.microsoft MatMulNBits,
 * and the activation is SiLU (Sigmoid + Mul), Gelu, FastGelu or QuickGelu. Node and tensor names are
 * only used to number layers and to explain failures, so HF Optimum exports
 * (`/model/layers.3/mlp/gate_proj/MatMul`, `onnx::MatMul_123`) and onnxruntime-genai builds
 * (`model.layers.3.mlp.gate_proj.MatMul.weight`, `_Q4` nodes) are found alike. Works on a parsed
 * model whose external data is not loaded: only names, dims and attributes are read. Platform neutral.
 */
import { GraphIndex, intAttribute } from './graph-index';
import type { OnnxModel } from './model-io';
import { DataType, type NodeProto, type TensorProto } from './proto';

export interface FloatProjectionWeight {
  format: 'float';
  initializer: string;
  /** FLOAT, FLOAT16 or BFLOAT16. */
  dataType: number;
  /** MatMul's B: [in, out], row-major. */
  layout: 'in-out';
  dims: [number, number];
}

export interface NBitsProjectionWeight {
  format: 'nbits';
  /** B: uint8 (N, kBlocks, blockSize * bits / 8). */
  initializer: string;
  scales: string;
  zeroPoints?: string;
  /** True for uint8 packed zero points, false for zero points in the scales' float type. */
  zeroPointsPacked?: boolean;
  bits: number;
  blockSize: number;
  K: number;
  N: number;
  /** Float type of the scales (and of the node's activations). */
  scalesType: number;
}

export interface FfnProjection {
  /** Node name (may be empty in unnamed graphs; nodeIndex is authoritative). */
  node: string;
  nodeIndex: number;
  op: 'MatMul' | 'MatMulNBits';
  input: string;
  output: string;
  weight: FloatProjectionWeight | NBitsProjectionWeight;
  /** Input features and output features. */
  inFeatures: number;
  outFeatures: number;
}

export type FfnActivation = 'silu' | 'gelu' | 'fast-gelu' | 'quick-gelu';

/** Where a layer's output hidden state (the residual stream after its FFN) is, or can be, read. */
export interface HiddenStateSite {
  nodeIndex: number;
  outputIndex: number;
  /** The tensor's name; undefined when the node does not emit that optional output (yet). */
  tensor?: string;
}

export interface FfnLayer {
  layer: number;
  gate: FfnProjection;
  up: FfnProjection;
  down: FfnProjection;
  activation: { kind: FfnActivation; nodeIndices: number[] };
  /** The elementwise Mul node act(gate) * up. */
  mulIndex: number;
  intermediateSize: number;
  hiddenSize: number;
  /** Float type of the FFN's activations (FLOAT, FLOAT16 or BFLOAT16). */
  activationType: number;
  /** Input of the down projection: one value per FFN channel, what pruning scores. */
  downInput: string;
  /** Tensors whose last dimension is the intermediate size (gate/up/activation outputs, downInput). */
  interior: string[];
  hidden?: HiddenStateSite;
}

export class FfnDiscoveryError extends Error {
  override name = 'FfnDiscoveryError';
  constructor(
    message: string,
    /** The first layer that did not match, when one can be named. */
    readonly layer?: number,
  ) {
    super(message);
  }
}

export interface DiscoveryOptions {
  /** Expected number of decoder layers; defaults to the count of past_key_values.N.key inputs or of `layers.N` in node names. */
  numLayers?: number;
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16]);
const ACTIVATION_OPS: Record<string, FfnActivation> = { Gelu: 'gelu', FastGelu: 'fast-gelu', QuickGelu: 'quick-gelu' };
const LAYER_HINT = /(?:layers?|blocks?|[./]h)[./_](\d+)(?=[./_]|$)/;
const DOWN_HINT = /down|fc2|w2|dense_4h_to_h|c_proj|fc_out/i;

/** The decoder layer number a name suggests (`/model/layers.3/...`, `model.layers.3.mlp...`), if any. */
export function layerHint(name: string | undefined): number | undefined {
  const m = name ? LAYER_HINT.exec(name) : null;
  return m ? Number(m[1]) : undefined;
}

export type Match<T> = { ok: true; value: T } | { ok: false; reason: string; depth: number };
const fail = (reason: string, depth: number): { ok: false; reason: string; depth: number } => ({ ok: false, reason, depth });

const describe = (n: NodeProto, index: number) => `${n.op_type} node "${n.name || `#${index}`}"`;

/** A MatMul with a constant 2-D float weight, or a MatMulNBits with its quantized weight (node `index`). */
export function asProjection(g: GraphIndex, index: number): Match<FfnProjection> {
  const n = g.nodes[index]!;
  const [input, weightName] = n.input ?? [];
  const output = n.output?.[0];
  const base = { node: n.name ?? '', nodeIndex: index, input: input ?? '', output: output ?? '' };
  const weight = weightName ? g.initializers.get(weightName) : undefined;
  if (n.op_type === 'MatMul' && !n.domain) {
    if (!weight) return fail(`${describe(n, index)} has no constant weight (B is not an initializer)`, 0);
    const dims = weight.dims ?? [];
    if (dims.length !== 2 || !FLOAT_TYPES.has(weight.data_type ?? 0)) {
      return fail(`${describe(n, index)}: weight "${weightName}" is not a 2-D float matrix (dims [${dims}], type ${weight.data_type})`, 0);
    }
    const [inF, outF] = dims as [number, number];
    return {
      ok: true,
      value: { ...base, op: 'MatMul', weight: { format: 'float', initializer: weightName!, dataType: weight.data_type!, layout: 'in-out', dims: [inF, outF] }, inFeatures: inF, outFeatures: outF },
    };
  }
  if (n.op_type === 'MatMulNBits' && n.domain === 'com.microsoft') {
    const nbits = nbitsWeight(g, n, index);
    if (!nbits.ok) return nbits;
    return { ok: true, value: { ...base, op: 'MatMulNBits', weight: nbits.value, inFeatures: nbits.value.K, outFeatures: nbits.value.N } };
  }
  return fail(`${describe(n, index)} is not a MatMul or MatMulNBits projection`, 0);
}

function nbitsWeight(g: GraphIndex, n: NodeProto, index: number): Match<NBitsProjectionWeight> {
  const what = describe(n, index);
  const K = intAttribute(n, 'K');
  const N = intAttribute(n, 'N');
  const bits = intAttribute(n, 'bits', 4)!;
  const blockSize = intAttribute(n, 'block_size');
  if (K === undefined || N === undefined || blockSize === undefined) return fail(`${what} lacks its K, N or block_size attribute`, 0);
  const [, bName, sName, zName, gIdx, bias] = n.input ?? [];
  const b = bName ? g.initializers.get(bName) : undefined;
  const s = sName ? g.initializers.get(sName) : undefined;
  if (!b || !s) return fail(`${what}: B and scales must be initializers`, 0);
  if (gIdx || bias) return fail(`${what} uses g_idx or bias inputs, which pruning does not support`, 0);
  const kBlocks = Math.ceil(K / blockSize);
  const blob = (blockSize * bits) / 8;
  const count = (t: TensorProto) => (t.dims ?? []).reduce((a, d) => a * d, 1);
  if (b.data_type !== DataType.UINT8 || count(b) !== N * kBlocks * blob) {
    return fail(`${what}: B "${bName}" should be uint8 (${N}, ${kBlocks}, ${blob}) for K=${K} N=${N} block_size=${blockSize}, has dims [${b.dims ?? []}]`, 0);
  }
  if (!FLOAT_TYPES.has(s.data_type ?? 0) || count(s) !== N * kBlocks) {
    return fail(`${what}: scales "${sName}" should hold ${N * kBlocks} floats, has dims [${s.dims ?? []}]`, 0);
  }
  const weight: NBitsProjectionWeight = { format: 'nbits', initializer: bName!, scales: sName!, bits, blockSize, K, N, scalesType: s.data_type! };
  if (zName) {
    const z = g.initializers.get(zName);
    if (!z) return fail(`${what}: zero points "${zName}" are not an initializer`, 0);
    const packed = z.data_type === DataType.UINT8;
    const expected = packed ? N * Math.ceil((kBlocks * bits) / 8) : N * kBlocks;
    if (count(z) !== expected) return fail(`${what}: zero points "${zName}" should hold ${expected} values, have dims [${z.dims ?? []}]`, 0);
    Object.assign(weight, { zeroPoints: zName, zeroPointsPacked: packed });
  }
  return { ok: true, value: weight };
}

interface ActivationMatch {
  kind: FfnActivation;
  gateTensor: string;
  nodeIndices: number[];
  outputs: string[];
}

/** Recognizes `tensor` as act(gate) and returns the gate tensor. */
function asActivation(g: GraphIndex, tensor: string): Match<ActivationMatch> {
  const p = g.producer(tensor);
  if (!p) return fail(`"${tensor}" is not computed by an activation (it is a graph input or constant)`, 2);
  const n = p.node;
  const kind = ACTIVATION_OPS[n.op_type ?? ''];
  if (kind) {
    if ((n.input ?? []).filter(Boolean).length !== 1) return fail(`${describe(n, p.index)} has a bias input, which pruning does not support`, 2);
    return { ok: true, value: { kind, gateTensor: n.input![0]!, nodeIndices: [p.index], outputs: [tensor] } };
  }
  if (n.op_type === 'Mul' && !n.domain) {
    const [a, b] = n.input ?? [];
    for (const [x, s] of [
      [a, b],
      [b, a],
    ] as const) {
      const sig = s ? g.producer(s) : undefined;
      if (x && sig?.node.op_type === 'Sigmoid' && sig.node.input?.[0] === x) {
        return { ok: true, value: { kind: 'silu', gateTensor: x, nodeIndices: [sig.index, p.index], outputs: [s!, tensor] } };
      }
    }
    return fail(`${describe(n, p.index)} is not a SiLU (x * Sigmoid(x))`, 2);
  }
  return fail(`${describe(n, p.index)} is not a supported activation (SiLU, Gelu, FastGelu, QuickGelu)`, 2);
}

/** Tries to read the FFN ending in the down projection at node `index`. */
function matchFromDown(g: GraphIndex, index: number): Match<Omit<FfnLayer, 'layer'>> {
  const n = g.nodes[index]!;
  if (!/^MatMul(NBits)?$/.test(n.op_type ?? '')) return fail(`${describe(n, index)} is not a MatMul or MatMulNBits projection`, 0);
  const mulTensor = n.input?.[0] ?? '';
  const mul = g.producer(mulTensor);
  if (!mul || mul.node.op_type !== 'Mul' || mul.node.domain) {
    return fail(`the input of ${describe(g.nodes[index]!, index)} is not an elementwise Mul of activation and up projection`, 1);
  }
  let best: { ok: false; reason: string; depth: number } = fail(`${describe(mul.node, mul.index)} does not combine an activated gate with an up projection`, 1);
  const [a, b] = mul.node.input ?? [];
  for (const [actTensor, upTensor] of [
    [a, b],
    [b, a],
  ] as const) {
    if (!actTensor || !upTensor) continue;
    // Checked in this order so that a failure deeper in the pattern is the more specific explanation.
    const upNode = g.producer(upTensor);
    const up = upNode ? asProjection(g, upNode.index) : fail(`"${upTensor}" is not computed by an up projection`, 2);
    if (!up.ok) {
      if (best.depth < 2) best = fail(`the Mul's other input: ${up.reason}`, 2);
      continue;
    }
    const act = asActivation(g, actTensor);
    if (!act.ok) {
      if (best.depth < 3) best = fail(act.reason, 3);
      continue;
    }
    const gateNode = g.producer(act.value.gateTensor);
    const gate = gateNode ? asProjection(g, gateNode.index) : fail(`the activation's input "${act.value.gateTensor}" is not computed by a projection`, 4);
    if (!gate.ok) {
      best = fail(`gate: ${gate.reason}`, 4);
      continue;
    }
    if (gate.value.input !== up.value.input) {
      best = fail(`gate ${gateNode!.node.name} and up ${upNode!.node.name} read different inputs`, 5);
      continue;
    }
    // The down projection's own weight last: a layer whose pattern is complete but whose weight is not usable says so.
    const down = asProjection(g, index);
    if (!down.ok) return fail(down.reason, 6);
    const I = gate.value.outFeatures;
    const H = gate.value.inFeatures;
    if (up.value.outFeatures !== I || up.value.inFeatures !== H || down.value.inFeatures !== I || down.value.outFeatures !== H) {
      best = fail(
        `projection sizes disagree: gate ${H}->${I}, up ${up.value.inFeatures}->${up.value.outFeatures}, down ${down.value.inFeatures}->${down.value.outFeatures}`,
        7,
      );
      continue;
    }
    const activationType = down.value.weight.format === 'float' ? down.value.weight.dataType : down.value.weight.scalesType;
    return {
      ok: true,
      value: {
        gate: gate.value,
        up: up.value,
        down: down.value,
        activation: { kind: act.value.kind, nodeIndices: act.value.nodeIndices },
        mulIndex: mul.index,
        intermediateSize: I,
        hiddenSize: H,
        activationType,
        downInput: mulTensor,
        interior: [gate.value.output, up.value.output, ...act.value.outputs.filter((t) => t !== mulTensor), mulTensor].filter(
          (t, i, all) => all.indexOf(t) === i,
        ),
        hidden: hiddenSite(g, down.value.output),
      },
    };
  }
  return best;
}

/**
 * The residual sum after the FFN: an Add reading the down output (through a bias Add, such as FLAP
 * compensation, if there is one), or a Skip*LayerNormalization's output 3.
 */
function hiddenSite(g: GraphIndex, downOutput: string): HiddenStateSite | undefined {
  for (const use of g.consumers(downOutput)) {
    const n = g.nodes[use.node]!;
    if (n.op_type === 'Add' && !n.domain) {
      const other = n.input![1 - use.input];
      if (other && !g.initializers.has(other)) return { nodeIndex: use.node, outputIndex: 0, tensor: n.output![0] };
      if (other) return hiddenSite(g, n.output![0]!);
    }
    if ((n.op_type === 'SkipSimplifiedLayerNormalization' || n.op_type === 'SkipLayerNormalization') && use.input <= 1) {
      const tensor = n.output?.[3];
      return { nodeIndex: use.node, outputIndex: 3, ...(tensor ? { tensor } : {}) };
    }
  }
  return undefined;
}

/** How many decoder layers the graph declares, from its KV-cache inputs or its node names. */
function expectedLayerCount(model: OnnxModel, g: GraphIndex): number | undefined {
  const past = (model.graph?.input ?? []).map((i) => /^past_key_values\.(\d+)\.key$/.exec(i.name ?? '')).filter(Boolean);
  if (past.length) return Math.max(...past.map((m) => Number(m![1]))) + 1;
  const hints = g.nodes.map((n) => layerHint(n.name)).filter((h): h is number => h !== undefined);
  return hints.length ? Math.max(...hints) + 1 : undefined;
}

/** Explains why layer `layer` has no FFN: the deepest partial match among its projection-like nodes. */
function explainMissing(g: GraphIndex, layer: number): string {
  let best: { reason: string; rank: number } | undefined;
  g.nodes.forEach((n, i) => {
    if (layerHint(n.name) !== layer || !/MatMul|Gemm/.test(n.op_type ?? '')) return;
    const m = matchFromDown(g, i);
    // Equally deep failures: prefer the node named like a down projection.
    const rank = m.ok ? -1 : m.depth * 2 + (DOWN_HINT.test(n.name ?? '') ? 1 : 0);
    if (!m.ok && (!best || rank > best.rank)) best = { reason: m.reason, rank };
  });
  return best ? best.reason : `no MatMul/MatMulNBits nodes are named for layer ${layer}`;
}

/**
 * The FFN of every decoder layer, numbered 0..L-1. Throws FfnDiscoveryError naming the first layer
 * whose FFN does not match the pattern, so callers never get a partial result.
 */
export function discoverFfns(model: OnnxModel, options: DiscoveryOptions = {}): FfnLayer[] {
  if (!model.graph) throw new FfnDiscoveryError('The model has no graph');
  const g = new GraphIndex(model.graph);
  const found: Omit<FfnLayer, 'layer'>[] = [];
  g.nodes.forEach((_, i) => {
    const m = matchFromDown(g, i);
    if (m.ok) found.push(m.value);
  });
  const expected = options.numLayers ?? expectedLayerCount(model, g);
  if (found.length === 0) {
    const detail = expected ? ` Layer 0: ${explainMissing(g, 0)}.` : '';
    throw new FfnDiscoveryError(`No gated FFN (gate/up projections, activation, Mul, down projection) was found in the graph.${detail}`, expected ? 0 : undefined);
  }
  // Number by name hints when they are distinct, else by graph order (ONNX nodes are topologically sorted).
  const hints = found.map((f) => layerHint(g.nodes[f.down.nodeIndex]!.name));
  const useHints = hints.every((h) => h !== undefined) && new Set(hints).size === hints.length;
  const layers = found
    .map((f, i) => ({ ...f, layer: useHints ? hints[i]! : i }))
    .sort((x, y) => x.layer - y.layer);
  const count = Math.max(expected ?? 0, layers.length);
  for (let l = 0; l < count; l++) {
    if (layers[l]?.layer !== l) {
      throw new FfnDiscoveryError(`Layer ${l} of ${count}: no FFN matched: ${explainMissing(g, l)}.`, l);
    }
  }
  return layers;
}
