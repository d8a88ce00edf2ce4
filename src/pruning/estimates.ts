/**
 * Size and compute estimates of a Llama-style decoder before and after FFN channel pruning: parameter
 * counts, matmul FLOPs per token and the weight file size for a dtype.
 */
import type { ModelConfig } from '../model/config';

export interface ModelShape {
  hiddenSize: number;
  vocabSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Dense FFN width of each layer. */
  intermediateSizes: number[];
  /** The LM head reuses the token embedding (no separate weight). */
  tiedEmbeddings: boolean;
}

/** Shape of a dense model from its config.json (one intermediate_size for every layer). */
export function modelShapeFromConfig(config: ModelConfig): ModelShape {
  return {
    hiddenSize: config.hidden_size,
    vocabSize: config.vocab_size,
    numLayers: config.num_hidden_layers,
    numHeads: config.num_attention_heads,
    numKvHeads: config.num_key_value_heads ?? config.num_attention_heads,
    headDim: config.head_dim ?? config.hidden_size / config.num_attention_heads,
    intermediateSizes: Array<number>(config.num_hidden_layers).fill(config.intermediate_size),
    tiedEmbeddings: config.tie_word_embeddings === true,
  };
}

/**
 * fp32/fp16: every weight at 4/2 bytes. int4: every linear weight as MatMulNBits (4-bit values in blocks
 * along the input dimension, one float scale and one 4-bit zero point per block), embeddings and norms
 * kept at `floatBytes`.
 */
export type WeightDtype = 'fp32' | 'fp16' | 'int4';

export interface EstimateOptions {
  dtype?: WeightDtype;
  /** int4 block size along the input dimension (default 32). */
  blockSize?: number;
  /** int4: bytes per scale and per non-quantized parameter (default 4, i.e. an fp32 model). */
  floatBytes?: number;
}

export interface SizeEstimate {
  /** Parameters of all FFNs (gate + up + down). */
  ffnParams: number;
  totalParams: number;
  /** 2 × multiply-accumulates of every weight matmul for one token (attention over the context excluded). */
  flopsPerToken: number;
  /** Bytes of weights in the model file(s) for the dtype (graph structure not counted). */
  fileBytes: number;
}

export interface PlanEstimates {
  before: SizeEstimate;
  after: SizeEstimate;
  /** Fraction of FFN channels removed. */
  ffnSparsity: number;
  /** Kept FFN channels per layer. */
  keptPerLayer: number[];
}

/** Linear weights as [in, out] pairs. */
function linearShapes(shape: ModelShape, ffnSizes: number[]): [number, number][] {
  const { hiddenSize: h, numHeads, numKvHeads, headDim } = shape;
  const out: [number, number][] = [];
  for (const c of ffnSizes) {
    out.push([h, numHeads * headDim], [h, numKvHeads * headDim], [h, numKvHeads * headDim], [numHeads * headDim, h]);
    out.push([h, c], [h, c], [c, h]);
  }
  if (!shape.tiedEmbeddings) out.push([h, shape.vocabSize]);
  return out;
}

function estimate(shape: ModelShape, ffnSizes: number[], options: EstimateOptions): SizeEstimate {
  const h = shape.hiddenSize;
  const linears = linearShapes(shape, ffnSizes);
  const linearParams = linears.reduce((acc, [k, n]) => acc + k * n, 0);
  // Token embedding, two RMSNorm weights per layer, the final norm.
  const otherParams = shape.vocabSize * h + shape.numLayers * 2 * h + h;
  const dtype = options.dtype ?? 'fp32';
  let fileBytes: number;
  if (dtype === 'int4') {
    const block = options.blockSize ?? 32;
    const floatBytes = options.floatBytes ?? 4;
    fileBytes = otherParams * floatBytes;
    for (const [k, n] of linears) {
      const blocks = Math.ceil(k / block);
      fileBytes += n * blocks * (block / 2) + n * blocks * floatBytes + n * Math.ceil(blocks / 2);
    }
  } else {
    fileBytes = (linearParams + otherParams) * (dtype === 'fp16' ? 2 : 4);
  }
  return {
    ffnParams: ffnSizes.reduce((acc, c) => acc + 3 * h * c, 0),
    totalParams: linearParams + otherParams,
    flopsPerToken: 2 * linearParams,
    fileBytes,
  };
}

/** Estimates for the dense model and for the model that keeps `keptPerLayer` FFN channels. */
export function estimatePlan(shape: ModelShape, keptPerLayer: number[], options: EstimateOptions = {}): PlanEstimates {
  if (keptPerLayer.length !== shape.numLayers || shape.intermediateSizes.length !== shape.numLayers) {
    throw new RangeError(`plan has ${keptPerLayer.length} layers, the model ${shape.numLayers}`);
  }
  keptPerLayer.forEach((k, l) => {
    if (!Number.isInteger(k) || k < 0 || k > shape.intermediateSizes[l]) {
      throw new RangeError(`layer ${l} keeps ${k} channels, it has ${shape.intermediateSizes[l]}`);
    }
  });
  const dense = shape.intermediateSizes.reduce((a, b) => a + b, 0);
  const kept = keptPerLayer.reduce((a, b) => a + b, 0);
  return {
    before: estimate(shape, shape.intermediateSizes, options),
    after: estimate(shape, keptPerLayer, options),
    ffnSparsity: 1 - kept / dense,
    keptPerLayer: [...keptPerLayer],
  };
}
