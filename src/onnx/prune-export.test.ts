import * as ort from 'onnxruntime-node';
import { GGMLQuantizationType } from '@huggingface/gguf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_NAMES, buildFixtureSet, readFixtureModels, type FixtureName, type FixtureSet } from '../fixtures/fixtures';
import { maskedDenseModel } from '../fixtures/masked-dense';
import { CHECK_TOKENS, loadReference, logitsDifference, sessionLogits } from '../fixtures/verify';
import { readGguf } from '../import/gguf-file';
import { encodeF32 } from './float16';
import { referenceLogits } from '../import/llama-reference';
import { rewriteGguf } from '../fixtures/builtin';
import { densePlan, keepMasks, KeepPlanError, type KeepPlan } from '../core/keep-plan';
import { node, tensorFromFloat32 } from './builders';
import { discoverFfns, type FfnLayer } from './ffn-discovery';
import { decodeFloats } from './float-tensor';
import { dequantizeInt4 } from './int4';
import { encodeModel, tensorBytes, type OnnxModel } from './model-io';
import { countParameters, manifestJsonText, pruneModel, PruneError } from './prune-export';

let set: FixtureSet;
let models: Map<FixtureName, OnnxModel>;
beforeAll(async () => {
  set = await buildFixtureSet();
  models = await readFixtureModels(set);
});
afterAll(() => set.remove());

const logitsOf = async (model: OnnxModel) => sessionLogits(await ort.InferenceSession.create(encodeModel(model).model), CHECK_TOKENS);

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

function seededPlan(ffns: FfnLayer[], seed: number): KeepPlan {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
  // Layer l keeps about 30% + 12% * l of its channels: every layer a different width.
  return { keep: ffns.map((f, l) => [...Array(f.intermediateSize).keys()].filter(() => rand() < 0.3 + 0.12 * l)) };
}

/** Removes whole aligned blocks of `bs` channels (every other block; the partial tail block in layer 4). */
function blockPlan(ffns: FfnLayer[], bs: number): KeepPlan {
  return { keep: ffns.map((f, l) => [...Array(f.intermediateSize).keys()].filter((c) => (l === 4 ? c < 160 : Math.floor(c / bs) % 2 === 0))) };
}

const allButOne = (ffns: FfnLayer[]): KeepPlan => ({ keep: ffns.map((f, l) => [(l * 37) % f.intermediateSize]) });

/** The tolerance the issue sets between a pruned model and its masked dense model, by weight type. */
const TOLERANCE = { fp32: 1e-4, fp16: 2e-2 };

