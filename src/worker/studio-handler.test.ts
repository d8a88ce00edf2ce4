import { describe, expect, it } from 'vitest';
import type { Backend } from '../gpu/backend';
import type { PersonaPipeline } from '../pipeline/persona-pipeline';
import type { PruneRequest } from '../pipeline/request';
import type { BuiltPlan } from '../pruning/plan-builder';
import type { BundleFiles } from '../sources/bundle-files';
import { connectStudio, StudioCancelled, type StudioPort } from './studio-client';
import { StudioHandler, type StudioHandlerDeps, type StudioPipeline, type StudioRuntime } from './studio-handler';
import type { StudioEvent } from './studio-protocol';

const WIDTHS = [4, 6];
const backend: Backend = { kind: 'wasm', info: { kind: 'wasm', reason: 'test', threads: 1 } };
const files = { label: 'unused' } as unknown as BundleFiles;

/** A plan keeping the first channels of each layer: round(width × (1 − sparsity)). */
function planAt(sparsity: number): BuiltPlan {
  const keep = WIDTHS.map((w) => Array.from({ length: Math.round(w * (1 - sparsity)) }, (_, c) => c));
  const kept = keep.map((k) => k.length);
  const size = { ffnParams: 1, totalParams: 1, flopsPerToken: 1, fileBytes: 1 };
  return { keep, method: 'activation', scores: WIDTHS.map((w) => new Float64Array(w)), estimates: { before: size, after: size, ffnSparsity: sparsity, keptPerLayer: kept } };
}

/** The model and pipeline seen by the handler, with what it did to them. */
function fakeModel() {
  const seen = { disposed: false, checkpoints: [] as unknown[], restored: [] as unknown[] };
  const runtime = {
    backend,
    hooks: {},
    configWarnings: ['hidden_size'],
    decodedModel: () => ({ model: {}, ffns: WIDTHS.map((intermediateSize) => ({ intermediateSize })) }),
    denseParameters: () => 1000,
    // Parameters after: one per kept channel, so the summary's totals are checkable.
    totals: (kept: readonly number[]) => ({ parameters: { before: 1000, after: kept.reduce((a, b) => a + b, 0) }, bytes: { before: 4000, after: 0 } }),
    addCheckpoint: (checkpoint: unknown) => void seen.checkpoints.push(checkpoint),
    dispose: async () => void (seen.disposed = true),
  } as unknown as StudioRuntime;
  const pipeline = {
    format: { kind: 'base' },
    questions: [],
    // persona 'wait' runs until cancelled; any other reports one step and returns the plan for its sparsity.
    async prune(request: PruneRequest, options: { signal?: AbortSignal; onProgress?: (p: { phase: string; done: number; total: number }) => void }) {
      options.onProgress?.({ phase: 'scoring', done: 1, total: 2 });
      if (request.persona === 'wait') {
        await new Promise((_, reject) => options.signal!.addEventListener('abort', () => reject(new DOMException('stopped', 'AbortError'))));
      }
      return { plan: planAt(request.sparsity), manifest: { sparsity: request.sparsity } };
    },
    replan: async (request: PruneRequest) => planAt(request.sparsity),
    heldCalibration: async () => ({}),
    restoreCalibration: (_request: PruneRequest, held: unknown) => void seen.restored.push(held),
  } as unknown as StudioPipeline & Pick<PersonaPipeline, 'prune'>;
  return { runtime, pipeline, seen };
}

/** The real client talking to a handler in this thread (each message structured-cloned, as postMessage does). */
function connect(deps: StudioHandlerDeps) {
  const port: StudioPort = { postMessage: (request) => void handler.receive(structuredClone(request)), onmessage: null, onerror: null };
  const events: StudioEvent[] = [];
  const handler = new StudioHandler(deps, (event) => {
    events.push(event);
    queueMicrotask(() => port.onmessage?.({ data: structuredClone(event) } as MessageEvent<StudioEvent>));
  });
  return { client: connectStudio(port, 'auto'), events };
}

const depsWith = (model: ReturnType<typeof fakeModel>): StudioHandlerDeps => ({ chooseBackend: async () => backend, open: async () => model });
const params = (sparsity: number) => ({ method: 'persona' as const, allocation: 'uniform' as const, sparsity, overrides: [] });
const noProgress = { progress: () => {}, answer: () => {}, resumed: () => {} };

