/**
 * Reference llama forward pass written from llama2.c's run.c, reading GGUF weights directly.
 * It shares nothing with the ONNX path so it can judge it. Values are stored as float32 (like
 * run.c); sums run in float64, which only makes them more accurate.
 */
import type { GgufModel, LlamaConfig } from './gguf-file';
import { argmax } from '../model/sampling';

export interface ReferenceOptions {
  /** Per layer (null = dense): FFN channel c of layer l contributes zero when ffnMask[l][c] === 0. */
  ffnMask?: (Uint8Array | null)[];
  /**
   * Observes each layer's FFN at each position (for checking instrumented graphs): `downInput` is
   * down_proj's input (silu(gate) * up, masked channels 0), `hidden` the residual stream after the
   * layer. Both are copies.
   */
  capture?: (layer: number, position: number, values: { downInput: Float32Array; hidden: Float32Array }) => void;
}

interface LayerWeights {
  attnNorm: Float32Array;
  wq: Float32Array;
  wk: Float32Array;
  wv: Float32Array;
  wo: Float32Array;
  ffnNorm: Float32Array;
  wGate: Float32Array;
  wUp: Float32Array;
  wDown: Float32Array;
  ffnDim: number;
}

interface Weights {
  cfg: LlamaConfig;
  embed: Float32Array;
  outNorm: Float32Array;
  output: Float32Array;
  layers: LayerWeights[];
  /** RoPE frequency per rotated pair: theta^(-2i/ropeDim). */
  ropeFreqs: Float64Array;
}

// F16 models convert on load; cache so repeated calls do not convert again.
const weightCache = new WeakMap<GgufModel, Weights>();

function loadWeights(model: GgufModel): Weights {
  const cached = weightCache.get(model);
  if (cached) return cached;
  const cfg = model.config;
  const t = (name: string) => model.tensorF32(name);
  const embed = t('token_embd.weight');
  const weights: Weights = {
    cfg,
    embed,
    outNorm: t('output_norm.weight'),
    output: cfg.tiedOutput ? embed : t('output.weight'),
    layers: cfg.ffnDims.map((ffnDim, l) => ({
      attnNorm: t(`blk.${l}.attn_norm.weight`),
      wq: t(`blk.${l}.attn_q.weight`),
      wk: t(`blk.${l}.attn_k.weight`),
      wv: t(`blk.${l}.attn_v.weight`),
      wo: t(`blk.${l}.attn_output.weight`),
      ffnNorm: t(`blk.${l}.ffn_norm.weight`),
      wGate: t(`blk.${l}.ffn_gate.weight`),
      wUp: t(`blk.${l}.ffn_up.weight`),
      wDown: t(`blk.${l}.ffn_down.weight`),
      ffnDim,
    })),
    ropeFreqs: Float64Array.from({ length: cfg.ropeDim / 2 }, (_, i) => cfg.ropeTheta ** ((-2 * i) / cfg.ropeDim)),
  };
  weightCache.set(model, weights);
  return weights;
}

function checkMask(cfg: LlamaConfig, mask: ReferenceOptions['ffnMask']): void {
  if (!mask) return;
  if (mask.length > cfg.nLayers) throw new RangeError(`ffnMask has ${mask.length} entries for ${cfg.nLayers} layers`);
  mask.forEach((m, l) => {
    if (m && m.length !== cfg.ffnDims[l]) {
      throw new RangeError(`ffnMask[${l}] has ${m.length} entries, layer ${l} has ${cfg.ffnDims[l]} FFN channels`);
    }
  });
}

function checkToken(cfg: LlamaConfig, token: number): void {
  if (!Number.isInteger(token) || token < 0 || token >= cfg.vocabSize) {
    throw new RangeError(`token ${token} is outside the vocabulary [0, ${cfg.vocabSize})`);
  }
}

function rmsnorm(out: Float32Array, x: Float32Array, w: Float32Array, eps: number): void {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  for (let i = 0; i < x.length; i++) out[i] = w[i] * (scale * x[i]);
}

/** out[d] = W[d, :] · x, W row-major [d][n] (GGUF shape [n, d]). */
function matmul(out: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number): void {
  for (let row = 0; row < d; row++) {
    let sum = 0;
    const base = row * n;
    for (let j = 0; j < n; j++) sum += w[base + j] * x[j];
    out[row] = sum;
  }
}

