/**
 * The studio's state: the flow (model → character → settings → calibration → plan → compare → chat →
 * export), what each step produced, and its errors in the writer's words. The work happens in the studio
 * worker; this store sequences it and saves the session (src/store/studio-persist.ts).
 */
import { create, type StoreApi, type UseBoundStore } from 'zustand';
import type { CalibrationCheckpoint } from '../calibration/engine-checkpoint';
import { examplePersonas } from '../calibration/question-bank';
import type { AllocationKind } from '../pruning/allocation';
import type { PruneMethod } from '../pruning/plan-builder';
import { SPARSITY_RANGE, sparsityProblem } from '../pruning/sparsity-range';
import type { PruneRequest } from '../pipeline/request';
import type { BackendInfo } from '../worker/protocol';
import type { StudioClient } from '../worker/studio-client';
import type { StopReason } from '../model/generate';
import {
  samePlanParams,
  type CalibrationData,
  type CompareRow,
  type ExportResult,
  type GgufResult,
  type PlanParams,
  type PlanSummary,
  type RefinedPlan,
  type StudioEvent,
  type StudioModelSource,
  type StudioProgress,
  type TrialParams,
} from '../worker/studio-protocol';
import type { GgufWeightType } from '../gguf/llama-gguf';
import type { SavedSession, SessionStore } from './studio-persist';

export const STUDIO_STEPS = ['model', 'character', 'settings', 'calibrate', 'plan', 'compare', 'chat', 'export'] as const;
export type StudioStep = (typeof STUDIO_STEPS)[number];

export interface StudioSettings {
  samples: number;
  filter: boolean;
  synthesis: boolean;
  method: PruneMethod;
  allocation: AllocationKind;
  /** Fraction of FFN channels to remove. */
  sparsity: number;
  /** Length of each synthesised answer, in tokens. */
  answerTokens: number;
}

/**
 * Defaults that finish in seconds on the built-in model (bench/studio.ts measures them): a modest number of
 * short answers is enough for 172-channel layers, and the persona method is the product's best.
 */
export const DEFAULT_SETTINGS: StudioSettings = { samples: 12, filter: true, synthesis: true, method: 'persona', allocation: 'uniform', sparsity: 0.4, answerTokens: 32 };

export type CalibrationStatus = 'idle' | 'running' | 'cancelling' | 'cancelled' | 'done';

export interface ModelState {
  status: 'idle' | 'loading' | 'ready' | 'error';
  label: string;
  denseParameters?: number;
  widths?: number[];
  format?: 'chat' | 'base';
  /** Fields of config.json the graph contradicted (the graph's values are used). */
  configWarnings?: string[];
}

export type ExportStep = 'build' | 'verify' | 'zip';

/** "Try the model" in step 1: a prompt continued by the loaded model, streamed. */
export interface TrialState {
  params: TrialParams;
  running: boolean;
  /** The prompt of the current or last run, shown before its continuation. */
  prompt: string;
  output: string;
  last: { tokens: number; elapsedMs: number; stopReason: StopReason } | null;
}

