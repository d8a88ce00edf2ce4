/**
 * What the persona pipeline needs from a loaded dense model: the one seam between the platform-neutral
 * orchestration (src/pipeline/) and a runtime (onnxruntime-node in src/node/pipeline-runtime.ts, onnxruntime-web
 * in the studio's worker). Arguments and results are plain data (number arrays, typed arrays, JSON-like
 * objects), so an implementation may sit behind postMessage; only the tokenizer is called synchronously.
 */
import type { Synthesize } from '../calibration/calibration-set';
import type { CalibrationSample } from '../core/stats';
import type { MatMul } from '../core/matmul';
import type { LayerwiseOptions } from './layerwise';
import type { HiddenStates } from '../calibration/sensitivity';
import type { CalibrationStats } from '../core/stats';
import type { PlanWeights } from '../eval/apply-plan';
import type { KlSummary } from '../eval/held-out-kl';
import type { ModelConfig } from '../model/config';
import type { TextTokenizer } from '../model/tokenizer';
import type { QuantizeRequest } from '../onnx/quantize-int4';
import type { LayerWeights } from '../pruning/scoring';

export type PipelineTokenizer = Pick<TextTokenizer, 'encode' | 'decode' | 'addsBos' | 'bosTokenId'>;

export interface RuntimeCalibrateOptions {
  /** Accumulate Σ w·a·aᵀ per layer as well (the reconstruct method needs it). */
  gram: boolean;
  /** Statistics of the dense model with this plan applied to its weights (sequential reconstruction), not of the dense model. */
  plan?: PlanWeights;
  signal?: AbortSignal;
  /** Work done so far out of the total, in any unit the runtime likes (tokens over all passes, say). */
  onProgress?: (done: number, total: number) => void;
}

/** Layer-wise calibration: `solve` gets each layer's statistics (Gram included) on the stream pruned so far. */
export type RuntimeLayerwiseOptions = Pick<LayerwiseOptions, 'solve' | 'signal' | 'onProgress'>;

/** A plan to write as a model: keep-indices plus the optional refit down_proj rows and bias means. */
export interface ExportRequest {
  /** Where to write: a folder path in Node; the browser runtime's name for the result. */
  target: string;
  plan: PlanWeights;
  /** The scoring method, recorded in pruning.json. */
  method: string;
  /** More pruning.json fields (scores, allocation, calibration summary, ...). */
  manifest: Record<string, unknown>;
  overwrite?: boolean;
  /** Quantize the pruned weights (int4 MatMulNBits), measuring NLL before and after on `quantize.heldOut`. */
  quantize?: QuantizeRequest;
}

export interface ExportSummary {
  target: string;
  /** Kept FFN channels per layer. */
  intermediateSizes: number[];
  /** Weight elements before and after pruning. */
  parameters: { before: number; after: number };
  /** Bytes of the written graph and weights, when the runtime knows. */
  modelBytes?: number;
  /** pruning.json's `quantization` record (sizes and held-out NLL before/after), when quantized. */
  quantization?: Record<string, unknown>;
}

export interface PipelineRuntime {
  config: ModelConfig;
  /** tokenizer_config.json: chat template and special tokens (promptFormat reads it). */
  tokenizerConfig: Record<string, unknown>;
  tokenizer: PipelineTokenizer;
  /** The float64 product reconstruction's O(C³) work runs on (onnxruntime's MatMul); the JS one without it. */
  matmul?: MatMul;
  /**
   * Dense FFN weights per layer as float32 in the ONNX [in, out] layout: down_proj [C, hidden] always,
   * gate/up [hidden, C] only when asked (the magnitude method reads them).
   */
  ffnWeights(options: { gateUp: boolean }): Promise<LayerWeights[]>;
  /** Answer synthesis with the dense model: new token ids after the prompt, stop token excluded. */
  generate: Synthesize;
  /** Last-token hidden state of every layer for a prompt (sensitivity filtering). */
  hiddenStates: HiddenStates;
  /** Weighted per-layer statistics of the down_proj inputs over the samples (the calibration engine). */
  calibrate(samples: readonly CalibrationSample[], options: RuntimeCalibrateOptions): Promise<CalibrationStats>;
  /**
   * Sequential reconstruction's statistics one decoder layer at a time (src/pipeline/layerwise.ts): per
   * layer, the statistics of every set on the stream of the model pruned by the earlier layers' solutions.
   * Throws LayerCutError (src/pipeline/layer-cut.ts) where this model's graph cannot be cut into layers; the
   * pipeline then calibrates the whole model per layer instead, as it does for a runtime without this method.
   */
  calibrateLayerwise?(sets: readonly (readonly CalibrationSample[])[], options: RuntimeLayerwiseOptions): Promise<void>;
  /**
   * Per-token NLL (nats) of each id sequence: entry t is −log p(ids[t + 1] | ids[..t]). With a plan, of the
   * dense model with the plan applied to its weights in memory (removed channels masked, refit rows and
   * bias compensation substituted), which equals the exported pruned model.
   */
  evaluateNll(sequences: readonly (readonly number[])[], plan?: PlanWeights): Promise<Float64Array[]>;
  /**
   * Held-out KL (eval/held-out-kl.ts): KL(dense ‖ dense with `plan` applied) of the next-token distributions
   * the samples' weights count, averaged with those weights. Forward only, the plan fed as graph inputs; the
   * dense logits of a sample set are computed once and reused for every plan while memory allows.
   */
  heldOutKl(samples: readonly CalibrationSample[], plan: PlanWeights, options?: { signal?: AbortSignal }): Promise<KlSummary>;
  /** Writes the pruned model. */
  exportModel(request: ExportRequest): Promise<ExportSummary>;
}