/** Interleaved-pair RoPE (run.c / ggml mode 0): rotates (2i, 2i+1) of each head's first ropeDim dims. */
function rope(vec: Float32Array, nHeads: number, w: Weights, pos: number): void {
  const { headDim } = w.cfg;
  for (let i = 0; i < w.ropeFreqs.length; i++) {
    const angle = pos * w.ropeFreqs[i];
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    for (let h = 0; h < nHeads; h++) {
      const j = h * headDim + 2 * i;
      const v0 = vec[j];
      const v1 = vec[j + 1];
      vec[j] = v0 * c - v1 * s;
      vec[j + 1] = v0 * s + v1 * c;
    }
  }
}

/** Causal attention of one query position over cached keys/values 0..pos (rows of kvDim). */
function attend(out: Float32Array, q: Float32Array, keys: Float32Array, values: Float32Array, pos: number, cfg: LlamaConfig): void {
  const { nHeads, nKvHeads, headDim } = cfg;
  const kvDim = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const scores = new Float64Array(pos + 1);
  const scale = 1 / Math.sqrt(headDim);
  for (let h = 0; h < nHeads; h++) {
    const qOff = h * headDim;
    const kvOff = Math.floor(h / group) * headDim;
    let max = -Infinity;
    for (let t = 0; t <= pos; t++) {
      let dot = 0;
      const kBase = t * kvDim + kvOff;
      for (let i = 0; i < headDim; i++) dot += q[qOff + i] * keys[kBase + i];
      scores[t] = dot * scale;
      if (scores[t] > max) max = scores[t];
    }
    let total = 0;
    for (let t = 0; t <= pos; t++) total += scores[t] = Math.exp(scores[t] - max);
    for (let i = 0; i < headDim; i++) {
      let acc = 0;
      for (let t = 0; t <= pos; t++) acc += scores[t] * values[t * kvDim + kvOff + i];
      out[qOff + i] = acc / total;
    }
  }
}

/** x += W_down (silu(W_gate xb) * (W_up xb)), masked channels contributing zero. */
class FfnScratch {
  private readonly xb: Float32Array;
  private readonly gate: Float32Array;
  private readonly up: Float32Array;
  private readonly out: Float32Array;
  private width = 0;

  constructor(cfg: LlamaConfig) {
    this.xb = new Float32Array(cfg.dim);
    this.gate = new Float32Array(cfg.ffnDim);
    this.up = new Float32Array(cfg.ffnDim);
    this.out = new Float32Array(cfg.dim);
  }

  apply(x: Float32Array, layer: LayerWeights, eps: number, mask: Uint8Array | null | undefined): void {
    const { xb, out } = this;
    const n = (this.width = layer.ffnDim);
    const gate = this.gate.subarray(0, n);
    const up = this.up.subarray(0, n);
    rmsnorm(xb, x, layer.ffnNorm, eps);
    matmul(gate, xb, layer.wGate, x.length, n);
    matmul(up, xb, layer.wUp, x.length, n);
    for (let c = 0; c < n; c++) {
      const g = gate[c];
      gate[c] = mask && mask[c] === 0 ? 0 : (g / (1 + Math.exp(-g))) * up[c];
    }
    matmul(out, gate, layer.wDown, n, x.length);
    for (let i = 0; i < x.length; i++) x[i] += out[i];
  }

  /** down_proj's input of the last apply(). */
  get downInput(): Float32Array {
    return this.gate.subarray(0, this.width);
  }
}

function capture(options: ReferenceOptions, layer: number, position: number, ffn: FfnScratch, x: Float32Array): void {
  options.capture?.(layer, position, { downInput: ffn.downInput.slice(), hidden: x.slice() });
}

function logitsOf(x: Float32Array, w: Weights, xb: Float32Array): Float32Array {
  rmsnorm(xb, x, w.outNorm, w.cfg.rmsEps);
  const logits = new Float32Array(w.cfg.vocabSize);
  matmul(logits, xb, w.output, w.cfg.dim, w.cfg.vocabSize);
  return logits;
}

