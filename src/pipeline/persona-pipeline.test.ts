import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePrompt, renderPrompt } from '../calibration/persona-prompt';
import type { CalibrationSample } from '../core/stats';
import type { LayerStats } from '../core/stats';
import { accumulateChannelStats } from '../gpu/kernels/channel-stats/reference';
import { emptyChannelStats } from '../core/stats';
import type { GgufModel } from '../import/gguf-file';
import { importGguf } from '../import/import-gguf';
import { referenceLogits } from '../import/llama-reference';
import { loadBuiltin } from '../fixtures/builtin';
import { writeFolderAtomic } from '../node/folder-io';
import { NodePipelineRuntime } from '../node/pipeline-runtime';
import { buildPlan } from '../pruning/plan-builder';
import { planWithOverrides } from '../pruning/plan-overrides';
import { mixedGram, reconstructLayer } from '../pruning/reconstruct';
import { PersonaPipeline, type PipelineProgress } from './persona-pipeline';
import { DEFAULT_SEARCH } from './plan-search';
import { PruneRequestError } from './request';
import type { PipelineRuntime } from './runtime';

let dir: string;
let gguf: GgufModel;
let node: NodePipelineRuntime;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-pipeline-'));
  gguf = await loadBuiltin();
  await writeFolderAtomic(join(dir, 'model'), importGguf(gguf));
  node = await NodePipelineRuntime.open(join(dir, 'model'));
});

