/**
 * Writes a Llama GGUF as an ONNX graph in the Hugging Face Optimum export layout: the same inputs,
 * outputs, node names and op patterns (`/model/layers.{i}/mlp/gate_proj/MatMul`, SiLU as
 * Sigmoid+Mul, `onnx::MatMul_*` weights stored [in, out]) that a user gets from the hub.
 */
import { valueInfo, makeModel, node, tensorFromFloat32, DataType } from '../onnx/builders';
import { transpose } from '../onnx/float-tensor';
import { GraphWriter } from '../onnx/graph-writer';
import type { OnnxModel } from '../onnx/model-io';
import type { GgufModel, LlamaConfig } from './gguf-file';
import { GgufError } from './gguf-file';

/** Most negative float32: what HF uses to mask attention (finite, so fully masked rows stay NaN-free). */
const MASK_MIN = -3.4028234663852886e38;

const OPSET = 17;

/**
 * GGUF keeps Q/K rows for llama.cpp's interleaved-pair RoPE (pairs 2i, 2i+1); the HF graph rotates
 * halves (i, i + d/2). Reorder each head's rows so that HF row i is GGUF row 2i and HF row i + d/2
 * is GGUF row 2i + 1; the attention scores are unchanged because Q and K get the same order.
 */
export function unpermuteRopeRows(rows: Float32Array, heads: number, headDim: number, inDim: number): Float32Array {
  const out = new Float32Array(rows.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let r = 0; r < headDim; r++) {
      const src = r < half ? 2 * r : 2 * (r - half) + 1;
      out.set(rows.subarray((h * headDim + src) * inDim, (h * headDim + src + 1) * inDim), (h * headDim + r) * inDim);
    }
  }
  return out;
}