describe('structural pruning', () => {
  it.each(FIXTURE_NAMES.filter((n) => !n.includes('int4')))('%s: pruned logits equal the masked dense model for varied, dense (0 percent) and all-but-one plans', async (name) => {
    const model = models.get(name)!;
    const fx = set.fixtures[name];
    const ffns = discoverFfns(model);
    const reference = await loadReference(fx.referenceGguf);
    for (const plan of [seededPlan(ffns, 7), densePlan(ffns.map((f) => f.intermediateSize)), allButOne(ffns)]) {
      const { model: pruned, report } = await pruneModel(model, plan);
      expect(report.layers.map((l) => l.after)).toEqual(plan.keep.map((k) => k.length));
      const got = await logitsOf(pruned);
      expect(maxDiff(got, await logitsOf(maskedDenseModel(model, ffns, plan)))).toBeLessThanOrEqual(TOLERANCE[fx.dtype as 'fp32' | 'fp16']);
      // The independent reference with the same channels masked agrees as closely as the fixture does unpruned.
      const masked = referenceLogits(reference, CHECK_TOKENS, { ffnMask: keepMasks(plan, ffns.map((f) => f.intermediateSize)) });
      expect(logitsDifference(masked, got).maxAbs).toBeLessThanOrEqual(fx.tolerance);
    }
  });

  it.each(['genai-int4', 'genai-int4-b16-zp'] as FixtureName[])('%s: removing whole blocks is exact: logits bit-identical to the masked int4 model', async (name) => {
    const model = models.get(name)!;
    const ffns = discoverFfns(model);
    const bs = (ffns[0]!.down.weight as { blockSize: number }).blockSize;
    for (const plan of [blockPlan(ffns, bs), densePlan(ffns.map((f) => f.intermediateSize))]) {
      const { model: pruned, report } = await pruneModel(model, plan);
      expect(report.layers.every((l) => l.down === (l.after === l.before ? 'unchanged' : 'blocks-removed'))).toBe(true);
      expect(await logitsOf(pruned)).toEqual(await logitsOf(maskedDenseModel(model, ffns, plan)));
    }
    // Block removal and a MatMulNBits K/N update: the attributes follow the kept sizes.
    const { model: pruned } = await pruneModel(model, blockPlan(ffns, bs));
    const attrs = (nodeName: string) => Object.fromEntries(pruned.graph!.node!.find((n) => n.name === nodeName)!.attribute!.map((a) => [a.name, Number(a.i)]));
    expect(attrs(ffns[1]!.gate.node)).toMatchObject({ K: 64, N: blockPlan(ffns, bs).keep[1]!.length });
    expect(attrs(ffns[1]!.down.node)).toMatchObject({ K: blockPlan(ffns, bs).keep[1]!.length, N: 64 });
  });

  it('int4 cut through blocks: requantizes down_proj, reports the added error, and can start from the float weights', async () => {
    const model = models.get('genai-int4')!;
    const ffns = discoverFfns(model);
    const plan = seededPlan(ffns, 11);
    const { model: pruned, report } = await pruneModel(model, plan);
    for (const l of report.layers) {
      expect(l.down).toBe('requantized');
      expect(l.requantizedFrom).toBe('dequantized');
      // Requantizing adds at most about one quantization step (|weights| < 1 here, steps ~ 1/8 of a block's range).
      expect(l.addedError!.maxAbs).toBeGreaterThan(0);
      expect(l.addedError!.maxAbs).toBeLessThan(0.2);
      expect(l.addedError!.rms).toBeLessThan(l.addedError!.maxAbs);
    }
    const logits = await logitsOf(pruned);
    expect(logits.every(Number.isFinite)).toBe(true);

    // From the float model's weights: the requantized weights sit within half a step of those floats.
    const floatFfns = discoverFfns(models.get('genai-fp32')!);
    const floatInit = new Map(models.get('genai-fp32')!.graph!.initializer!.map((t) => [t.name!, t]));
    const floats = (layer: number) => {
      const w = floatFfns[layer]!.down.weight as { initializer: string };
      return decodeFloats(tensorBytes(floatInit.get(w.initializer)!), 1);
    };
    const fromFloat = await pruneModel(model, plan, { floatDownWeights: async (l) => floats(l) });
    expect(fromFloat.report.layers.every((l) => l.requantizedFrom === 'float-weights')).toBe(true);
    const init = new Map(fromFloat.model.graph!.initializer!.map((t) => [t.name!, t]));
    const w = ffns[2]!.down.weight as { initializer: string; scales: string };
    const kept = plan.keep[2]!;
    const q = {
      K: kept.length,
      N: 64,
      blockSize: 32,
      b: tensorBytes(init.get(w.initializer)!),
      scales: decodeFloats(tensorBytes(init.get(w.scales)!), 1),
    };
    const deq = dequantizeInt4(q);
    const source = floats(2);
    let worst = 0;
    kept.forEach((c, r) => {
      for (let n = 0; n < 64; n++) {
        const step = Math.abs(q.scales[n * Math.ceil(kept.length / 32) + Math.floor(r / 32)]!);
        worst = Math.max(worst, Math.abs(deq[r * 64 + n]! - source[c * 64 + n]!) / step);
      }
    });
    expect(worst).toBeLessThanOrEqual(1.0001);
  });

  it('leaves everything it does not prune byte-identical and rewrites the FFN annotations', async () => {
    const model = models.get('genai-int4-b16-zp')!;
    const ffns = discoverFfns(model);
    const plan = densePlan(ffns.map((f) => f.intermediateSize));
    plan.keep[1] = plan.keep[1]!.filter((c) => c % 4 !== 1);
    plan.keep[3] = plan.keep[3]!.slice(0, 16);
    const { model: pruned } = await pruneModel(model, plan);
    const touchedNodes = new Set([1, 3].flatMap((l) => [ffns[l]!.gate.nodeIndex, ffns[l]!.up.nodeIndex, ffns[l]!.down.nodeIndex]));
    const touchedTensors = new Set(
      [1, 3].flatMap((l) => [ffns[l]!.gate, ffns[l]!.up, ffns[l]!.down].flatMap((p) => model.graph!.node![p.nodeIndex]!.input!.slice(1))),
    );
    expect(pruned.graph!.node!.length).toBe(model.graph!.node!.length);
    model.graph!.node!.forEach((n, i) => {
      if (!touchedNodes.has(i)) expect(pruned.graph!.node![i]).toEqual(n);
    });
    expect(pruned.graph!.initializer!.map((t) => t.name)).toEqual(model.graph!.initializer!.map((t) => t.name));
    model.graph!.initializer!.forEach((t, i) => {
      const after = pruned.graph!.initializer![i]!;
      if (touchedTensors.has(t.name!)) expect(tensorBytes(after).byteLength).toBeLessThan(tensorBytes(t).byteLength);
      else expect(after).toBe(t);
    });
    const annotation = (name: string) => pruned.graph!.value_info!.find((v) => v.name === name)!.type!.tensor_type!.shape!.dim!.map((d) => d.dim_value ?? d.dim_param);
    expect(annotation('/model/layers.1/mlp/Mul/output_0')).toEqual(['batch_size', 'sequence_length', plan.keep[1]!.length]);
    expect(annotation('/model/layers.3/mlp/gate_proj/MatMul/output_0')).toEqual(['batch_size', 'sequence_length', 16]);
    expect(annotation('/model/layers.2/mlp/Mul/output_0')).toEqual(['batch_size', 'sequence_length', 172]);
    expect(countParameters(pruned)).toBe(countParameters(model) - 3 * 64 * (172 - plan.keep[1]!.length + 172 - 16));
  });

  it('clones an initializer shared with a reader that is pruned differently, or not at all', async () => {
    const base = models.get('optimum-fp32')!;
    const ffns = discoverFfns(base);
    // Layers 0 and 1 read the same up weight.
    const shared = structuredClone(base);
    const upWeight = (ffns[0]!.up.weight as { initializer: string }).initializer;
    shared.graph!.node![ffns[1]!.up.nodeIndex]!.input![1] = upWeight;
    const sharedFfns = discoverFfns(shared);
    const sizes = sharedFfns.map((f) => f.intermediateSize);
    for (const plan of [
      { keep: densePlan(sizes).keep.map((k, l) => (l === 0 ? k.filter((c) => c % 3) : k)) },
      { keep: densePlan(sizes).keep.map((k, l) => (l === 0 ? k.filter((c) => c % 3) : l === 1 ? k.filter((c) => c % 5) : k)) },
      { keep: densePlan(sizes).keep.map((k, l) => (l < 2 ? k.filter((c) => c % 3) : k)) },
    ]) {
      const { model: pruned } = await pruneModel(shared, plan);
      const names = pruned.graph!.initializer!.map((t) => t.name);
      const readers = pruned.graph!.node!.filter((n) => n.input?.includes(upWeight));
      if (plan.keep[1]!.length === 172) {
        // Layer 1 keeps everything: it still reads the untouched original; layer 0 reads a clone.
        expect(readers.map((n) => n.name)).toEqual([ffns[1]!.up.node]);
        expect(names).toContain(`${upWeight}.pruned.l0.up`);
      } else if (plan.keep[0]!.join() === plan.keep[1]!.join()) {
        // Both readers pruned alike: sliced once, in place.
        expect(readers).toHaveLength(2);
        expect(names.filter((n) => n!.startsWith(upWeight))).toEqual([upWeight]);
      } else {
        expect(readers).toHaveLength(0);
        expect(names).toEqual(expect.arrayContaining([`${upWeight}.pruned.l0.up`, `${upWeight}.pruned.l1.up`]));
      }
      expect(maxDiff(await logitsOf(pruned), await logitsOf(maskedDenseModel(shared, sharedFfns, plan)))).toBeLessThanOrEqual(1e-4);
    }
  });

  it('FLAP bias: the pruned model equals the dense model with removed channels held at their means', async () => {
    for (const name of ['optimum-fp32', 'genai-int4'] as const) {
      const model = models.get(name)!;
      const ffns = discoverFfns(model);
      const plan = name === 'genai-int4' ? blockPlan(ffns, 32) : seededPlan(ffns, 3);
      const means = ffns.map((f, l) => Float32Array.from({ length: f.intermediateSize }, (_, c) => Math.sin(c * 0.7 + l) * 0.5));
      const { model: pruned, report } = await pruneModel(model, plan, { channelMeans: means });
      expect(report.layers.every((l) => l.biasCompensation)).toBe(true);
      const expected = await logitsOf(holdChannels(model, ffns, plan, means));
      expect(maxDiff(await logitsOf(pruned), expected)).toBeLessThanOrEqual(1e-4);
      // And it is a real change: without the bias the logits differ.
      expect(maxDiff(await logitsOf((await pruneModel(model, plan)).model), expected)).toBeGreaterThan(1e-2);
    }
  });

  it('replacement down weights: fp32 equals the reference with those weights; int4 quantizes them with the tensor block size', async () => {
    const model = models.get('optimum-fp32')!;
    const ffns = discoverFfns(model);
    const plan = seededPlan(ffns, 5);
    const init = new Map(model.graph!.initializer!.map((t) => [t.name!, t]));
    const doubledRows = ffns.map((f) => {
      const w = decodeFloats(tensorBytes(init.get((f.down.weight as { initializer: string }).initializer)!), 1);
      return Float32Array.from(plan.keep[f.layer]!.flatMap((c) => Array.from(w.subarray(c * 64, (c + 1) * 64), (v) => 2 * v)));
    });
    const { model: pruned, report } = await pruneModel(model, plan, { downWeights: doubledRows });
    expect(report.layers.every((l) => l.down === 'replaced')).toBe(true);
    const gguf = await loadReference(set.fixtures['optimum-fp32'].referenceGguf);
    const doubled = await readGguf(
      rewriteGguf(gguf, { encode: (n, v) => ({ type: GGMLQuantizationType.F32, data: encodeF32(n.includes('ffn_down') ? v.map((x) => 2 * x) : v) }) }),
    );
    const want = referenceLogits(doubled, CHECK_TOKENS, { ffnMask: keepMasks(plan, ffns.map((f) => f.intermediateSize)) });
    expect(logitsDifference(want, await logitsOf(pruned)).maxAbs).toBeLessThanOrEqual(1e-4);

    // int4: requantizing the kept rows' own dequantized values reproduces the block removal exactly.
    const q4 = models.get('genai-int4')!;
    const q4Ffns = discoverFfns(q4);
    const blocks = blockPlan(q4Ffns, 32);
    const q4Init = new Map(q4.graph!.initializer!.map((t) => [t.name!, t]));
    const ownRows = q4Ffns.map((f) => {
      const w = f.down.weight as { initializer: string; scales: string; K: number; N: number };
      const deq = dequantizeInt4({ K: w.K, N: w.N, blockSize: 32, b: tensorBytes(q4Init.get(w.initializer)!), scales: decodeFloats(tensorBytes(q4Init.get(w.scales)!), 1) });
      return Float32Array.from(blocks.keep[f.layer]!.flatMap((c) => Array.from(deq.subarray(c * 64, (c + 1) * 64))));
    });
    const replaced = await pruneModel(q4, blocks, { downWeights: ownRows });
    expect(replaced.report.layers.map((l) => [l.down, l.addedError?.maxAbs])).toEqual(q4Ffns.map(() => ['replaced', 0]));
    expect(await logitsOf(replaced.model)).toEqual(await logitsOf((await pruneModel(q4, blocks)).model));
  });

  it('rejects bad plans and mis-sized per-layer inputs with clear errors', async () => {
    const model = models.get('optimum-fp32')!;
    const sizes = discoverFfns(model).map((f) => f.intermediateSize);
    await expect(pruneModel(model, { keep: densePlan(sizes).keep.slice(1) })).rejects.toThrow(KeepPlanError);
    await expect(pruneModel(model, { keep: densePlan(sizes).keep.map((k, l) => (l === 2 ? [] : k)) })).rejects.toThrow(/Layer 2 keeps no channel/);
    await expect(pruneModel(model, { keep: densePlan(sizes).keep.map((k, l) => (l === 4 ? [...k, 172] : k)) })).rejects.toThrow(/Layer 4, entry 172: channel 172 is out of range/);
    await expect(pruneModel(model, densePlan(sizes), { downWeights: [new Float32Array(3)] })).rejects.toThrow(PruneError);
    await expect(pruneModel(model, densePlan(sizes), { channelMeans: [undefined, new Float32Array(171)] })).rejects.toThrow(/Layer 1: channel means have 171 values/);
  });
});