afterAll(async () => {
  await node?.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** The Node runtime, recording what the pipeline asks of it. */
function recording(rt: NodePipelineRuntime) {
  const calls = {
    generate: [] as number[][],
    hidden: 0,
    calibrate: [] as { samples: readonly CalibrationSample[]; gram: boolean; plan: boolean }[],
    layerwise: 0,
    heldOutKl: [] as (readonly CalibrationSample[])[],
    matmul: 0,
  };
  const runtime: PipelineRuntime = {
    config: rt.config,
    tokenizerConfig: rt.tokenizerConfig,
    tokenizer: rt.tokenizer,
    matmul: (...args) => {
      calls.matmul++;
      return rt.matmul(...args);
    },
    ffnWeights: (o) => rt.ffnWeights(o),
    generate: (ids, settings) => {
      calls.generate.push(ids);
      return rt.generate(ids, settings);
    },
    hiddenStates: (prompts) => {
      calls.hidden += prompts.length;
      return rt.hiddenStates(prompts);
    },
    calibrate: (samples, options) => {
      calls.calibrate.push({ samples, gram: options.gram, plan: options.plan !== undefined });
      return rt.calibrate(samples, options);
    },
    calibrateLayerwise: (sets, options) => {
      calls.layerwise++;
      return rt.calibrateLayerwise(sets, options);
    },
    evaluateNll: (sequences, plan) => rt.evaluateNll(sequences, plan),
    heldOutKl: (samples, plan, options) => {
      calls.heldOutKl.push(samples);
      return rt.heldOutKl(samples, plan, options);
    },
    exportModel: (request) => rt.exportModel(request),
  };
  return { runtime, calls };
}

/** Channel statistics from the independent reference forward pass. */
function referenceStats(samples: readonly CalibrationSample[]): LayerStats[] {
  const { nLayers, ffnDim } = gguf.config;
  const stats = Array.from({ length: nLayers }, () => emptyChannelStats(ffnDim));
  for (const { ids, weights } of samples) {
    const acts = Array.from({ length: nLayers }, () => new Float32Array(ids.length * ffnDim));
    referenceLogits(gguf, ids, { capture: (l, t, { downInput }) => acts[l]!.set(downInput, t * ffnDim) });
    stats.forEach((s, l) => accumulateChannelStats(s, acts[l]!, weights));
  }
  return stats;
}

/** Same values up to float32 rounding of the (differently grouped) runs that produced them. */
function expectClose(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(...expected.map(Math.abs));
  actual.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThanOrEqual(1e-5 * scale));
}

const REFERENCES = ['Lily is a shy girl who loves flowers.', 'Max is a lazy cat who sleeps all day.'];
const PIRATE = 'Captain Bob is an old pirate who loves his green parrot.';
const FAIRY = 'Rosie is a tiny fairy who helps the flowers grow.';
const QUESTIONS = 120;

describe('PersonaPipeline on the built-in model', () => {
  it('calibrates the baselines on the generic set once, with statistics equal to the reference forward pass', async () => {
    const { runtime, calls } = recording(node);
    const pipeline = new PersonaPipeline(runtime, REFERENCES);
    expect(pipeline.format.kind).toBe('base');
    expect(pipeline.questions).toHaveLength(QUESTIONS);
    const request = { persona: PIRATE, sparsity: 0.25, samples: 4, seed: 3, method: 'wanda-sp' as const };
    const wanda = await pipeline.prune(request);
    expect(calls.generate).toHaveLength(4);
    expect(calls.hidden).toBe(0);
    expect(wanda.calibration.persona).toBeUndefined();
    expect(wanda.calibration.generic).toMatchObject({ samples: 4, filtered: false, synthesis: true });

    // Generic prompts carry no persona: each is a plain story opening after BOS.
    const { set } = await pipeline.genericCalibration(request, { gram: false });
    expect(calls.generate).toHaveLength(4);
    set.samples.forEach((s, i) => {
      expect(calls.generate[i]).toEqual(encodePrompt(runtime.tokenizer, pipeline.format, renderPrompt(pipeline.format, null, s.meta.prompt).text));
      expect(runtime.tokenizer.decode(s.ids)).not.toContain('pirate');
    });
    const weights = await node.ffnWeights({ gateUp: false });
    const expected = await buildPlan({ method: 'wanda-sp', allocation: 'uniform', sparsity: 0.25, shape: pipeline.shape(weights), weights, stats: referenceStats(set.samples) });
    expect(wanda.plan.keep).toEqual(expected.keep);
    wanda.plan.scores.forEach((s, l) => s.forEach((v, j) => expect(Math.abs(v - expected.scores[l]![j]!)).toBeLessThanOrEqual(1e-4 * expected.scores[l]![j]!)));

    // Another baseline, another persona: the cached generic statistics serve it.
    const calibrations = calls.calibrate.length;
    const flap = await pipeline.prune({ ...request, persona: FAIRY, method: 'flap' });
    expect(calls.generate).toHaveLength(4);
    expect(calls.calibrate).toHaveLength(calibrations);
    expect(flap.plan.channelMeans).toHaveLength(5);
  });

  it('filters, synthesises and calibrates per persona, reusing generic statistics and reference hidden states', async () => {
    const { runtime, calls } = recording(node);
    const pipeline = new PersonaPipeline(runtime, REFERENCES);
    const progress: string[] = [];
    const onProgress = (p: PipelineProgress) => {
      const label = `${p.phase}${p.set ? `/${p.set}` : ''}`;
      if (progress.at(-1) !== label) progress.push(label);
    };
    // The plan search has its own test below; here the statistics and the sequential plan are checked.
    const request = { persona: PIRATE, sparsity: 0.25, samples: 4, seed: 3, search: false as const };
    const pirate = await pipeline.prune(request, { onProgress });
    expect(progress).toEqual(['synthesis/generic', 'calibration/generic', 'filtering/persona', 'synthesis/persona', 'calibration/persona', 'scoring']);
    expect(pirate.method).toBe('reconstruct');
    expect(pirate.request.sequential).toBe(true);
    expect(calls.hidden).toBe(QUESTIONS * (1 + REFERENCES.length));
    expect(calls.generate).toHaveLength(8);
    // Dense generic and persona channel statistics (uniform allocation needs no dense Gram), then one
    // layer-wise pass over both sets for the Grams on the model pruned so far.
    expect(calls.calibrate.map((c) => [c.gram, c.plan])).toEqual([[false, false], [false, false]]);
    expect(calls.layerwise).toBe(1);
    expect(pirate.manifest.sequential_calibration).toEqual({ mode: 'layer-wise' });

    // The persona set: the most sensitive prompts, each rendered with the persona prefix and answered under it.
    const summary = pirate.calibration.persona!;
    expect(summary).toMatchObject({ samples: 4, filtered: true, synthesis: true });
    const sensitivities = summary.prompts.map((p) => p.sensitivity!);
    expect([...sensitivities].sort((a, b) => b - a)).toEqual(sensitivities);
    summary.prompts.forEach((p, i) => {
      const promptIds = encodePrompt(runtime.tokenizer, pipeline.format, renderPrompt(pipeline.format, PIRATE, p.prompt).text);
      expect(calls.generate[4 + i]).toEqual(promptIds);
      expect(calls.calibrate[1]!.samples[i]!.ids.slice(0, promptIds.length)).toEqual(promptIds);
      expect(p.answer!.length).toBeGreaterThan(0);
    });
    expect(pirate.plan.downWeights).toHaveLength(5);
    expect(pirate.manifest).toMatchObject({ persona: PIRATE, requested_method: 'persona', scoring_method: 'reconstruct', sequential: true, refit_down_proj: true, plan_options: { genericMix: 0.5 } });
    expect((pirate.manifest.scores as number[][]).map((s) => s.length)).toEqual([172, 172, 172, 172, 172]);

    // Same persona at another sparsity: nothing is generated, and the dense statistics are not recomputed.
    const half = await pipeline.prune({ ...request, sparsity: 0.5 });
    expect(calls.generate).toHaveLength(8);
    expect(calls.calibrate.filter((c) => !c.plan)).toHaveLength(2);
    expect(half.plan.estimates.keptPerLayer).toEqual([86, 86, 86, 86, 86]);

    // Sequential and one-shot agree on layer 0 (both see dense inputs), not on the later layers. One-shot
    // needs the dense Grams, so both sets are calibrated again, with them.
    const oneShot = await pipeline.prune({ ...request, sparsity: 0.5, sequential: false });
    expect(calls.calibrate.map((c) => [c.gram, c.plan]).slice(2)).toEqual([[true, false], [true, false]]);
    expect(oneShot.plan.keep[0]).toEqual(half.plan.keep[0]);
    expectClose(oneShot.plan.downWeights![0]!, half.plan.downWeights![0]!);
    expect(oneShot.plan.keep.slice(1)).not.toEqual(half.plan.keep.slice(1));
    // The last layer is the reconstruction on statistics of the model with the plan's other layers applied.
    const weights = await node.ffnWeights({ gateUp: false });
    const upstream = {
      keep: half.plan.keep.map((k, l) => (l < 4 ? k : Array.from({ length: 172 }, (_, c) => c))),
      downWeights: half.plan.downWeights!.map((d, l) => (l < 4 ? d : weights[4]!.down)),
    };
    const [generic, persona] = await Promise.all([0, 1].map((i) => node.calibrate(calls.calibrate[i]!.samples, { gram: true, plan: upstream })));
    const last = reconstructLayer(mixedGram(persona!.layers[4]!, generic!.layers[4], 0.5), weights[4]!.down, 64, 86);
    expect(half.plan.keep[4]).toEqual(last.keep);
    expectClose(half.plan.downWeights![4]!, last.down);

    // A second persona only runs its own prompts for filtering and its own answers.
    await pipeline.prune({ ...request, persona: FAIRY });
    expect(calls.hidden).toBe(QUESTIONS * (2 + REFERENCES.length));
    expect(calls.generate).toHaveLength(12);
    expect(calls.calibrate.filter((c) => !c.plan)).toHaveLength(5);
  });

  it('chooses the plan by held-out KL among variants, baselines and searched allocations, never worse than the baselines', async () => {
    const { runtime, calls } = recording(node);
    const pipeline = new PersonaPipeline(runtime, REFERENCES);
    const phases: string[] = [];
    const search = { heldOutSamples: 3, generations: 2, offspring: 2, quickSamples: 1 };
    const request = { persona: PIRATE, sparsity: 0.5, samples: 5, seed: 2, filter: false, search };
    const out = join(dir, 'searched');
    const outcome = await pipeline.prune(request, { out: { target: out }, onProgress: (p) => phases.at(-1) !== p.phase && phases.push(p.phase) });
    expect(phases.slice(-3)).toEqual(['scoring', 'search', 'export']);

    // Held-out samples are answered like the calibration ones (5 + 3 persona answers) but never calibrated on.
    expect(calls.generate).toHaveLength(5 + 8);
    const calibrated = new Set(calls.calibrate.flatMap((c) => c.samples.map((s) => s.ids.join(','))));
    const heldOut = calls.heldOutKl.find((s) => s.length === 3)!;
    expect(heldOut.every((s) => !calibrated.has(s.ids.join(',')))).toBe(true);
    expect(outcome.calibration.persona!.samples).toBe(5);

    const selection = outcome.selection!;
    const kl = new Map(selection.candidates.map((c) => [c.label, c.kl]));
    const baselines = ['wanda-sp (persona data)', 'flap (persona data)', 'wanda-sp (generic data)', 'flap (generic data)'];
    expect([...kl.keys()]).toEqual(expect.arrayContaining(['reconstruct sequential, damping 0.01', 'reconstruct one-shot, damping 0.01', 'reconstruct one-shot, damping 0.1', ...baselines]));
    expect(selection.heldOutKl).toBeLessThanOrEqual(Math.min(...baselines.map((b) => kl.get(b)!)));
    expect(kl.get(selection.chosen)).toBe(selection.heldOutKl);
    // Every candidate keeps the same total; the chosen one is the outcome's plan, and its KL is real.
    for (const c of selection.candidates) expect(c.sparsities.reduce((a, b) => a + b) / 5).toBeCloseTo(0.5, 2);
    expect(outcome.plan.keep.map((k) => 1 - k.length / 172)).toEqual(selection.candidates.find((c) => c.label === selection.chosen)!.sparsities);
    expect((await node.heldOutKl(heldOut, outcome.plan)).meanKl).toBeCloseTo(selection.heldOutKl, 10);
    // A recorded baseline's KL, rebuilt independently from the cached generic statistics.
    const generic = await pipeline.genericCalibration(request, { gram: true });
    const weights = await node.ffnWeights({ gateUp: false });
    const flap = await buildPlan({ method: 'flap', allocation: 'uniform', sparsity: 0.5, shape: pipeline.shape(weights), weights, stats: generic.stats.layers, options: { seed: 2 } });
    expect((await node.heldOutKl(heldOut, flap)).meanKl).toBeCloseTo(kl.get('flap (generic data)')!, 10);

    const manifest = JSON.parse(await readFile(join(out, 'pruning.json'), 'utf8')) as { selection: typeof selection & { heldOut: { samples: number } }; keep: number[][] };
    expect(manifest.selection).toMatchObject({ chosen: selection.chosen, heldOutKl: selection.heldOutKl, heldOut: { samples: 3 } });
    expect(manifest.selection.candidates).toHaveLength(selection.candidates.length);
    expect(manifest.keep).toEqual(outcome.plan.keep);

    // Cancelled in the middle of the search: the run stops with an AbortError.
    const controller = new AbortController();
    const cancelled = pipeline.prune({ ...request, sparsity: 0.25 }, { signal: controller.signal, onProgress: (p) => p.phase === 'search' && p.done > 0 && controller.abort() });
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('without synthesis counts the plain answers under the persona prompt (the "no rewriting" ablation)', async () => {
    const { runtime, calls } = recording(node);
    const pipeline = new PersonaPipeline(runtime, REFERENCES);
    const outcome = await pipeline.prune({ persona: PIRATE, sparsity: 0.25, samples: 3, seed: 5, method: 'activation', filter: false, synthesis: false, userExamples: ['Arr, my parrot!'] });
    const { prompts } = outcome.calibration.persona!;
    expect(prompts.map((p) => p.kind)).toEqual(['persona-answer', 'persona-answer', 'persona-answer', 'user-example']);
    const samples = calls.calibrate[0]!.samples;
    prompts.slice(0, 3).forEach((p, i) => {
      // Generated without the persona, counted after the persona prompt.
      const plain = encodePrompt(runtime.tokenizer, pipeline.format, renderPrompt(pipeline.format, null, p.prompt).text);
      expect(calls.generate[i]).toEqual(plain);
      const personaPrompt = encodePrompt(runtime.tokenizer, pipeline.format, renderPrompt(pipeline.format, PIRATE, p.prompt).text);
      expect(samples[i]!.ids.slice(0, personaPrompt.length)).toEqual(personaPrompt);
      expect(samples[i]!.weights.slice(0, personaPrompt.length).every((w) => w === 0)).toBe(true);
    });
    expect(runtime.tokenizer.decode(samples[3]!.ids)).toBe('Arr, my parrot!');
    expect(outcome.calibration.generic).toBeUndefined();
  });

  it('stops when its signal aborts, and rejects requests that cannot run', async () => {
    const { runtime, calls } = recording(node);
    const pipeline = new PersonaPipeline(runtime, REFERENCES);
    const controller = new AbortController();
    const run = pipeline.prune(
      { persona: PIRATE, sparsity: 0.25, samples: 8, method: 'wanda-sp' },
      { signal: controller.signal, onProgress: (p) => p.phase === 'synthesis' && p.done === 2 && controller.abort() },
    );
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(calls.generate).toHaveLength(2);

    const bad = (request: Parameters<PersonaPipeline['resolve']>[0], message: RegExp) => {
      expect(() => pipeline.resolve(request)).toThrow(PruneRequestError);
      expect(() => pipeline.resolve(request)).toThrow(message);
    };
    bad({ persona: PIRATE, sparsity: 1 }, /sparsity must be between 0.05 and 0.9 .*got 1$/);
    bad({ persona: PIRATE, sparsity: 0 }, /sparsity must be between 0.05 and 0.9/);
    bad({ persona: PIRATE, sparsity: 0.5, method: 'obs' as never }, /unknown method "obs"/);
    bad({ persona: PIRATE, sparsity: 0.5, allocation: 'even' as never }, /unknown allocation "even"/);
    bad({ sparsity: 0.5 }, /needs a persona description/);
    bad({ persona: '  ', sparsity: 0.5 }, /persona description is empty/);
    bad({ persona: PIRATE, sparsity: 0.5, samples: QUESTIONS + 1 }, /only 120 prompts/);
    bad({ persona: PIRATE, sparsity: 0.5, samples: 2.5 }, /positive integer/);
    bad({ persona: PIRATE, sparsity: 0.5, method: 'flap', sequential: true }, /option of the reconstruct method/);
    bad({ persona: PIRATE, sparsity: 0.5, method: 'flap', search: {} }, /plan search is an option of the reconstruct method/);
    bad({ persona: PIRATE, sparsity: 0.5, samples: QUESTIONS - 4 }, /plus held-out samples \(8\) is 124, but the question bank for this model has only 120 prompts/);
    bad({ persona: PIRATE, sparsity: 0.5, search: { quickSamples: 0 } }, /quickSamples must be a positive integer/);
    expect(pipeline.resolve({ persona: PIRATE, sparsity: 0.5 }).search).toEqual(DEFAULT_SEARCH);
    expect(pipeline.resolve({ persona: PIRATE, sparsity: 0.5, samples: QUESTIONS - 4, search: false }).search).toBe(false);
    expect(pipeline.resolve({ persona: PIRATE, sparsity: 0.5, method: 'reconstruct' }).search).toBe(false);
    expect(pipeline.resolve({ sparsity: 0.5, method: 'magnitude' })).toMatchObject({ method: 'magnitude', samples: 32, filter: true, sequential: false });
    expect(pipeline.resolve({ persona: PIRATE, sparsity: 0.5, method: 'reconstruct' }).sequential).toBe(false);
  });

  it('replan previews the one-shot plan from the held statistics (overrides honoured, no model run); prune refines it; a restored pipeline gives the same plans', async () => {
    const { runtime, calls } = recording(node);
    const pipeline = new PersonaPipeline(runtime, REFERENCES);
    const request = { persona: PIRATE, sparsity: 0.25, samples: 6, seed: 3, sampling: { maxNewTokens: 12, temperature: 0.7, topP: 0.9 } };
    await expect(pipeline.replan(request)).rejects.toThrow(/run the calibration first/);

    const refined = await pipeline.prune(request);
    const runs = { generate: calls.generate.length, calibrate: calls.calibrate.length, hidden: calls.hidden };
    const held = await pipeline.heldCalibration(request);
    const weights = await pipeline.denseWeights(false);
    const input = (sparsity: number) => ({
      method: 'reconstruct' as const,
      allocation: 'uniform' as const,
      sparsity,
      shape: pipeline.shape(weights),
      weights,
      stats: held.persona!.stats.layers,
      genericStats: held.generic!.stats.layers,
      options: { seed: 3 },
    });

    // The preview at another level and with a per-layer override: buildPlan on the dense statistics, nothing run.
    const preview = await pipeline.replan({ ...request, sparsity: 0.5, keepOverrides: [null, 100] });
    const expected = await planWithOverrides(input(0.5), [null, 100]);
    expect(preview.keep).toEqual(expected.keep);
    expect(preview.keep.map((k) => k.length)).toEqual([86, 100, 86, 86, 86]);
    // The pipeline's products run on onnxruntime, the test's on the JS reference: equal up to rounding.
    preview.downWeights!.forEach((d, l) => expectClose(d, expected.downWeights![l]!));
    expect({ generate: calls.generate.length, calibrate: calls.calibrate.length, hidden: calls.hidden }).toEqual(runs);

    // The refined plan is the plan search's choice (sequential, one-shot and baseline plans, searched
    // allocations) at the preview's parameter budget, recorded in pruning.json.
    const products = calls.matmul;
    const oneShot = await pipeline.replan(request);
    // From the removal paths the run and the first preview left: one refit product per layer, no new pass.
    expect(calls.matmul - products).toBe(5);
    expect(refined.selection).toBeDefined();
    expect(refined.plan.keep.flat()).toHaveLength(oneShot.keep.flat().length);
    expect(refined.manifest.selection).toMatchObject({ chosen: refined.selection!.chosen, heldOutKl: refined.selection!.heldOutKl });

    // Refining with overrides keeps the overridden count through the sequential refit; the search does not
    // re-allocate counts the writer set by hand.
    const overridden = await pipeline.prune({ ...request, keepOverrides: [null, null, 60] });
    expect(overridden.plan.keep.map((k) => k.length)).toEqual([129, 129, 60, 129, 129]);
    expect(overridden.selection).toBeUndefined();
    expect(overridden.manifest.layer_overrides).toEqual([null, null, 60]);
    expect(calls.generate.length).toBe(runs.generate); // no new synthesis: the held calibration served it

    // After a reload: a fresh pipeline given the saved calibration previews and refines identically, without synthesis.
    const restored = recording(node);
    const again = new PersonaPipeline(restored.runtime, REFERENCES);
    again.restoreCalibration(request, structuredClone(held));
    expect((await again.replan({ ...request, sparsity: 0.5, keepOverrides: [null, 100] })).keep).toEqual(preview.keep);
    const reRefined = await again.prune(request);
    expect(reRefined.plan.keep).toEqual(refined.plan.keep);
    reRefined.plan.downWeights!.forEach((d, l) => expect(Array.from(d)).toEqual(Array.from(refined.plan.downWeights![l]!)));
    expect(restored.calls.generate).toHaveLength(0);
    expect(restored.calls.hidden).toBe(0);
  });
});