export interface StudioState {
  step: StudioStep;
  backend: BackendInfo | null;
  model: ModelState;
  persona: { name: string; description: string; examples: string };
  settings: StudioSettings;
  calibration: {
    status: CalibrationStatus;
    progress: StudioProgress | null;
    answers: string[];
    timings: Record<string, number> | null;
    accumulator: 'gpu' | 'cpu' | null;
    /** The latest checkpoint written to the saved session (samples analysed out of all passes): a reload resumes from there. */
    saved: { done: number; total: number } | null;
    /** Where this run resumed from (a checkpoint of an interrupted run), if it did. */
    resumedFrom: { done: number; total: number } | null;
  };
  checkpoint: CalibrationCheckpoint | null;
  data: CalibrationData | null;
  /** The plan shown: a preview, or the refined plan when it is for planParams. */
  plan: PlanSummary | null;
  planParams: PlanParams | null;
  /** The latest refined plan (the pipeline's full prune for its params): what the download exports. Saved. */
  refined: RefinedPlan | null;
  /** Refining the shown preview into the plan to download: progress and cancel. */
  refine: { status: 'idle' | 'running' | 'cancelling' | 'cancelled'; progress: StudioProgress | null };
  compare: { levels: number[]; prompt: string; rows: CompareRow[]; running: boolean };
  chat: { input: string; dense: string; pruned: string; running: number };
  trial: TrialState;
  exported: { steps: Partial<Record<ExportStep, 'running' | 'done'>>; result: Omit<ExportResult, 'files' | 'zip'> | null; running: boolean };
  /** The GGUF conversion of the exported folder: progress in tensors, then the file's name, type, architecture and size. */
  gguf: { running: boolean; progress: { done: number; total: number } | null; result: (Omit<GgufResult, 'data'> & { bytes: number }) | null };
  /** Errors where they happened, in words for the writer. */
  errors: Partial<Record<StudioStep, string>>;
  restored: boolean;

  goTo(step: StudioStep): void;
  loadModel(source: StudioModelSource): void;
  updateTrial(patch: Partial<TrialParams>): void;
  runTrial(): void;
  stopTrial(): void;
  setPersona(patch: Partial<StudioState['persona']>): void;
  pickExample(id: string): void;
  updateSettings(patch: Partial<StudioSettings>): void;
  runCalibration(): void;
  cancelCalibration(): void;
  setSparsity(sparsity: number): void;
  overrideLayer(layer: number, kept: number | null): void;
  /** Runs the pipeline's full prune for the shown plan's params (reconstruction, search). */
  refinePlan(): void;
  cancelRefine(): void;
  setCompare(patch: Partial<Pick<StudioState['compare'], 'levels' | 'prompt'>>): void;
  runCompare(): void;
  setChatInput(text: string): void;
  sendChat(): void;
  /** Builds the download; `quantize` also quantizes the weights to int4 MatMulNBits. */
  runExport(options?: { quantize?: 'int4' }): void;
  /** The last export's files and zip (kept out of the state: they are large and not saved). */
  exportFiles(): ExportResult | null;
  /** Converts the last export to GGUF for llama.cpp. */
  runGgufExport(ggufType: GgufWeightType): void;
  /** The last GGUF file's bytes (kept out of the state like exportFiles). */
  ggufFile(): GgufResult | null;
  reset(): Promise<void>;
}

/** The request the settings and character describe (what the CLI's flags would say). */
export function pruneRequestOf(persona: StudioState['persona'], settings: StudioSettings): PruneRequest {
  return {
    persona: persona.description,
    method: settings.method,
    allocation: settings.allocation,
    sparsity: settings.sparsity,
    samples: settings.samples,
    filter: settings.filter,
    synthesis: settings.synthesis,
    sampling: { maxNewTokens: settings.answerTokens, temperature: 0.7, topP: 0.9 },
    userExamples: persona.examples.split('\n').map((l) => l.trim()).filter(Boolean),
  };
}

/** What is wrong with the character or the settings before a run, in plain words (null when fine). */
export function validateRun(state: Pick<StudioState, 'persona' | 'settings' | 'model'>): string | null {
  if (state.model.status !== 'ready') return 'The model is not loaded yet. Go back to step 1 and load it.';
  if (state.persona.description.trim().length < 10) return 'Describe your character in at least a sentence (who they are, how they talk).';
  const { samples, sparsity, answerTokens } = state.settings;
  if (!Number.isInteger(samples) || samples < 2 || samples > 120) return 'Choose between 2 and 120 practice questions.';
  if (sparsityProblem(sparsity)) return sparsityMessage;
  if (!Number.isInteger(answerTokens) || answerTokens < 4 || answerTokens > 256) return 'Answer length must be between 4 and 256 tokens.';
  return null;
}

