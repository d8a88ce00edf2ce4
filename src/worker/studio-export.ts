/**
 * The studio's download: the pruned model folder built in memory (graph, external data, config with the
 * new widths, tokenizer and generation config, pruning.json), its verification against the masked dense
 * model, and the zip. Runs in the studio worker.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { zipSync } from 'fflate';
import type { PlanWeights } from '../eval/apply-plan';
import { applyPlanToModel } from '../eval/plan-model';
import { forwardLogits } from '../model/generate';
import { encodeModel } from '../onnx/model-io';
import { exportModelCard } from '../onnx/export-model-card';
import { manifestJsonText, prunedConfig, pruningManifest } from '../onnx/prune-export';
import { quantizationRecord, type QuantizationRecord, type QuantizeRequest } from '../onnx/quantize-int4';
import { createSession } from './session';
import type { ModelBundle } from '../model/bundle';
import type { ModelConfig } from '../model/config';
import type { NllSummary } from '../eval/nll';
import type { FfnLayer } from '../onnx/ffn-discovery';
import type { OnnxModel } from '../onnx/model-io';
import type { Int4QuantizeOptions } from '../onnx/quantize-int4';
import type { PruneReport } from '../onnx/prune-export';

export interface PrunedModel {
  modelBytes: Uint8Array;
  externalData: { path: string; data: Uint8Array }[];
  report: PruneReport;
  /** Graph plus external data bytes. */
  bytes: number;
  /** MatMuls turned into int4 MatMulNBits, when quantized. */
  quantizedMatMuls?: number;
}

/** What exporting needs of the loaded model (studio-runtime.ts's ExportRuntime has it). */
export interface ExportRuntime {
  readonly bundle: ModelBundle;
  readonly config: ModelConfig;
  decodedModel(): { model: OnnxModel; ffns: FfnLayer[] };
  prunedModel(plan: PlanWeights, quantize?: Int4QuantizeOptions): Promise<PrunedModel>;
  prunedNll(pruned: PrunedModel, sequences: readonly (readonly number[])[]): Promise<NllSummary>;
}

export interface ExportedFile {
  path: string;
  data: Uint8Array;
}

export interface ExportedFolder {
  files: ExportedFile[];
  pruned: PrunedModel;
  /** pruning.json's `quantization` record, when the weights were quantized. */
  quantization?: QuantizationRecord;
  /** The float pruned graph a quantized export was made from: what verification compares with the masked dense model. */
  floatGraph?: PrunedModel;
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n');

export async function buildExportFiles(
  runtime: ExportRuntime,
  plan: PlanWeights,
  method: string,
  extraManifest: Record<string, unknown>,
  quantize?: QuantizeRequest,
): Promise<ExportedFolder> {
  const float = await runtime.prunedModel(plan);
  const pruned = quantize ? await runtime.prunedModel(plan, quantize) : float;
  let quantization: QuantizationRecord | undefined;
  if (quantize) {
    const sequences = quantize.heldOut?.sequences ?? [];
    const nll = sequences.length ? { before: await runtime.prunedNll(float, sequences), after: await runtime.prunedNll(pruned, sequences) } : undefined;
    quantization = quantizationRecord(quantize, pruned.quantizedMatMuls ?? 0, { before: float.bytes, after: pruned.bytes }, nll);
  }
  const { bundle } = runtime;
  const keepPlan = { keep: plan.keep.map((k) => [...k]) };
  const manifest = { ...pruningManifest(keepPlan, pruned.report, method), ...extraManifest, ...(quantization && { quantization }) };
  const files: ExportedFile[] = [
    { path: 'onnx/model.onnx', data: pruned.modelBytes },
    ...pruned.externalData.map((f) => ({ path: `onnx/${f.path}`, data: f.data })),
    { path: 'config.json', data: json(prunedConfig(bundle.config as unknown as Record<string, unknown>, keepPlan)) },
    { path: 'tokenizer.json', data: json(bundle.tokenizerJson) },
    { path: 'tokenizer_config.json', data: json(bundle.tokenizerConfig) },
    ...(bundle.generationConfig ? [{ path: 'generation_config.json', data: json(bundle.generationConfig) }] : []),
    { path: 'pruning.json', data: new TextEncoder().encode(manifestJsonText(manifest)) },
    { path: 'README.md', data: new TextEncoder().encode(exportModelCard(manifest, { graphFile: 'onnx/model.onnx', genai: false, configJson: true })) },
  ];
  return { files, pruned, ...(quantization && { quantization, floatGraph: float }) };
}

export interface VerifyResult {
  /** Largest |logit difference| between the exported model and the masked dense model over all samples. */
  maxAbsError: number;
  samples: number;
  tokens: number;
}

/**
 * Reloads the exported graph from its bytes in a fresh WASM session and compares its logits with the dense
 * model whose removed channels are masked (and refit rows substituted) in memory, on `sequences`.
 */
export async function verifyExport(runtime: ExportRuntime, folder: ExportedFolder, plan: PlanWeights, sequences: readonly (readonly number[])[]): Promise<VerifyResult> {
  const wasm = { kind: 'wasm' as const, info: { kind: 'wasm' as const, reason: 'verification', threads: 1 } };
  // A quantized export differs from the masked model by design: the pruning is checked on its float graph.
  const checked = folder.floatGraph ?? folder.pruned;
  const exported = (await createSession(ort, { ...runtime.bundle, modelBytes: checked.modelBytes, externalData: checked.externalData }, wasm)).session;
  const { model, ffns } = runtime.decodedModel();
  const masked = (await createSession(ort, { ...runtime.bundle, modelBytes: encodeModel(applyPlanToModel(model, plan, ffns)).model, externalData: [] }, wasm)).session;
  try {
    let maxAbsError = 0;
    let tokens = 0;
    for (const ids of sequences) {
      const a = await forwardLogits(ort, exported, ids, runtime.config);
      const b = await forwardLogits(ort, masked, ids, runtime.config);
      for (let i = 0; i < a.data.length; i++) maxAbsError = Math.max(maxAbsError, Math.abs(a.data[i]! - b.data[i]!));
      tokens += ids.length;
    }
    return { maxAbsError, samples: sequences.length, tokens };
  } finally {
    await exported.release();
    await masked.release();
  }
}

/** The folder as one zip (stored, not deflated: weights barely compress and this stays fast). */
export function zipFolder(files: readonly ExportedFile[], folderName: string): Uint8Array {
  return zipSync(Object.fromEntries(files.map((f) => [`${folderName}/${f.path}`, [f.data, { level: 0 }]])));
}