/** Logits for every position of `tokens`, computed layer by layer over the whole sequence. */
export function referenceLogits(model: GgufModel, tokens: number[], options: ReferenceOptions = {}): Float32Array[] {
  const w = loadWeights(model);
  const { cfg } = w;
  const { dim, headDim, rmsEps } = cfg;
  checkMask(cfg, options.ffnMask);
  tokens.forEach((tok) => checkToken(cfg, tok));
  const T = tokens.length;
  const qDim = cfg.nHeads * headDim;
  const kvDim = cfg.nKvHeads * headDim;
  const xs = tokens.map((tok) => w.embed.slice(tok * dim, (tok + 1) * dim));
  const q = new Float32Array(T * qDim);
  const keys = new Float32Array(T * kvDim);
  const values = new Float32Array(T * kvDim);
  const xb = new Float32Array(dim);
  const att = new Float32Array(qDim);
  const proj = new Float32Array(dim);
  const ffn = new FfnScratch(cfg);

  w.layers.forEach((layer, l) => {
    for (let t = 0; t < T; t++) {
      rmsnorm(xb, xs[t], layer.attnNorm, rmsEps);
      const qt = q.subarray(t * qDim, (t + 1) * qDim);
      const kt = keys.subarray(t * kvDim, (t + 1) * kvDim);
      matmul(qt, xb, layer.wq, dim, qDim);
      matmul(kt, xb, layer.wk, dim, kvDim);
      matmul(values.subarray(t * kvDim, (t + 1) * kvDim), xb, layer.wv, dim, kvDim);
      rope(qt, cfg.nHeads, w, t);
      rope(kt, cfg.nKvHeads, w, t);
    }
    for (let t = 0; t < T; t++) {
      attend(att, q.subarray(t * qDim, (t + 1) * qDim), keys, values, t, cfg);
      matmul(proj, att, layer.wo, qDim, dim);
      for (let i = 0; i < dim; i++) xs[t][i] += proj[i];
    }
    for (let t = 0; t < T; t++) {
      ffn.apply(xs[t], layer, rmsEps, options.ffnMask?.[l]);
      capture(options, l, t, ffn, xs[t]);
    }
  });
  return xs.map((x) => logitsOf(x, w, xb));
}

/** Token-at-a-time decoder with a KV cache, as in run.c's forward(). */
export class ReferenceDecoder {
  private readonly w: Weights;
  private readonly keys: Float32Array[];
  private readonly values: Float32Array[];
  private pos = 0;

  constructor(
    model: GgufModel,
    private readonly options: ReferenceOptions = {},
  ) {
    this.w = loadWeights(model);
    checkMask(this.w.cfg, options.ffnMask);
    this.keys = this.w.layers.map(() => new Float32Array(0));
    this.values = this.w.layers.map(() => new Float32Array(0));
  }

  /** Number of tokens consumed so far (the position of the next token). */
  get position(): number {
    return this.pos;
  }

  /** Feeds one token at the next position and returns its logits. */
  step(token: number): Float32Array {
    const { w, pos } = this;
    const { cfg } = w;
    const { dim, headDim, rmsEps } = cfg;
    checkToken(cfg, token);
    const qDim = cfg.nHeads * headDim;
    const kvDim = cfg.nKvHeads * headDim;
    const x = w.embed.slice(token * dim, (token + 1) * dim);
    const xb = new Float32Array(dim);
    const q = new Float32Array(qDim);
    const att = new Float32Array(qDim);
    const proj = new Float32Array(dim);
    const ffn = new FfnScratch(cfg);

    w.layers.forEach((layer, l) => {
      const keys = (this.keys[l] = grow(this.keys[l], (pos + 1) * kvDim));
      const values = (this.values[l] = grow(this.values[l], (pos + 1) * kvDim));
      const k = keys.subarray(pos * kvDim, (pos + 1) * kvDim);
      rmsnorm(xb, x, layer.attnNorm, rmsEps);
      matmul(q, xb, layer.wq, dim, qDim);
      matmul(k, xb, layer.wk, dim, kvDim);
      matmul(values.subarray(pos * kvDim, (pos + 1) * kvDim), xb, layer.wv, dim, kvDim);
      rope(q, cfg.nHeads, w, pos);
      rope(k, cfg.nKvHeads, w, pos);
      attend(att, q, keys, values, pos, cfg);
      matmul(proj, att, layer.wo, qDim, dim);
      for (let i = 0; i < dim; i++) x[i] += proj[i];
      ffn.apply(x, layer, rmsEps, this.options.ffnMask?.[l]);
      capture(this.options, l, pos, ffn, x);
    });
    this.pos++;
    return logitsOf(x, w, xb);
  }
}

/** Cache buffers grow geometrically so decoding n tokens costs O(n) copies. */
function grow(buf: Float32Array, needed: number): Float32Array {
  if (buf.length >= needed) return buf;
  const next = new Float32Array(Math.max(needed, buf.length * 2));
  next.set(buf);
  return next;
}

/** Feeds startTokens, then greedily generates exactly n tokens (no EOS stop); returns the generated ones. */
export function referenceGreedy(model: GgufModel, startTokens: number[], n: number, options: ReferenceOptions = {}): number[] {
  if (startTokens.length === 0) throw new RangeError('referenceGreedy needs at least one start token');
  const decoder = new ReferenceDecoder(model, options);
  let logits: Float32Array = new Float32Array(0);
  for (const tok of startTokens) logits = decoder.step(tok);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const next = argmax(logits);
    out.push(next);
    if (i + 1 < n) logits = decoder.step(next);
  }
  return out;
}
