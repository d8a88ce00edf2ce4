/** Messages between the studio store and the studio worker (structured-clone safe; typed arrays stay binary). */
import type { QuantizationRecord } from '../onnx/quantize-int4';
import type { CalibrationCheckpoint } from '../calibration/engine-checkpoint';
import type { GgufWeightType } from '../gguf/llama-gguf';
import type { HeldCalibration, PipelinePhase, PruneOutcome } from '../pipeline/persona-pipeline';
import type { PruneRequest } from '../pipeline/request';
import type { AllocationKind } from '../pruning/allocation';
import type { PlanEstimates } from '../pruning/estimates';
import type { BuiltPlan, PruneMethod, ScoringMethod } from '../pruning/plan-builder';
import type { LayerOverrides } from '../pruning/plan-overrides';
import type { StopReason } from '../model/generate';
import type { BundleFiles } from '../sources/bundle-files';
import type { BackendPreference, BackendInfo } from '../gpu/backend';
import type { PlanTotals } from './studio-plan';

/** A model the sources worker opened (any source: built-in, hub, URL, folder, GGUF), named for the writer. */
export interface StudioModelSource {
  files: BundleFiles;
  label: string;
}

/** "Try the model": a plain continuation of the writer's prompt (no persona), on the chosen backend. */
export interface TrialParams {
  prompt: string;
  maxNewTokens: number;
  temperature: number;
  seed: number;
}

/** What a plan is made from, besides the saved statistics: enough to rebuild it exactly. */
export interface PlanParams {
  method: PruneMethod;
  allocation: AllocationKind;
  sparsity: number;
  overrides: LayerOverrides;
}

/** The same plan parameters (trailing "follow the sparsity" overrides do not count). */
export function samePlanParams(a: PlanParams, b: PlanParams): boolean {
  const overrides = (p: PlanParams) => {
    const list = [...p.overrides];
    while (list.length > 0 && (list.at(-1) ?? null) === null) list.pop();
    return JSON.stringify(list);
  };
  return a.method === b.method && a.allocation === b.allocation && a.sparsity === b.sparsity && overrides(a) === overrides(b);
}

/** The calibration sets and statistics the pipeline holds for a request (persisted, and sent back after a reload). */
export interface CalibrationData extends HeldCalibration {
  /** The request the data came from (persona, samples, seed, method...). */
  request: PruneRequest;
}

/** The pipeline's full prune() for one level: the plan the studio exports (persisted, restored after a reload). */
export interface RefinedPlan {
  params: PlanParams;
  plan: BuiltPlan;
  /** The pipeline's pruning.json fields for this plan. */
  manifest: Record<string, unknown>;
  selection?: PruneOutcome['selection'];
}

export interface PlanSummary {
  params: PlanParams;
  /** An instant one-shot preview (PersonaPipeline.replan), or the refined plan (prune), which is what downloads. */
  kind: 'preview' | 'refined';
  /** The refined plan's search result, when the search ran: the chosen candidate and its held-out KL. */
  selection?: { chosen: string; heldOutKl: number };
  method: ScoringMethod;
  keptPerLayer: number[];
  widths: number[];
  /** Channel scores per layer (higher = more important). */
  scores: Float64Array[];
  estimates: PlanEstimates;
  /** Exact parameter count and file size of the pruned model this plan exports (studio-plan.ts planTotals). */
  totals: PlanTotals;
}

export interface StudioProgress {
  phase: PipelinePhase;
  set?: 'persona' | 'generic';
  done: number;
  total: number;
  /** Tokens per second in this phase (answers written, or tokens run through the model). */
  tokensPerSecond?: number;
  etaSeconds?: number;
}

export interface CompareRow {
  label: string;
  params: PlanParams;
  /** The refined plan when one matches this level, else a one-shot preview; 'dense' for 0%. */
  kind: PlanSummary['kind'] | 'dense';
  personaPerplexity: number;
  generalPerplexity: number;
  parameters: number;
  bytes: number;
  tokensPerSecond: number;
  answer: string;
}