/** The one message for a removal share outside SPARSITY_RANGE, in the writer's words. */
export const sparsityMessage = `Choose how much to remove between ${Math.round(SPARSITY_RANGE.min * 100)}% and ${Math.round(SPARSITY_RANGE.max * 100)}%.`;

/** Worker messages rewritten for a writer, with what to do next. */
export function friendlyError(step: StudioStep, message: string): string {
  if (/not found at|HTTP 404|model file/i.test(message)) return `The model files could not be found (${message}). If this is the built-in model, run \`npm start\`, which prepares it.`;
  if (/GPU device was lost|device lost/i.test(message)) return 'The graphics card stopped responding. Reload the page; your work is saved and will come back.';
  if (/out of memory|allocation failed|Array buffer allocation/i.test(message)) return 'The browser ran out of memory. Try fewer practice questions, or a smaller model.';
  const what: Record<StudioStep, string> = {
    model: 'The model could not be loaded',
    character: 'The character could not be used',
    settings: 'These settings cannot run',
    calibrate: 'The analysis stopped',
    plan: 'The plan could not be made',
    compare: 'The comparison stopped',
    chat: 'The chat stopped',
    export: 'The download could not be prepared',
  };
  return `${what[step]}: ${message}. Try again; if it keeps failing, reload the page (your work is saved).`;
}

/** How much of a calibration a checkpoint holds: samples analysed over every pass (Gram passes included). */
export function savedProgress(checkpoint: CalibrationCheckpoint): { done: number; total: number } {
  const passes = Math.max(1, checkpoint.gramPasses.length);
  return { done: checkpoint.pass * checkpoint.totalSamples + checkpoint.nextSample, total: passes * checkpoint.totalSamples };
}

const planParamsOf = (settings: StudioSettings): PlanParams => ({ method: settings.method, allocation: settings.allocation, sparsity: settings.sparsity, overrides: [] });