/** The dense model with each removed channel's down_proj input replaced by its mean: x * mask + means * (1 - mask). */
function holdChannels(model: OnnxModel, ffns: FfnLayer[], plan: KeepPlan, means: Float32Array[]): OnnxModel {
  const copy = structuredClone(model);
  const g = copy.graph!;
  const masks = keepMasks(plan, ffns.map((f) => f.intermediateSize));
  for (const f of ffns) {
    const mask = Float32Array.from(masks[f.layer]!);
    const fill = Float32Array.from(means[f.layer]!, (m, c) => (mask[c] ? 0 : m));
    const p = `/test/hold_${f.layer}`;
    g.initializer!.push(tensorFromFloat32(`${p}/mask`, [mask.length], mask), tensorFromFloat32(`${p}/fill`, [fill.length], fill));
    const i = g.node!.findIndex((n) => n.output?.[0] === f.downInput);
    g.node!.splice(
      i + 1,
      0,
      node('Mul', [f.downInput, `${p}/mask`], [`${p}/masked`], `${p}/Mul`),
      node('Add', [`${p}/masked`, `${p}/fill`], [`${p}/held`], `${p}/Add`),
    );
    const down = g.node!.find((n) => n.output?.[0] === f.down.output)!;
    down.input![0] = `${p}/held`;
  }
  return copy;
}