export interface ExportResult {
  folderName: string;
  files: { path: string; data: Uint8Array }[];
  zip: Uint8Array;
  parameters: { before: number; after: number };
  intermediateSizes: number[];
  maxAbsError: number;
  verifiedSamples: number;
  /** pruning.json's `quantization` record (sizes, held-out NLL before/after) when int4 was asked for. */
  quantization?: QuantizationRecord;
}

export interface GgufResult {
  fileName: string;
  data: Uint8Array;
  ggufType: GgufWeightType;
  /** llama.cpp architecture written: llama (same FFN width in every layer) or deci (per-layer widths). */
  arch: 'llama' | 'deci';
}

export type StudioRequest =
  | { type: 'init'; backend: BackendPreference }
  | { type: 'load'; requestId: number; source: StudioModelSource }
  /** Statistics and a checkpoint saved before a reload. */
  | { type: 'restore'; data?: CalibrationData; refined?: RefinedPlan; checkpoint?: CalibrationCheckpoint }
  | { type: 'calibrate'; requestId: number; request: PruneRequest }
  /** The pipeline's full prune for these params, from the saved statistics; progress as for calibrate. */
  | { type: 'refine'; requestId: number; params: PlanParams }
  /** Stops the running calibration or refine. */
  | { type: 'cancel' }
  | { type: 'generate'; requestId: number; params: TrialParams }
  /** Stops the running "Try the model" generation. */
  | { type: 'stop' }
  | { type: 'plan'; requestId: number; params: PlanParams }
  | { type: 'compare'; requestId: number; levels: { label: string; params: PlanParams }[]; prompt: string }
  | { type: 'chat'; requestId: number; text: string; persona: string; params: PlanParams | null; maxNewTokens: number }
  | { type: 'export'; requestId: number; params: PlanParams; folderName: string; quantize?: 'int4' }
  /** The exported folder (its files, copied) converted to one GGUF file for llama.cpp. */
  | { type: 'export-gguf'; requestId: number; files: { path: string; data: Uint8Array }[]; fileName: string; ggufType: GgufWeightType };

export type StudioEvent =
  | { type: 'backend'; backend: BackendInfo }
  | { type: 'loaded'; requestId: number; label: string; denseParameters: number; layers: number; widths: number[]; format: 'chat' | 'base'; configWarnings?: string[] }
  | { type: 'progress'; requestId: number; progress: StudioProgress }
  | { type: 'answer'; requestId: number; text: string }
  | { type: 'calibrated'; requestId: number; data: CalibrationData; refined: RefinedPlan; plan: PlanSummary; accumulator: 'gpu' | 'cpu'; timings: Record<string, number> }
  | { type: 'refined'; requestId: number; refined: RefinedPlan; plan: PlanSummary }
  | { type: 'checkpoint'; checkpoint: CalibrationCheckpoint }
  /** The running calibration continues from this saved checkpoint. */
  | { type: 'resumed'; requestId: number; checkpoint: CalibrationCheckpoint }
  | { type: 'cancelled'; requestId: number }
  | { type: 'plan'; requestId: number; plan: PlanSummary }
  | { type: 'compare-row'; requestId: number; row: CompareRow }
  | { type: 'compare-done'; requestId: number }
  | { type: 'token'; requestId: number; text: string }
  | { type: 'chat-done'; requestId: number; tokens: number; elapsedMs: number }
  | { type: 'generated'; requestId: number; tokens: number; elapsedMs: number; stopReason: StopReason }
  | { type: 'export-progress'; requestId: number; step: 'build' | 'verify' | 'zip'; state: 'running' | 'done' }
  | { type: 'exported'; requestId: number; result: ExportResult }
  | { type: 'gguf-progress'; requestId: number; done: number; total: number }
  | { type: 'exported-gguf'; requestId: number; result: GgufResult }
  | { type: 'error'; requestId?: number; message: string };