export function createStudioStore(client: StudioClient, sessions: SessionStore): UseBoundStore<StoreApi<StudioState>> {
  let calibrateId = 0;
  let planId = 0;
  let refineId = 0;
  let compareId = 0;
  let exportId = 0;
  const chatIds = new Map<number, 'dense' | 'pruned'>();
  let lastExport: ExportResult | null = null;
  let ggufId = 0;
  let lastGguf: GgufResult | null = null;
  let loadId = 0;
  let trialId = 0;

  const store = create<StudioState>()((set, get) => {
    const fail = (step: StudioStep, message: string) => set((s) => ({ errors: { ...s.errors, [step]: friendlyError(step, message) } }));
    const clearError = (step: StudioStep) => set((s) => ({ errors: { ...s.errors, [step]: undefined } }));
    const requestPlan = (params: PlanParams) => {
      planId = client.nextId();
      set({ planParams: params });
      client.send({ type: 'plan', requestId: planId, params });
    };

    const onEvent = (event: StudioEvent) => {
      switch (event.type) {
        case 'backend':
          return set({ backend: event.backend });
        case 'loaded': {
          if (event.requestId !== loadId) return;
          set({ model: { status: 'ready', label: event.label, denseParameters: event.denseParameters, widths: event.widths, format: event.format, configWarnings: event.configWarnings ?? [] } });
          clearError('model');
          const { data, checkpoint, planParams, refined } = get();
          if (data || checkpoint) client.send({ type: 'restore', ...(data && { data }), ...(refined && { refined }), ...(checkpoint && { checkpoint }) });
          if (data && planParams) requestPlan(planParams);
          return;
        }
        case 'progress':
          if (event.requestId === refineId) return set((s) => ({ refine: { ...s.refine, progress: event.progress } }));
          if (event.requestId !== calibrateId) return;
          return set((s) => ({ calibration: { ...s.calibration, progress: event.progress } }));
        case 'answer':
          if (event.requestId !== calibrateId) return;
          return set((s) => ({ calibration: { ...s.calibration, answers: [...s.calibration.answers, event.text].slice(-6) } }));
        case 'calibrated':
          if (event.requestId !== calibrateId) return;
          return set((s) => ({
            calibration: { ...s.calibration, status: 'done', timings: event.timings, accumulator: event.accumulator },
            data: event.data,
            plan: event.plan,
            planParams: event.plan.params,
            refined: event.refined,
            refine: { status: 'idle', progress: null },
            checkpoint: null,
            compare: { ...s.compare, rows: [] },
            step: 'plan',
          }));
        case 'refined':
          if (event.requestId !== refineId) return;
          // The writer may have moved on while it ran: show it only if it is still the plan asked for.
          return set((s) => ({
            refined: event.refined,
            refine: { status: 'idle', progress: null },
            ...(s.planParams && samePlanParams(s.planParams, event.plan.params) && { plan: event.plan }),
          }));
        case 'resumed':
          if (event.requestId !== calibrateId) return;
          return set((s) => ({ calibration: { ...s.calibration, resumedFrom: savedProgress(event.checkpoint) } }));
        case 'checkpoint':
          // `calibration.saved` follows once the session with it is written (persistStudio).
          return set({ checkpoint: event.checkpoint });
        case 'cancelled':
          if (event.requestId === calibrateId) set((s) => ({ calibration: { ...s.calibration, status: 'cancelled' } }));
          if (event.requestId === compareId) set((s) => ({ compare: { ...s.compare, running: false } }));
          if (event.requestId === refineId) set({ refine: { status: 'cancelled', progress: null } });
          return;
        case 'plan':
          if (event.requestId !== planId) return;
          clearError('plan');
          return set({ plan: event.plan });
        case 'compare-row':
          if (event.requestId !== compareId) return;
          return set((s) => ({ compare: { ...s.compare, rows: [...s.compare.rows, event.row] } }));
        case 'compare-done':
          if (event.requestId !== compareId) return;
          return set((s) => ({ compare: { ...s.compare, running: false } }));
        case 'token': {
          if (event.requestId === trialId) return set((s) => ({ trial: { ...s.trial, output: s.trial.output + event.text } }));
          const side = chatIds.get(event.requestId);
          if (!side) return;
          return set((s) => ({ chat: { ...s.chat, [side]: s.chat[side] + event.text } }));
        }
        case 'chat-done':
          if (!chatIds.delete(event.requestId)) return;
          return set((s) => ({ chat: { ...s.chat, running: s.chat.running - 1 } }));
        case 'generated':
          if (event.requestId !== trialId) return;
          return set((s) => ({ trial: { ...s.trial, running: false, last: { tokens: event.tokens, elapsedMs: event.elapsedMs, stopReason: event.stopReason } } }));
        case 'export-progress':
          if (event.requestId !== exportId) return;
          return set((s) => ({ exported: { ...s.exported, steps: { ...s.exported.steps, [event.step]: event.state } } }));
        case 'exported': {
          if (event.requestId !== exportId) return;
          lastExport = event.result;
          const { files: _files, zip: _zip, ...result } = event.result;
          return set({ exported: { steps: { build: 'done', verify: 'done', zip: 'done' }, result, running: false } });
        }
        case 'gguf-progress':
          if (event.requestId !== ggufId) return;
          return set((s) => ({ gguf: { ...s.gguf, progress: { done: event.done, total: event.total } } }));
        case 'exported-gguf': {
          if (event.requestId !== ggufId) return;
          lastGguf = event.result;
          const { data, ...result } = event.result;
          return set({ gguf: { running: false, progress: null, result: { ...result, bytes: data.byteLength } } });
        }
        case 'error': {
          const { requestId, message } = event;
          if (requestId === loadId) {
            set((s) => ({ model: { ...s.model, status: 'error' } }));
            return fail('model', message);
          }
          if (requestId === calibrateId) {
            set((s) => ({ calibration: { ...s.calibration, status: 'idle' } }));
            return fail('calibrate', message);
          }
          if (requestId === planId) return fail('plan', message);
          if (requestId === refineId) {
            set({ refine: { status: 'idle', progress: null } });
            return fail('plan', message);
          }
          if (requestId === trialId) {
            set((s) => ({ trial: { ...s.trial, running: false } }));
            return fail('model', message);
          }
          if (requestId === compareId) {
            set((s) => ({ compare: { ...s.compare, running: false } }));
            return fail('compare', message);
          }
          if (requestId !== undefined && chatIds.delete(requestId)) {
            set((s) => ({ chat: { ...s.chat, running: s.chat.running - 1 } }));
            return fail('chat', message);
          }
          if (requestId === exportId) {
            set((s) => ({ exported: { ...s.exported, running: false } }));
            return fail('export', message);
          }
          if (requestId === ggufId) {
            set({ gguf: { running: false, progress: null, result: null } });
            return fail('export', message);
          }
          return fail(get().step, message);
        }
      }
    };
    client.subscribe(onEvent);

    const examples = examplePersonas();
    return {
      step: 'model',
      backend: null,
      model: { status: 'idle', label: '' },
      persona: { name: examples[0]?.name ?? '', description: examples[0]?.description ?? '', examples: '' },
      settings: { ...DEFAULT_SETTINGS },
      calibration: { status: 'idle', progress: null, answers: [], timings: null, accumulator: null, saved: null, resumedFrom: null },
      checkpoint: null,
      data: null,
      plan: null,
      planParams: null,
      refined: null,
      refine: { status: 'idle', progress: null },
      compare: { levels: [0.25, 0.5], prompt: 'Once upon a time', rows: [], running: false },
      chat: { input: 'Tell me about your day.', dense: '', pruned: '', running: 0 },
      trial: { params: { prompt: '', maxNewTokens: 60, temperature: 0, seed: 1 }, running: false, prompt: '', output: '', last: null },
      exported: { steps: {}, result: null, running: false },
      gguf: { running: false, progress: null, result: null },
      errors: {},
      restored: false,

      goTo: (step) => set({ step }),
      loadModel(source) {
        loadId = client.nextId();
        set({ model: { status: 'loading', label: source.label } });
        clearError('model');
        client.send({ type: 'load', requestId: loadId, source });
      },
      updateTrial: (patch) => set((s) => ({ trial: { ...s.trial, params: { ...s.trial.params, ...patch } } })),
      runTrial() {
        const { trial, model } = get();
        if (trial.running || model.status !== 'ready') return;
        clearError('model');
        trialId = client.nextId();
        set({ trial: { ...trial, running: true, prompt: trial.params.prompt, output: '', last: null } });
        client.send({ type: 'generate', requestId: trialId, params: trial.params });
      },
      stopTrial: () => client.send({ type: 'stop' }),
      setPersona: (patch) => set((s) => ({ persona: { ...s.persona, ...patch } })),
      pickExample(id) {
        const found = examples.find((p) => p.id === id);
        if (found) set((s) => ({ persona: { ...s.persona, name: found.name, description: found.description } }));
      },
      updateSettings: (patch) => set((s) => ({ settings: { ...s.settings, ...patch } })),
      runCalibration() {
        const state = get();
        const problem = validateRun(state);
        if (problem) return fail('calibrate', problem);
        if (state.calibration.status === 'running') return;
        clearError('calibrate');
        calibrateId = client.nextId();
        set({ step: 'calibrate', calibration: { status: 'running', progress: null, answers: [], timings: null, accumulator: null, saved: null, resumedFrom: null } });
        client.send({ type: 'calibrate', requestId: calibrateId, request: pruneRequestOf(state.persona, state.settings) });
      },
      cancelCalibration() {
        if (get().calibration.status !== 'running') return;
        set((s) => ({ calibration: { ...s.calibration, status: 'cancelling' } }));
        client.send({ type: 'cancel' });
      },
      setSparsity(sparsity) {
        if (sparsityProblem(sparsity)) return fail('plan', sparsityMessage);
        const params = get().planParams ?? planParamsOf(get().settings);
        set((s) => ({ settings: { ...s.settings, sparsity } }));
        requestPlan({ ...params, sparsity, overrides: [] });
      },
      overrideLayer(layer, kept) {
        const params = get().planParams;
        if (!params) return;
        const overrides = [...params.overrides];
        while (overrides.length <= layer) overrides.push(null);
        overrides[layer] = kept;
        requestPlan({ ...params, overrides });
      },
      refinePlan() {
        const { planParams, refine, calibration } = get();
        if (!planParams || refine.status === 'running' || refine.status === 'cancelling' || calibration.status === 'running') return;
        clearError('plan');
        refineId = client.nextId();
        set({ refine: { status: 'running', progress: null } });
        client.send({ type: 'refine', requestId: refineId, params: planParams });
      },
      cancelRefine() {
        if (get().refine.status !== 'running') return;
        set((s) => ({ refine: { ...s.refine, status: 'cancelling' } }));
        client.send({ type: 'cancel' });
      },
      setCompare: (patch) => set((s) => ({ compare: { ...s.compare, ...patch } })),
      runCompare() {
        const { planParams, compare } = get();
        if (!planParams) return fail('compare', 'make a plan first');
        const levels = [...new Set(compare.levels)].filter((l) => l === 0 || !sparsityProblem(l)).sort((a, b) => a - b);
        if (levels.length === 0) return fail('compare', 'pick at least one level');
        clearError('compare');
        compareId = client.nextId();
        set({ compare: { ...compare, levels, rows: [], running: true } });
        client.send({
          type: 'compare',
          requestId: compareId,
          prompt: compare.prompt,
          // 0% is the dense model (the worker keeps every channel), measured through the same path as the plans.
          levels: levels.map((sparsity) => ({ label: `${Math.round(sparsity * 100)}%`, params: { ...planParams, sparsity, overrides: [] } })),
        });
      },
      setChatInput: (input) => set((s) => ({ chat: { ...s.chat, input } })),
      sendChat() {
        const { chat, planParams, persona } = get();
        if (chat.running || !chat.input.trim()) return;
        clearError('chat');
        set({ chat: { ...chat, dense: '', pruned: '', running: planParams ? 2 : 1 } });
        const dense = client.nextId();
        chatIds.set(dense, 'dense');
        client.send({ type: 'chat', requestId: dense, text: chat.input, persona: persona.description, params: null, maxNewTokens: 64 });
        if (planParams) {
          const pruned = client.nextId();
          chatIds.set(pruned, 'pruned');
          client.send({ type: 'chat', requestId: pruned, text: chat.input, persona: persona.description, params: planParams, maxNewTokens: 64 });
        }
      },
      runExport(options = {}) {
        const { planParams, persona, plan } = get();
        if (!planParams) return fail('export', 'make a plan first');
        if (plan?.kind !== 'refined') return fail('export', 'the plan shown is a preview; refine it first (step 5)');
        clearError('export');
        exportId = client.nextId();
        lastExport = null;
        lastGguf = null;
        set({ exported: { steps: {}, result: null, running: true }, gguf: { running: false, progress: null, result: null } });
        const slug = (persona.name || 'persona').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'persona';
        client.send({ type: 'export', requestId: exportId, params: planParams, folderName: `${slug}-pruned-${Math.round(planParams.sparsity * 100)}${options.quantize ? `-${options.quantize}` : ''}`, ...(options.quantize && { quantize: options.quantize }) });
      },
      exportFiles: () => lastExport,
      runGgufExport(ggufType) {
        if (!lastExport) return fail('export', 'prepare the download first');
        clearError('export');
        ggufId = client.nextId();
        lastGguf = null;
        set({ gguf: { running: true, progress: null, result: null } });
        // structured clone copies the files, so the folder stays downloadable while the worker converts
        client.send({ type: 'export-gguf', requestId: ggufId, files: lastExport.files, fileName: `${lastExport.folderName}-${ggufType}.gguf`, ggufType });
      },
      ggufFile: () => lastGguf,
      async reset() {
        await sessions.clear();
        location.reload();
      },
    };
  });
  return store;
}

