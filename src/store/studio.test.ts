// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import type { BundleFiles } from '../sources/bundle-files';
import { connectStudio, type StudioPort } from '../worker/studio-client';
import type { StudioEvent, StudioRequest } from '../worker/studio-protocol';
import type { BuiltPlan } from '../pruning/plan-builder';
import { createStudioStore, persistStudio, pruneRequestOf, restoredState, sessionOf, sparsityMessage, validateRun, DEFAULT_SETTINGS } from './studio';
import type { SavedSession, SessionStore } from './studio-persist';

/** The real client on a fake worker: the requests it posts, and events played back as the worker's. */
function fakeClient() {
  const sent: StudioRequest[] = [];
  const port: StudioPort = { postMessage: (r) => void sent.push(r), onmessage: null, onerror: null };
  const client = connectStudio(port, 'auto');
  // The store acts on the client's promises: let them settle before looking.
  const emit = async (e: StudioEvent) => {
    port.onmessage!({ data: e } as MessageEvent<StudioEvent>);
    await new Promise((r) => setTimeout(r, 0));
  };
  return { client, sent, emit };
}

function memorySessions(initial?: SavedSession): SessionStore & { saved?: SavedSession } {
  const store: SessionStore & { saved?: SavedSession } = {
    saved: initial,
    load: async () => store.saved,
    save: async (s) => void (store.saved = structuredClone(s)),
    clear: async () => void (store.saved = undefined),
  };
  return store;
}

const planSummary = (sparsity: number, kept: number[], kind: 'preview' | 'refined' = 'preview') => ({
  params: { method: 'activation' as const, allocation: 'uniform' as const, sparsity, overrides: [] },
  kind,
  method: 'activation' as const,
  keptPerLayer: kept,
  widths: kept.map(() => 172),
  scores: kept.map(() => new Float64Array(172)),
  estimates: { before: { ffnParams: 1, totalParams: 2, flopsPerToken: 3, fileBytes: 4 }, after: { ffnParams: 1, totalParams: 1, flopsPerToken: 2, fileBytes: 2 }, ffnSparsity: sparsity, keptPerLayer: kept },
  totals: { parameters: { before: 2, after: 1 }, bytes: { before: 4, after: 2 } },
});

/** A refined plan as the worker sends it (the store only keeps and saves it). */
const refinedPlan = (sparsity: number) => ({
  params: { method: 'activation' as const, allocation: 'uniform' as const, sparsity, overrides: [] },
  plan: { keep: [[0, 2]], downWeights: [Float32Array.of(0.5, -1)], method: 'activation' } as unknown as BuiltPlan,
  manifest: { sequential: true },
});

/** A calibration set as the pipeline holds it (the store only keeps and saves it). */
const calibrationData = (request: { persona: string; sparsity: number }, mean = Float64Array.of(1, 2, 3)) => ({
  request,
  persona: {
    set: { persona: request.persona, format: 'base' as const, seed: 0, sampling: { maxNewTokens: 4, temperature: 0.7, topP: 0.9 }, samples: [], emptyAnswers: 0 },
    stats: { layers: [{ mean } as never], tokens: 3, samples: 1 },
  },
});

/** What the sources worker hands over (the store only passes it on). */
const files: BundleFiles = { config: new Blob(['{}']), generationConfig: null, tokenizer: new Blob(['{}']), tokenizerConfig: new Blob(['{}']), model: new Blob([]), externalData: [] };

