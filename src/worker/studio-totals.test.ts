import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtureSet, type FixtureName, type FixtureSet } from '../fixtures/fixtures';
import { discoverFfns } from '../onnx/ffn-discovery';
import { readModelFile } from '../node/model-files';
import { encodeModel, type OnnxModel } from '../onnx/model-io';
import { countParameters, pruneModel } from '../onnx/prune-export';
import { ffnChannelCosts, planTotals } from './studio-plan';

const NAMES: FixtureName[] = ['optimum-fp32', 'optimum-fp16', 'genai-int4'];
let set: FixtureSet;
const models = new Map<string, OnnxModel>();
beforeAll(async () => {
  set = await buildFixtureSet(NAMES);
  for (const name of NAMES) models.set(name, await readModelFile(join(set.root, name, set.fixtures[name].modelFile)));
}, 60_000);
afterAll(() => set.remove());

const fileBytes = (model: OnnxModel) => {
  // Unaligned, so the bytes are the tensors' own and not the padding between them.
  const { model: graph, external } = encodeModel(model, { externalData: { location: 'model.onnx_data', alignment: 1 } });
  return graph.byteLength + (external?.size ?? 0);
};

describe('planTotals', () => {
  it.each(NAMES)('%s: equals the exported model’s own parameter count, and its size within the graph’s few bytes', async (name) => {
    const model = models.get(name)!;
    const ffns = discoverFfns(model);
    const widths = ffns.map((f) => f.intermediateSize);
    // Whole 32-channel blocks (int4 blocks stay aligned), a different number per layer; layer 4 keeps all.
    const keep = ffns.map((f, l) => [...Array(f.intermediateSize).keys()].filter((c) => l === 4 || Math.floor(c / 32) % (l + 2) !== 0));
    const dense = { parameters: countParameters(model), bytes: fileBytes(model) };
    const costs = ffnChannelCosts(model, ffns);
    const withMeans = name === 'optimum-fp32';
    const channelMeans = withMeans ? ffns.map((f) => Float32Array.from({ length: f.intermediateSize }, (_, i) => (i % 7) / 10)) : undefined;
    const { model: pruned } = await pruneModel(model, { keep }, { ffns, ...(channelMeans && { channelMeans }) });
    const totals = planTotals(dense, costs, widths, keep.map((k) => k.length), withMeans);
    expect(totals.parameters.before).toBe(countParameters(model));
    expect(totals.parameters.after).toBe(countParameters(pruned));
    expect(totals.parameters.after).toBeLessThan(totals.parameters.before);
    const actual = fileBytes(pruned);
    expect(Math.abs(totals.bytes.after - actual)).toBeLessThan(0.01 * actual);
  });
});
