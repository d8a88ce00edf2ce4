/** Messages between the studio store and the studio worker (structured-clone safe; typed arrays stay binary). */
import type { QuantizationRecord } from '../onnx/quantize-int4';
import type { CalibrationSample } from '../calibration/engine-batches';
import type { CalibrationCheckpoint } from '../calibration/engine-checkpoint';
import type { CalibrationStats } from '../calibration/stats';
import type { GgufWeightType } from '../gguf/llama-gguf';
import type { PipelinePhase } from '../pipeline/persona-pipeline';
import type { PruneRequest } from '../pipeline/request';
import type { AllocationKind } from '../pruning/allocation';
import type { PlanEstimates } from '../pruning/estimates';
import type { PruneMethod, ScoringMethod } from '../pruning/plan-builder';
import type { StopReason } from '../model/generate';
import type { BundleFiles } from '../model/sources/bundle-files';
import type { BackendPreference, BackendInfo } from './protocol';
import type { LayerOverrides, PlanTotals } from './studio-plan';

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

/** The statistics and sample ids one calibration produced (persisted, and sent back after a reload). */
export interface CalibrationData {
  persona?: { stats: CalibrationStats; samples: CalibrationSample[] };
  generic?: { stats: CalibrationStats; samples: CalibrationSample[] };
  /** The request the data came from (persona, samples, seed, method...). */
  request: PruneRequest;
}

export interface PlanSummary {
  params: PlanParams;
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
  | { type: 'restore'; data?: CalibrationData; checkpoint?: CalibrationCheckpoint }
  | { type: 'calibrate'; requestId: number; request: PruneRequest }
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
  | { type: 'calibrated'; requestId: number; data: CalibrationData; plan: PlanSummary; accumulator: 'gpu' | 'cpu'; timings: Record<string, number> }
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