describe('studio store', () => {
  it('turns the character and settings into the pipeline request', () => {
    const req = pruneRequestOf({ name: 'x', description: 'A pirate.', examples: ' Arr!\n\n Yo ho \n' }, { ...DEFAULT_SETTINGS, samples: 7, answerTokens: 20 });
    expect(req).toMatchObject({ persona: 'A pirate.', samples: 7, method: 'persona', sparsity: 0.4, userExamples: ['Arr!', 'Yo ho'] });
    expect(req.sampling?.maxNewTokens).toBe(20);
  });

  it('refuses to run without a model or with an empty character, in plain words', () => {
    const ready = { status: 'ready' as const, label: 'm' };
    expect(validateRun({ model: { status: 'idle', label: '' }, persona: { name: '', description: 'A long enough description', examples: '' }, settings: DEFAULT_SETTINGS })).toMatch(/not loaded/);
    expect(validateRun({ model: ready, persona: { name: '', description: 'short', examples: '' }, settings: DEFAULT_SETTINGS })).toMatch(/Describe your character/);
    expect(validateRun({ model: ready, persona: { name: '', description: 'A long enough description', examples: '' }, settings: { ...DEFAULT_SETTINGS, samples: 1 } })).toMatch(/between 2 and 120/);
    expect(validateRun({ model: ready, persona: { name: '', description: 'A long enough description', examples: '' }, settings: { ...DEFAULT_SETTINGS, sparsity: 0.95 } })).toBe(sparsityMessage);
    expect(sparsityMessage).toBe('Choose how much to remove between 5% and 90%.');
    expect(validateRun({ model: ready, persona: { name: '', description: 'A long enough description', examples: '' }, settings: DEFAULT_SETTINGS })).toBeNull();
  });

  it('sequences calibrate → plan, re-plans on the slider and per-layer overrides, and ignores stale events', async () => {
    const { client, sent, emit } = fakeClient();
    const store = createStudioStore(client, memorySessions());
    store.getState().loadModel({ files, label: 'm' });
    const load = sent.at(-1) as Extract<StudioRequest, { type: 'load' }>;
    await emit({ type: 'loaded', requestId: load.requestId, label: 'm', denseParameters: 1000, layers: 2, widths: [172, 172], format: 'base' });
    expect(store.getState().model.status).toBe('ready');

    store.getState().runCalibration();
    const cal = sent.at(-1) as Extract<StudioRequest, { type: 'calibrate' }>;
    expect(cal.type).toBe('calibrate');
    await emit({ type: 'answer', requestId: cal.requestId, text: 'Arr' });
    await emit({ type: 'answer', requestId: cal.requestId + 100, text: 'stale' });
    expect(store.getState().calibration.answers).toEqual(['Arr']);
    const data = calibrationData({ persona: 'A pirate.', sparsity: 0.4 });
    await emit({ type: 'calibrated', requestId: cal.requestId, data, refined: refinedPlan(0.4), plan: planSummary(0.4, [103, 103], 'refined'), accumulator: 'cpu', timings: { total: 10 } });
    expect(store.getState().step).toBe('plan');
    expect(store.getState().planParams?.sparsity).toBe(0.4);
    expect(store.getState().plan?.kind).toBe('refined');
    expect(store.getState().refined?.params.sparsity).toBe(0.4);

    store.getState().setSparsity(0.5);
    const plan = sent.at(-1) as Extract<StudioRequest, { type: 'plan' }>;
    expect(plan.params).toMatchObject({ sparsity: 0.5, overrides: [] });
    store.getState().overrideLayer(1, 60);
    const override = sent.at(-1) as Extract<StudioRequest, { type: 'plan' }>;
    expect(override.params.overrides).toEqual([null, 60]);
    await emit({ type: 'plan', requestId: plan.requestId, plan: planSummary(0.5, [86, 86]) });
    expect(store.getState().plan?.keptPerLayer).toEqual([103, 103]); // superseded by the override request: ignored
    await emit({ type: 'plan', requestId: override.requestId, plan: planSummary(0.5, [86, 60]) });
    expect(store.getState().plan?.keptPerLayer).toEqual([86, 60]);

    store.getState().overrideLayer(0, 50);
    await emit({ type: 'error', requestId: (sent.at(-1) as Extract<StudioRequest, { type: 'plan' }>).requestId, message: 'boom' });
    expect(store.getState().errors.plan).toMatch(/^The plan could not be made: boom\. Try again/);

    // Out of range: refused with the one message, nothing sent.
    const before = sent.length;
    store.getState().setSparsity(0.95);
    expect(sent).toHaveLength(before);
    expect(store.getState().errors.plan).toContain(sparsityMessage);
  });

  it('refines the shown preview with progress; a cancel keeps the plan and the refined plan; only a refined plan exports', async () => {
    const { client, sent, emit } = fakeClient();
    const store = createStudioStore(client, memorySessions());
    store.getState().loadModel({ files, label: 'm' });
    await emit({ type: 'loaded', requestId: (sent.at(-1) as { requestId: number }).requestId, label: 'm', denseParameters: 1000, layers: 2, widths: [172, 172], format: 'base' });
    store.getState().runCalibration();
    const cal = sent.at(-1) as Extract<StudioRequest, { type: 'calibrate' }>;
    await emit({ type: 'calibrated', requestId: cal.requestId, data: calibrationData({ persona: 'A pirate.', sparsity: 0.4 }), refined: refinedPlan(0.4), plan: planSummary(0.4, [103, 103], 'refined'), accumulator: 'cpu', timings: { total: 10 } });

    store.getState().setSparsity(0.5);
    const preview = sent.at(-1) as Extract<StudioRequest, { type: 'plan' }>;
    await emit({ type: 'plan', requestId: preview.requestId, plan: planSummary(0.5, [86, 86]) });
    expect(store.getState().plan?.kind).toBe('preview');
    store.getState().runExport();
    expect(sent.at(-1)).toBe(preview); // a preview does not export
    expect(store.getState().errors.export).toMatch(/preview; refine it first/);

    store.getState().refinePlan();
    const refine = sent.at(-1) as Extract<StudioRequest, { type: 'refine' }>;
    expect(refine).toMatchObject({ type: 'refine', params: { sparsity: 0.5, overrides: [] } });
    await emit({ type: 'progress', requestId: refine.requestId, progress: { phase: 'scoring', done: 2, total: 5 } });
    expect(store.getState().refine).toEqual({ status: 'running', progress: { phase: 'scoring', done: 2, total: 5 } });
    store.getState().cancelRefine();
    expect(sent.at(-1)).toEqual({ type: 'cancel' });
    await emit({ type: 'cancelled', requestId: refine.requestId });
    expect(store.getState().refine.status).toBe('cancelled');
    expect(store.getState().plan?.kind).toBe('preview');
    expect(store.getState().refined?.params.sparsity).toBe(0.4);

    store.getState().refinePlan();
    const again = sent.at(-1) as Extract<StudioRequest, { type: 'refine' }>;
    await emit({ type: 'refined', requestId: again.requestId, refined: refinedPlan(0.5), plan: planSummary(0.5, [86, 86], 'refined') });
    expect(store.getState()).toMatchObject({ refine: { status: 'idle' }, plan: { kind: 'refined' }, refined: { params: { sparsity: 0.5 } } });
    store.getState().runExport();
    expect(sent.at(-1)).toMatchObject({ type: 'export', params: { sparsity: 0.5 }, folderName: expect.stringMatching(/-pruned-50$/) });

    // A refine that finishes after the writer moved on is kept, not shown over the newer preview.
    store.getState().setSparsity(0.6);
    store.getState().refinePlan();
    const late = sent.at(-1) as Extract<StudioRequest, { type: 'refine' }>;
    store.getState().setSparsity(0.7);
    await emit({ type: 'refined', requestId: late.requestId, refined: refinedPlan(0.6), plan: planSummary(0.6, [69, 69], 'refined') });
    expect(store.getState().refined?.params.sparsity).toBe(0.6);
    expect(store.getState().plan?.params.sparsity).not.toBe(0.6);
  });

  it('saves the session with binary statistics and restores it after a reload, re-planning from it', async () => {
    const sessions = memorySessions();
    const first = fakeClient();
    const store = createStudioStore(first.client, sessions);
    await persistStudio(store, sessions);
    const data = calibrationData({ persona: 'A pirate.', sparsity: 0.3 });
    store.setState({ data, refined: refinedPlan(0.3), planParams: { method: 'activation', allocation: 'uniform', sparsity: 0.3, overrides: [null, 9] }, step: 'plan' });
    await new Promise((r) => setTimeout(r, 400));
    // Stored as a typed array (binary under structured clone), not a number list.
    expect(Object.prototype.toString.call((sessions.saved!.data!.persona!.stats.layers[0] as unknown as { mean: Float64Array }).mean)).toBe('[object Float64Array]');

    const second = fakeClient();
    const reloaded = createStudioStore(second.client, sessions);
    await persistStudio(reloaded, sessions);
    expect(reloaded.getState()).toMatchObject({ step: 'plan', restored: true, planParams: { sparsity: 0.3, overrides: [null, 9] } });
    reloaded.getState().loadModel({ files, label: 'm' });
    const load = second.sent.at(-1) as Extract<StudioRequest, { type: 'load' }>;
    await second.emit({ type: 'loaded', requestId: load.requestId, label: 'm', denseParameters: 1, layers: 2, widths: [172, 172], format: 'base' });
    expect(second.sent.map((r) => r.type)).toEqual(['init', 'load', 'restore', 'plan']);
    // The refined plan goes back to the worker, binary weights intact, so the plan and the download survive a reload.
    const restore = second.sent[2] as Extract<StudioRequest, { type: 'restore' }>;
    expect(restore.refined?.params.sparsity).toBe(0.3);
    const weights = restore.refined?.plan.downWeights?.[0];
    expect(Object.prototype.toString.call(weights)).toBe('[object Float32Array]');
    expect(Array.from(weights!)).toEqual([0.5, -1]);
    expect((second.sent[3] as Extract<StudioRequest, { type: 'plan' }>).params.overrides).toEqual([null, 9]);
    expect(sessionOf(reloaded.getState()).data).toEqual(sessions.saved!.data);
    expect(restoredState({ ...sessions.saved!, step: 'nonsense' }).step).toBe('model');
  });

  it('writes checkpoints that arrive faster than the save delay, says so only once written, and offers Resume after a reload', async () => {
    const sessions = memorySessions();
    const first = fakeClient();
    const store = createStudioStore(first.client, sessions);
    await persistStudio(store, sessions);
    store.getState().loadModel({ files, label: 'm' });
    await first.emit({ type: 'loaded', requestId: (first.sent.at(-1) as { requestId: number }).requestId, label: 'm', denseParameters: 1, layers: 2, widths: [172, 172], format: 'base' });
    store.getState().runCalibration();
    const cal = first.sent.at(-1) as Extract<StudioRequest, { type: 'calibrate' }>;
    const checkpoint = (nextSample: number) => ({ version: 1, samplesKey: 'k', totalSamples: 20, gramPasses: [[0], [1]], pass: 1, nextSample, stats: { layers: [], tokens: 0, samples: 0 } }) as never;
    // One checkpoint every 100 ms: a debounced write would never happen while they keep coming.
    for (let n = 0; n < 6; n++) {
      await first.emit({ type: 'checkpoint', checkpoint: checkpoint(2 * n) });
      if (n === 0) expect(store.getState().calibration.saved).toBeNull(); // not written yet
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sessions.saved?.checkpoint).toMatchObject({ pass: 1 });
    const written = (sessions.saved!.checkpoint as unknown as { nextSample: number }).nextSample;
    expect(written).toBeGreaterThan(0);
    // Pass 1 of 2 passes over 20 samples: 20 + nextSample of 40.
    expect(store.getState().calibration.saved).toEqual({ done: 20 + written, total: 40 });
    expect(cal.type).toBe('calibrate');

    const second = fakeClient();
    const reloaded = createStudioStore(second.client, sessions);
    await persistStudio(reloaded, sessions);
    expect(reloaded.getState().calibration).toMatchObject({ status: 'cancelled', saved: { done: 20 + written, total: 40 } });
    reloaded.getState().loadModel({ files, label: 'm' });
    await second.emit({ type: 'loaded', requestId: (second.sent.at(-1) as { requestId: number }).requestId, label: 'm', denseParameters: 1, layers: 2, widths: [172, 172], format: 'base' });
    expect(second.sent.map((r) => r.type)).toEqual(['init', 'load', 'restore']);
    expect((second.sent[2] as Extract<StudioRequest, { type: 'restore' }>).checkpoint).toMatchObject({ nextSample: written });
    reloaded.getState().runCalibration();
    const resumed = second.sent.at(-1) as Extract<StudioRequest, { type: 'calibrate' }>;
    expect(resumed.request).toEqual(cal.request);
    await second.emit({ type: 'resumed', requestId: resumed.requestId, checkpoint: checkpoint(written) });
    expect(reloaded.getState().calibration.resumedFrom).toEqual({ done: 20 + written, total: 40 });
  });
});