/** What the session saves (everything but bytes of exports and transient progress). */
export function sessionOf(state: StudioState): SavedSession {
  return {
    version: 2,
    step: state.step,
    persona: state.persona,
    settings: { ...state.settings },
    data: state.data,
    planParams: state.planParams,
    refined: state.refined,
    compare: { levels: state.compare.levels, prompt: state.compare.prompt, rows: state.compare.rows },
    checkpoint: state.checkpoint,
    chatInput: state.chat.input,
  };
}

/** The saved session merged into a fresh state (unknown or stale fields are ignored). */
export function restoredState(saved: SavedSession): Partial<StudioState> {
  const step = (STUDIO_STEPS as readonly string[]).includes(saved.step) ? (saved.step as StudioStep) : 'model';
  return {
    step,
    persona: saved.persona,
    settings: { ...DEFAULT_SETTINGS, ...(saved.settings as Partial<StudioSettings>) },
    data: saved.data,
    planParams: saved.planParams,
    refined: saved.refined ?? null,
    checkpoint: saved.checkpoint,
    compare: { ...saved.compare, running: false },
    chat: { input: saved.chatInput, dense: '', pruned: '', running: 0 },
    ...(saved.data && { calibration: { status: 'done' as const, progress: null, answers: [], timings: null, accumulator: null, saved: null, resumedFrom: null } }),
    ...(!saved.data &&
      saved.checkpoint && { calibration: { status: 'cancelled' as const, progress: null, answers: [], timings: null, accumulator: null, saved: savedProgress(saved.checkpoint), resumedFrom: null } }),
    restored: true,
  };
}

