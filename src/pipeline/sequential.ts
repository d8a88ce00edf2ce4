/**
 * Sequential reconstruction: layer l is solved on statistics of the model whose layers before l are
 * already pruned and refit, so each refit sees the inputs the pruned model really feeds it. The refit
 * target stays the dense layer's own weights (W' minimises ‖X_p W − X_p,K W'‖² on the pruned stream's
 * down_proj inputs X_p: only the Gram of X_p is needed, one matrix per layer and set).
 *
 * Layer-wise (the runtime's calibrateLayerwise): one decoder layer at a time over stored hidden states,
 * about the cost of one calibration pass in all. Whole-model (the fallback, for graphs that cannot be cut
 * into layers or runtimes without it): one calibration of the whole model per set and layer, with every
 * layer's Gram, O(layers²). Both give the same plan (tested). Platform neutral.
 */
import type { CalibrationSample } from '../core/stats';
import type { LayerStats } from '../core/stats';
import { LayerCutError } from './layer-cut';
import { mixedGram } from '../pruning/reconstruct';
import { LayerReconstructor } from '../pruning/reconstruct-path';
import type { LayerWeights } from '../pruning/scoring';
import type { PipelineRuntime } from './runtime';

export interface SequentialInput {
  runtime: PipelineRuntime;
  /** Dense FFN weights per layer (down_proj [C, hidden]). */
  weights: readonly LayerWeights[];
  /** Kept channels per layer (the allocation). */
  counts: readonly number[];
  /** Persona set first, then the generic set when it is mixed in. */
  sets: readonly (readonly CalibrationSample[])[];
  genericMix: number;
  damping?: number;
  signal?: AbortSignal;
  onProgress?: (layersDone: number, layers: number) => void;
}

export interface SequentialResult {
  keep: number[][];
  downWeights: Float32Array[];
  /** Per layer, the OBS saliency its solve computed (on the pruned stream). */
  scores: Float64Array[];
  /** How the statistics were gathered, and why not layer-wise when not. */
  calibration: { mode: 'layer-wise' } | { mode: 'whole-model'; reason: string };
}

type Solved = Omit<SequentialResult, 'calibration'>;

export async function sequentialReconstruct(input: SequentialInput): Promise<SequentialResult> {
  let reason = 'this runtime has no layer-wise calibration';
  if (input.runtime.calibrateLayerwise) {
    try {
      return { ...(await layerwiseReconstruct(input)), calibration: { mode: 'layer-wise' } };
    } catch (error) {
      if (!(error instanceof LayerCutError)) throw error;
      reason = error.message;
    }
  }
  return { ...(await wholeModelReconstruct(input)), calibration: { mode: 'whole-model', reason } };
}

/** Solves one layer from its statistics (persona set, then generic) and records the result. */
function solver(input: SequentialInput, solved: Solved) {
  const hidden = input.runtime.config.hidden_size;
  return async (l: number, stats: readonly LayerStats[]) => {
    const gram = mixedGram(stats[0]!, stats[1], stats[1] ? input.genericMix : 0);
    const reconstructor = new LayerReconstructor(() => gram, input.weights[l]!.down, hidden, { damping: input.damping, matmul: input.runtime.matmul });
    const layer = await reconstructor.solve(input.counts[l]!);
    solved.keep[l] = layer.keep;
    solved.downWeights[l] = layer.down;
    solved.scores[l] = layer.saliency;
    return { keep: layer.keep, down: layer.down };
  };
}

const emptySolved = (): Solved => ({ keep: [], downWeights: [], scores: [] });

export async function layerwiseReconstruct(input: SequentialInput): Promise<Solved> {
  const solved = emptySolved();
  const solve = solver(input, solved);
  await input.runtime.calibrateLayerwise!(input.sets, { solve, signal: input.signal, onProgress: input.onProgress });
  return solved;
}

/** The O(layers²) reference: a whole-model calibration with the plan so far applied, per set and layer. */
export async function wholeModelReconstruct(input: SequentialInput): Promise<Solved> {
  const { runtime, weights, signal } = input;
  const hidden = runtime.config.hidden_size;
  const solved = emptySolved();
  const solve = solver(input, solved);
  for (let l = 0; l < weights.length; l++) {
    const plan = {
      keep: weights.map((w, i) => (i < l ? solved.keep[i]! : Array.from({ length: w.down.length / hidden }, (_, c) => c))),
      downWeights: weights.map((w, i) => (i < l ? solved.downWeights[i]! : w.down)),
    };
    const stats: LayerStats[] = [];
    for (const samples of input.sets) stats.push((await runtime.calibrate(samples, { gram: true, plan, signal })).layers[l]!);
    await solve(l, stats);
    input.onProgress?.(l + 1, weights.length);
  }
  return solved;
}