/** cos/sin tables [maxPos, headDim] in HF's duplicated-halves form. */
function ropeTables(cfg: LlamaConfig, maxPos: number): { cos: Float32Array; sin: Float32Array } {
  const d = cfg.headDim;
  const cos = new Float32Array(maxPos * d);
  const sin = new Float32Array(maxPos * d);
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < d / 2; i++) {
      const angle = p * Math.pow(cfg.ropeTheta, (-2 * i) / d);
      cos[p * d + i] = cos[p * d + i + d / 2] = Math.cos(angle);
      sin[p * d + i] = sin[p * d + i + d / 2] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

function checkSupported(cfg: LlamaConfig): void {
  if (cfg.ropeDim !== cfg.headDim) {
    throw new GgufError(`unsupported RoPE: rotates ${cfg.ropeDim} of ${cfg.headDim} head dimensions (partial RoPE)`);
  }
  if (cfg.nHeads % cfg.nKvHeads !== 0) {
    throw new GgufError(`unsupported attention: ${cfg.nHeads} heads are not a multiple of ${cfg.nKvHeads} KV heads`);
  }
}

export interface LlamaOnnxOptions {
  /** Longest sequence the RoPE tables cover (defaults to the GGUF context length). */
  maxPositions?: number;
}

export function buildLlamaOnnx(model: GgufModel, options: LlamaOnnxOptions = {}): OnnxModel {
  const cfg = model.config;
  checkSupported(cfg);
  const maxPos = options.maxPositions ?? cfg.contextLength;
  const g = new GraphWriter();
  let matmulId = 0;
  const weight = (rows: Float32Array, outDim: number, inDim: number) =>
    g.initializer(tensorFromFloat32(`onnx::MatMul_${++matmulId}`, [inDim, outDim], transpose(rows, outDim, inDim))); // GGUF [out][in] → MatMul [in][out]
  const vector = (name: string, ggufName: string) => g.initializer(tensorFromFloat32(name, [cfg.dim], model.tensorF32(ggufName)));

  const { dim, headDim: hd, nHeads, nKvHeads } = cfg;
  const groups = nHeads / nKvHeads;

  // Shared per-call values: lengths, RoPE cos/sin gathered at position_ids, and the additive mask.
  const pastLen = g.op('Gather', '/model/Gather_past_len', [g.op('Shape', '/model/Shape_past', ['past_key_values.0.key']), g.int64([2], true)], { axis: 0 });
  const seqLen = g.op('Gather', '/model/Gather_seq_len', [g.op('Shape', '/model/Shape_ids', ['input_ids']), g.int64([1], true)], { axis: 0 });
  const totalLen = g.op('Add', '/model/Add_total_len', [pastLen, seqLen]);
  const tables = ropeTables(cfg, maxPos);
  const cosCache = g.initializer(tensorFromFloat32('model.rotary_emb.cos_cached', [maxPos, hd], tables.cos));
  const sinCache = g.initializer(tensorFromFloat32('model.rotary_emb.sin_cached', [maxPos, hd], tables.sin));
  const one = g.int64([1]);
  const cos = g.op('Unsqueeze', '/model/rotary_emb/Unsqueeze_cos', [g.op('Gather', '/model/rotary_emb/Gather_cos', [cosCache, 'position_ids']), one]);
  const sin = g.op('Unsqueeze', '/model/rotary_emb/Unsqueeze_sin', [g.op('Gather', '/model/rotary_emb/Gather_sin', [sinCache, 'position_ids']), one]);

  const step = g.int64([1], true);
  const queryPos = g.op('Range', '/model/mask/Range_query', [pastLen, totalLen, step]);
  const keyPos = g.op('Range', '/model/mask/Range_key', [g.int64([0], true), totalLen, step]);
  const causal = g.op('LessOrEqual', '/model/mask/LessOrEqual', [
    g.op('Unsqueeze', '/model/mask/Unsqueeze_key', [keyPos, g.int64([0])]),
    g.op('Unsqueeze', '/model/mask/Unsqueeze_query', [queryPos, one]),
  ]);
  const padding = g.op('Unsqueeze', '/model/mask/Unsqueeze_pad', [g.op('Cast', '/model/mask/Cast', ['attention_mask'], { to: DataType.BOOL }), g.int64([1, 2])]);
  const allowed = g.op('And', '/model/mask/And', [causal, padding]);
  const mask = g.op('Where', '/model/mask/Where', [allowed, g.float(0), g.float(MASK_MIN)]);

  const rmsNorm = (prefix: string, x: string, w: string) => {
    const sq = g.op('Pow', `${prefix}/Pow`, [x, g.float(2)]);
    const mean = g.op('ReduceMean', `${prefix}/ReduceMean`, [sq], { axes: [-1], keepdims: 1 });
    const root = g.op('Sqrt', `${prefix}/Sqrt`, [g.op('Add', `${prefix}/Add`, [mean, g.float(cfg.rmsEps)])]);
    const normed = g.op('Mul', `${prefix}/Mul`, [x, g.op('Reciprocal', `${prefix}/Reciprocal`, [root])]);
    return g.op('Mul', `${prefix}/Mul_1`, [w, normed]);
  };
  const halves = g.int64([hd / 2, hd / 2]);
  const rotary = (prefix: string, x: string) => {
    const [x1, x2] = g.opN('Split', `${prefix}/Split`, [x, halves], 2, { axis: -1 }) as [string, string];
    const rotated = g.op('Concat', `${prefix}/Concat`, [g.op('Neg', `${prefix}/Neg`, [x2]), x1], { axis: -1 });
    return g.op('Add', `${prefix}/Add`, [g.op('Mul', `${prefix}/Mul`, [x, cos]), g.op('Mul', `${prefix}/Mul_1`, [rotated, sin])]);
  };
  const heads = (prefix: string, x: string, n: number) =>
    g.op('Transpose', `${prefix}/Transpose`, [g.op('Reshape', `${prefix}/Reshape`, [x, g.int64([0, 0, n, hd])])], { perm: [0, 2, 1, 3] });
  // HF repeat_kv: query head h reads KV head floor(h / groups).
  const repeatKv = (prefix: string, x: string) =>
    groups === 1
      ? x
      : g.op('Reshape', `${prefix}/Reshape`, [
          g.op('Expand', `${prefix}/Expand`, [g.op('Unsqueeze', `${prefix}/Unsqueeze`, [x, g.int64([2])]), g.int64([1, 1, groups, 1, 1])]),
          g.int64([0, nHeads, -1, hd]),
        ]);

  let hidden = g.op('Gather', '/model/embed_tokens/Gather', ['model.embed_tokens.weight', 'input_ids']);
  g.initializer(tensorFromFloat32('model.embed_tokens.weight', [cfg.vocabSize, dim], model.tensorF32('token_embd.weight')));
  const scale = g.float(1 / Math.sqrt(hd));

  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `/model/layers.${l}`;
    const blk = (name: string) => model.tensorF32(`blk.${l}.${name}.weight`);
    const ffn = cfg.ffnDims[l]!;
    const xa = rmsNorm(`${p}/input_layernorm`, hidden, vector(`model.layers.${l}.input_layernorm.weight`, `blk.${l}.attn_norm.weight`));

    const a = `${p}/self_attn`;
    const q = g.op('MatMul', `${a}/q_proj/MatMul`, [xa, weight(unpermuteRopeRows(blk('attn_q'), nHeads, hd, dim), nHeads * hd, dim)]);
    const k = g.op('MatMul', `${a}/k_proj/MatMul`, [xa, weight(unpermuteRopeRows(blk('attn_k'), nKvHeads, hd, dim), nKvHeads * hd, dim)]);
    const v = g.op('MatMul', `${a}/v_proj/MatMul`, [xa, weight(blk('attn_v'), nKvHeads * hd, dim)]);
    const qr = rotary(`${a}/rotary_q`, heads(`${a}/q`, q, nHeads));
    const kr = rotary(`${a}/rotary_k`, heads(`${a}/k`, k, nKvHeads));
    const presentK = `present.${l}.key`;
    const presentV = `present.${l}.value`;
    g.nodes.push(
      node('Concat', [`past_key_values.${l}.key`, kr], [presentK], `${a}/Concat_k`, { axis: 2 }),
      node('Concat', [`past_key_values.${l}.value`, heads(`${a}/v`, v, nKvHeads)], [presentV], `${a}/Concat_v`, { axis: 2 }),
    );
    const keys = g.op('Transpose', `${a}/Transpose_k`, [repeatKv(`${a}/repeat_k`, presentK)], { perm: [0, 1, 3, 2] });
    const scores = g.op('Add', `${a}/Add_mask`, [g.op('MatMul', `${a}/MatMul_qk`, [g.op('Mul', `${a}/Mul_scale`, [qr, scale]), keys]), mask]);
    const probs = g.op('Softmax', `${a}/Softmax`, [scores], { axis: -1 });
    const ctx = g.op('MatMul', `${a}/MatMul_v`, [probs, repeatKv(`${a}/repeat_v`, presentV)]);
    const merged = g.op('Reshape', `${a}/Reshape_out`, [g.op('Transpose', `${a}/Transpose_out`, [ctx], { perm: [0, 2, 1, 3] }), g.int64([0, 0, nHeads * hd])]);
    const attnOut = g.op('MatMul', `${a}/o_proj/MatMul`, [merged, weight(blk('attn_output'), dim, nHeads * hd)]);
    hidden = g.op('Add', `${p}/Add`, [hidden, attnOut]);

    const xf = rmsNorm(`${p}/post_attention_layernorm`, hidden, vector(`model.layers.${l}.post_attention_layernorm.weight`, `blk.${l}.ffn_norm.weight`));
    const m = `${p}/mlp`;
    const gate = g.op('MatMul', `${m}/gate_proj/MatMul`, [xf, weight(blk('ffn_gate'), ffn, dim)]);
    const up = g.op('MatMul', `${m}/up_proj/MatMul`, [xf, weight(blk('ffn_up'), ffn, dim)]);
    const act = g.op('Mul', `${m}/act_fn/Mul`, [gate, g.op('Sigmoid', `${m}/act_fn/Sigmoid`, [gate])]);
    const down = g.op('MatMul', `${m}/down_proj/MatMul`, [g.op('Mul', `${m}/Mul`, [act, up]), weight(blk('ffn_down'), dim, ffn)]);
    hidden = g.op('Add', `${p}/Add_1`, [hidden, down]);
  }

  const final = rmsNorm('/model/norm', hidden, vector('model.norm.weight', 'output_norm.weight'));
  const head = model.tensorF32(cfg.tiedOutput ? 'token_embd.weight' : 'output.weight');
  g.nodes.push(node('MatMul', [final, weight(head, cfg.vocabSize, dim)], ['logits'], '/lm_head/MatMul'));

  const kvDims = ['batch_size', nKvHeads, 'past_sequence_length', hd];
  const presentDims = ['batch_size', nKvHeads, 'total_sequence_length', hd];
  const layers = Array.from({ length: cfg.nLayers }, (_, l) => l);
  return makeModel({
    graph: {
      name: 'main_graph',
      node: g.nodes,
      initializer: g.initializers,
      input: [
        valueInfo('input_ids', DataType.INT64, ['batch_size', 'sequence_length']),
        valueInfo('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']),
        valueInfo('position_ids', DataType.INT64, ['batch_size', 'sequence_length']),
        ...layers.flatMap((l) => [
          valueInfo(`past_key_values.${l}.key`, DataType.FLOAT, kvDims),
          valueInfo(`past_key_values.${l}.value`, DataType.FLOAT, kvDims),
        ]),
      ],
      output: [
        valueInfo('logits', DataType.FLOAT, ['batch_size', 'sequence_length', cfg.vocabSize]),
        ...layers.flatMap((l) => [valueInfo(`present.${l}.key`, DataType.FLOAT, presentDims), valueInfo(`present.${l}.value`, DataType.FLOAT, presentDims)]),
      ],
    },
    opsetImports: [{ domain: '', version: OPSET }],
    producerName: 'persona-pruning-studio gguf importer',
  });
}