/**
 * Restores the saved session, then saves after every change (at once, then at most every 300 ms, of the state then).
 * Once a write holding the running calibration's checkpoint is done, the progress says it is saved.
 */
export async function persistStudio(store: UseBoundStore<StoreApi<StudioState>>, sessions: SessionStore): Promise<void> {
  const saved = await sessions.load().catch(() => undefined);
  if (saved) store.setState(restoredState(saved));
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** A change came while the last write's 300 ms were running: write once more when they end. */
  let dirty = false;
  const refs = (s: StudioState) => [s.step, s.persona, s.settings, s.data, s.planParams, s.refined, s.compare.levels, s.compare.prompt, s.compare.rows, s.checkpoint, s.chat.input];
  let last = refs(store.getState());
  store.subscribe((state) => {
    const next = refs(state);
    if (next.every((v, i) => v === last[i])) return;
    last = next;
    // A throttle, not a debounce: checkpoints arrive faster than 300 ms apart and must still be written. The
    // first change is written at once (a reload right after one edit keeps it), later ones at most every 300 ms.
    if (timer !== undefined) {
      dirty = true;
      return;
    }
    write();
  });
  function write() {
    dirty = false;
    const session = sessionOf(store.getState());
    sessions
      .save(session)
      .then(() => {
        const { checkpoint, calibration } = store.getState();
        if (session.checkpoint && checkpoint === session.checkpoint && calibration.status === 'running') {
          store.setState({ calibration: { ...calibration, saved: savedProgress(checkpoint) } });
        }
      })
      .catch(() => undefined);
    timer = setTimeout(() => {
      timer = undefined;
      if (dirty) write();
    }, 300);
  }
}
