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
import type { BackendInfo } from '../gpu/backend';
import { StudioCancelled, type StudioClient } from '../worker/studio-client';
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
function friendlyError(step: StudioStep, message: string): string {
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
function savedProgress(checkpoint: CalibrationCheckpoint): { done: number; total: number } {
  const passes = Math.max(1, checkpoint.gramPasses.length);
  return { done: checkpoint.pass * checkpoint.totalSamples + checkpoint.nextSample, total: passes * checkpoint.totalSamples };
}

const planParamsOf = (settings: StudioSettings): PlanParams => ({ method: settings.method, allocation: settings.allocation, sparsity: settings.sparsity, overrides: [] });

/** Marks a new request of one kind; the returned check says whether it is still the newest (older answers are dropped). */
function newest(): () => () => boolean {
  let latest = 0;
  return () => {
    const mine = ++latest;
    return () => mine === latest;
  };
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function createStudioStore(client: StudioClient, sessions: SessionStore): UseBoundStore<StoreApi<StudioState>> {
  const loads = newest();
  const plans = newest();
  const calibrations = newest();
  const refines = newest();
  const compares = newest();
  const trials = newest();
  const exports = newest();
  const ggufs = newest();
  let lastExport: ExportResult | null = null;
  let lastGguf: GgufResult | null = null;

  const store = create<StudioState>()((set, get) => {
    const fail = (step: StudioStep, message: string) => set((s) => ({ errors: { ...s.errors, [step]: friendlyError(step, message) } }));
    const clearError = (step: StudioStep) => set((s) => ({ errors: { ...s.errors, [step]: undefined } }));
    const requestPlan = (params: PlanParams) => {
      const live = plans();
      set({ planParams: params });
      client.plan(params).then(
        (plan) => {
          if (!live()) return;
          clearError('plan');
          set({ plan });
        },
        (error) => live() && fail('plan', messageOf(error)),
      );
    };
    const endChat = () => set((s) => ({ chat: { ...s.chat, running: s.chat.running - 1 } }));
    const chatSide = (side: 'dense' | 'pruned', params: PlanParams | null, text: string, persona: string) =>
      client
        .chat({ text, persona, params, maxNewTokens: 64 }, (piece) => set((s) => ({ chat: { ...s.chat, [side]: s.chat[side] + piece } })))
        .then(endChat, (error) => {
          endChat();
          fail('chat', messageOf(error));
        });

    client.onBackend((backend) => set({ backend }));
    // `calibration.saved` follows once the session with it is written (persistStudio).
    client.onCheckpoint((checkpoint) => set({ checkpoint }));
    client.onError((message) => fail(get().step, message));

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
        const live = loads();
        set({ model: { status: 'loading', label: source.label } });
        clearError('model');
        client.load(source).then(
          (loaded) => {
            if (!live()) return;
            set({ model: { status: 'ready', label: loaded.label, denseParameters: loaded.denseParameters, widths: loaded.widths, format: loaded.format, configWarnings: loaded.configWarnings ?? [] } });
            clearError('model');
            const { data, checkpoint, planParams, refined } = get();
            if (data || checkpoint) client.restore({ ...(data && { data }), ...(refined && { refined }), ...(checkpoint && { checkpoint }) });
            if (data && planParams) requestPlan(planParams);
          },
          (error) => {
            if (!live() || error instanceof StudioCancelled) return;
            set((s) => ({ model: { ...s.model, status: 'error' } }));
            fail('model', messageOf(error));
          },
        );
      },
      updateTrial: (patch) => set((s) => ({ trial: { ...s.trial, params: { ...s.trial.params, ...patch } } })),
      runTrial() {
        const { trial, model } = get();
        if (trial.running || model.status !== 'ready') return;
        clearError('model');
        const live = trials();
        set({ trial: { ...trial, running: true, prompt: trial.params.prompt, output: '', last: null } });
        client.generate(trial.params, (text) => live() && set((s) => ({ trial: { ...s.trial, output: s.trial.output + text } }))).then(
          ({ tokens, elapsedMs, stopReason }) => live() && set((s) => ({ trial: { ...s.trial, running: false, last: { tokens, elapsedMs, stopReason } } })),
          (error) => {
            if (!live()) return;
            set((s) => ({ trial: { ...s.trial, running: false } }));
            if (!(error instanceof StudioCancelled)) fail('model', messageOf(error));
          },
        );
      },
      stopTrial: () => client.stop(),
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
        const live = calibrations();
        set({ step: 'calibrate', calibration: { status: 'running', progress: null, answers: [], timings: null, accumulator: null, saved: null, resumedFrom: null } });
        const calibration = (patch: Partial<StudioState['calibration']>) => live() && set((s) => ({ calibration: { ...s.calibration, ...patch } }));
        client
          .calibrate(pruneRequestOf(state.persona, state.settings), {
            progress: (progress) => calibration({ progress }),
            answer: (text) => calibration({ answers: [...get().calibration.answers, text].slice(-6) }),
            resumed: (checkpoint) => calibration({ resumedFrom: savedProgress(checkpoint) }),
          })
          .then(
            (done) =>
              live() &&
              set((s) => ({
                calibration: { ...s.calibration, status: 'done', timings: done.timings, accumulator: done.accumulator },
                data: done.data,
                plan: done.plan,
                planParams: done.plan.params,
                refined: done.refined,
                refine: { status: 'idle', progress: null },
                checkpoint: null,
                compare: { ...s.compare, rows: [] },
                step: 'plan',
              })),
            (error) => {
              if (!live()) return;
              if (error instanceof StudioCancelled) return calibration({ status: 'cancelled' });
              calibration({ status: 'idle' });
              fail('calibrate', messageOf(error));
            },
          );
      },
      cancelCalibration() {
        if (get().calibration.status !== 'running') return;
        set((s) => ({ calibration: { ...s.calibration, status: 'cancelling' } }));
        client.cancel();
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
        const live = refines();
        set({ refine: { status: 'running', progress: null } });
        client.refine(planParams, (progress) => live() && set((s) => ({ refine: { ...s.refine, progress } }))).then(
          // The writer may have moved on while it ran: show it only if it is still the plan asked for.
          (done) =>
            live() &&
            set((s) => ({
              refined: done.refined,
              refine: { status: 'idle', progress: null },
              ...(s.planParams && samePlanParams(s.planParams, done.plan.params) && { plan: done.plan }),
            })),
          (error) => {
            if (!live()) return;
            if (error instanceof StudioCancelled) return set({ refine: { status: 'cancelled', progress: null } });
            set({ refine: { status: 'idle', progress: null } });
            fail('plan', messageOf(error));
          },
        );
      },
      cancelRefine() {
        if (get().refine.status !== 'running') return;
        set((s) => ({ refine: { ...s.refine, status: 'cancelling' } }));
        client.cancel();
      },
      setCompare: (patch) => set((s) => ({ compare: { ...s.compare, ...patch } })),
      runCompare() {
        const { planParams, compare } = get();
        if (!planParams) return fail('compare', 'make a plan first');
        const levels = [...new Set(compare.levels)].filter((l) => l === 0 || !sparsityProblem(l)).sort((a, b) => a - b);
        if (levels.length === 0) return fail('compare', 'pick at least one level');
        clearError('compare');
        const live = compares();
        set({ compare: { ...compare, levels, rows: [], running: true } });
        const stopped = () => set((s) => ({ compare: { ...s.compare, running: false } }));
        client
          .compare(
            // 0% is the dense model (the worker keeps every channel), measured through the same path as the plans.
            levels.map((sparsity) => ({ label: `${Math.round(sparsity * 100)}%`, params: { ...planParams, sparsity, overrides: [] } })),
            compare.prompt,
            (row) => live() && set((s) => ({ compare: { ...s.compare, rows: [...s.compare.rows, row] } })),
          )
          .then(
            () => live() && stopped(),
            (error) => {
              if (!live()) return;
              stopped();
              if (!(error instanceof StudioCancelled)) fail('compare', messageOf(error));
            },
          );
      },
      setChatInput: (input) => set((s) => ({ chat: { ...s.chat, input } })),
      sendChat() {
        const { chat, planParams, persona } = get();
        if (chat.running || !chat.input.trim()) return;
        clearError('chat');
        set({ chat: { ...chat, dense: '', pruned: '', running: planParams ? 2 : 1 } });
        void chatSide('dense', null, chat.input, persona.description);
        if (planParams) void chatSide('pruned', planParams, chat.input, persona.description);
      },
      runExport(options = {}) {
        const { planParams, persona, plan } = get();
        if (!planParams) return fail('export', 'make a plan first');
        if (plan?.kind !== 'refined') return fail('export', 'the plan shown is a preview; refine it first (step 5)');
        clearError('export');
        const live = exports();
        lastExport = null;
        lastGguf = null;
        set({ exported: { steps: {}, result: null, running: true }, gguf: { running: false, progress: null, result: null } });
        const slug = (persona.name || 'persona').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'persona';
        const folderName = `${slug}-pruned-${Math.round(planParams.sparsity * 100)}${options.quantize ? `-${options.quantize}` : ''}`;
        client
          .export({ params: planParams, folderName, ...(options.quantize && { quantize: options.quantize }) }, (step, state) => live() && set((s) => ({ exported: { ...s.exported, steps: { ...s.exported.steps, [step]: state } } })))
          .then(
            (exported) => {
              if (!live()) return;
              lastExport = exported;
              const { files: _files, zip: _zip, ...result } = exported;
              set({ exported: { steps: { build: 'done', verify: 'done', zip: 'done' }, result, running: false } });
            },
            (error) => {
              if (!live()) return;
              set((s) => ({ exported: { ...s.exported, running: false } }));
              fail('export', messageOf(error));
            },
          );
      },
      exportFiles: () => lastExport,
      runGgufExport(ggufType) {
        if (!lastExport) return fail('export', 'prepare the download first');
        clearError('export');
        const live = ggufs();
        lastGguf = null;
        set({ gguf: { running: true, progress: null, result: null } });
        // structured clone copies the files, so the folder stays downloadable while the worker converts
        client
          .exportGguf({ files: lastExport.files, fileName: `${lastExport.folderName}-${ggufType}.gguf`, ggufType }, (done, total) => live() && set((s) => ({ gguf: { ...s.gguf, progress: { done, total } } })))
          .then(
            (gguf) => {
              if (!live()) return;
              lastGguf = gguf;
              const { data, ...result } = gguf;
              set({ gguf: { running: false, progress: null, result: { ...result, bytes: data.byteLength } } });
            },
            (error) => {
              if (!live()) return;
              set({ gguf: { running: false, progress: null, result: null } });
              fail('export', messageOf(error));
            },
          );
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
