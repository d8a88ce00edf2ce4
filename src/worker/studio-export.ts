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
import { manifestJsonText, prunedConfig, pruningManifest } from '../onnx/prune-export';
import type { BrowserPipelineRuntime, PrunedModel } from './studio-runtime';
import { createSession } from './session';

export interface ExportedFile {
  path: string;
  data: Uint8Array;
}

export interface ExportedFolder {
  files: ExportedFile[];
  pruned: PrunedModel;
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n');

export async function buildExportFiles(
  runtime: BrowserPipelineRuntime,
  plan: PlanWeights,
  method: string,
  extraManifest: Record<string, unknown>,
): Promise<ExportedFolder> {
  const pruned = await runtime.prunedModel(plan);
  const { bundle } = runtime;
  const keepPlan = { keep: plan.keep.map((k) => [...k]) };
  const manifest = { ...pruningManifest(keepPlan, pruned.report, method), ...extraManifest };
  const files: ExportedFile[] = [
    { path: 'onnx/model.onnx', data: pruned.modelBytes },
    ...pruned.externalData.map((f) => ({ path: `onnx/${f.path}`, data: f.data })),
    { path: 'config.json', data: json(prunedConfig(bundle.config as unknown as Record<string, unknown>, keepPlan)) },
    { path: 'tokenizer.json', data: json(bundle.tokenizerJson) },
    { path: 'tokenizer_config.json', data: json(bundle.tokenizerConfig) },
    ...(bundle.generationConfig ? [{ path: 'generation_config.json', data: json(bundle.generationConfig) }] : []),
    { path: 'pruning.json', data: new TextEncoder().encode(manifestJsonText(manifest)) },
  ];
  return { files, pruned };
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
export async function verifyExport(runtime: BrowserPipelineRuntime, folder: ExportedFolder, plan: PlanWeights, sequences: readonly (readonly number[])[]): Promise<VerifyResult> {
  const wasm = { kind: 'wasm' as const, info: { kind: 'wasm' as const, reason: 'verification', threads: 1 } };
  const graph = folder.files.find((f) => f.path === 'onnx/model.onnx')!.data;
  const externalData = folder.files.filter((f) => f.path.startsWith('onnx/') && f.path !== 'onnx/model.onnx').map((f) => ({ path: f.path.slice(5), data: f.data }));
  const exported = (await createSession(ort, { ...runtime.bundle, modelBytes: graph, externalData }, wasm)).session;
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