describe('pruned models stay prunable', () => {
  it('a pruned model (with FLAP bias nodes) is found again, with its new widths and hidden states, and prunes further', async () => {
    const model = models.get('genai-fp32')!;
    const ffns = discoverFfns(model);
    const first = seededPlan(ffns, 21);
    const means = ffns.map((f) => new Float32Array(f.intermediateSize).fill(0.1));
    const once = (await pruneModel(model, first, { channelMeans: means })).model;
    const again = discoverFfns(once);
    expect(again.map((f) => f.intermediateSize)).toEqual(first.keep.map((k) => k.length));
    expect(again.map((f) => f.hidden?.tensor)).toEqual(ffns.map((f) => f.hidden?.tensor));
    // Keep every other surviving channel: the same as keeping those original channels in one step (plus the first bias).
    const second = { keep: again.map((f) => [...Array(f.intermediateSize).keys()].filter((c) => c % 2 === 0)) };
    const twice = (await pruneModel(once, second)).model;
    const direct = { keep: first.keep.map((k, l) => second.keep[l]!.map((c) => k[c]!)) };
    const expected = (await pruneModel(model, direct, { channelMeans: means.map((m, l) => m.map((v, c) => (first.keep[l]!.includes(c) ? 0 : v))) })).model;
    expect(maxDiff(await logitsOf(twice), await logitsOf(expected))).toBeLessThanOrEqual(1e-4);
  });

  it('writes manifests with every list of numbers on one line', () => {
    const value = { keep: [[1, 2, 30], [4]], nested: { sizes: [-1, 2.5e-7] }, names: ['a', 'b'] };
    const text = manifestJsonText(value);
    expect(JSON.parse(text)).toEqual(value);
    expect(text).toContain('[1, 2, 30]');
    expect(text).toContain('"sizes": [-1, 2.5e-7]');
  });
});