describe('StudioHandler', () => {
  it('answers init with the backend and a load with the model; a request before the load fails with why', async () => {
    const { client } = connect(depsWith(fakeModel()));
    const backends: unknown[] = [];
    client.onBackend((b) => backends.push(b));
    await expect(client.plan(params(0.5))).rejects.toThrow('The model is not loaded yet.');
    const loaded = await client.load({ files, label: 'tiny' });
    expect(loaded).toEqual({ label: 'tiny', denseParameters: 1000, layers: 2, widths: WIDTHS, format: 'base', configWarnings: ['hidden_size'] });
    // Once chosen, then again for where the loaded model runs.
    expect(backends).toEqual([backend.info, backend.info]);
  });

  it('drops a load that a newer one overtook: it ends as cancelled and its model is disposed', async () => {
    const first = fakeModel();
    const second = fakeModel();
    const opening: ((model: ReturnType<typeof fakeModel>) => void)[] = [];
    const { client } = connect({ chooseBackend: async () => backend, open: () => new Promise((resolve) => opening.push(resolve)) });
    const older = client.load({ files, label: 'older' });
    const newer = client.load({ files, label: 'newer' });
    await expect.poll(() => opening.length).toBe(2);
    opening[1]!(second);
    expect((await newer).label).toBe('newer');
    opening[0]!(first);
    await expect(older).rejects.toBeInstanceOf(StudioCancelled);
    expect(first.seen.disposed).toBe(true);
    expect(second.seen.disposed).toBe(false);
  });

  it('calibrates with progress into the refined plan, refuses a second run while one runs, and cancels', async () => {
    const { client } = connect(depsWith(fakeModel()));
    await client.load({ files, label: 'm' });
    const progress: unknown[] = [];
    const waiting = client.calibrate({ persona: 'wait', sparsity: 0.5 }, { ...noProgress, progress: (p) => progress.push(p) });
    await expect(client.calibrate({ persona: 'A pirate.', sparsity: 0.5 }, noProgress)).rejects.toThrow('An analysis or refinement is already running.');
    await expect(client.refine(params(0.5), () => {})).rejects.toThrow('Run the calibration first.');
    client.cancel();
    await expect(waiting).rejects.toBeInstanceOf(StudioCancelled);
    expect(progress).toEqual([expect.objectContaining({ phase: 'scoring', done: 1, total: 2 })]);

    const done = await client.calibrate({ persona: 'A pirate.', sparsity: 0.5 }, noProgress);
    expect(done.data.request).toEqual({ persona: 'A pirate.', sparsity: 0.5 });
    expect(done.refined.params).toEqual(params(0.5));
    expect(done.accumulator).toBe('cpu');
    expect(done.timings.total).toBeGreaterThanOrEqual(0);
    // Widths 4 and 6 at 50%: 2 and 3 kept, 5 parameters by the runtime's count.
    expect(done.plan).toMatchObject({ kind: 'refined', keptPerLayer: [2, 3], widths: WIDTHS, totals: { parameters: { before: 1000, after: 5 } } });

    // The refined plan for its own params, a preview for any other; only the refined one exports.
    expect((await client.plan(params(0.5))).kind).toBe('refined');
    const preview = await client.plan(params(0.25));
    expect(preview).toMatchObject({ kind: 'preview', keptPerLayer: [3, 5] });
    await expect(client.export({ params: params(0.25), folderName: 'x' }, () => {})).rejects.toThrow('the plan shown is a preview; refine it first (step 5)');

    const refined = await client.refine(params(0.25), () => {});
    expect(refined.plan).toMatchObject({ kind: 'refined', keptPerLayer: [3, 5] });
    expect((await client.plan(params(0.25))).kind).toBe('refined');
  });

  it('restores saved statistics into the pipeline and a checkpoint into the runtime', async () => {
    const model = fakeModel();
    const { client } = connect(depsWith(model));
    await client.load({ files, label: 'm' });
    const data = { request: { persona: 'A pirate.', sparsity: 0.4 } };
    const checkpoint = { version: 1, samplesKey: 'k', totalSamples: 2, gramPasses: [], pass: 0, nextSample: 1, stats: { layers: [], tokens: 0, samples: 0 } };
    client.restore({ data, checkpoint } as never);
    // A refine needs the restored statistics; it answers only after the restore was handled.
    const refined = await client.refine(params(0.4), () => {});
    expect(refined.refined.params.sparsity).toBe(0.4);
    expect(model.seen.restored).toEqual([data]);
    expect(model.seen.checkpoints).toEqual([checkpoint]);
  });
});
