import { create } from 'zustand';
import type { BundleFiles } from '../model/sources/bundle-files';
import { createRuntimeClient, type RuntimeClient } from '../worker/client';
import type { BackendInfo, BackendPreference, ModelInfo, RuntimeError, StopReason, WorkerEvent } from '../worker/protocol';

export const BUILTIN_MODEL_URL = '/models/stories260K/';

export type ModelStatus =
  | { state: 'none' }
  | { state: 'loading'; file?: string; loaded?: number; total?: number }
  | { state: 'loaded'; model: ModelInfo }
  | { state: 'error' };

export interface GenerationSettings {
  prompt: string;
  maxNewTokens: number;
  temperature: number;
  seed: number;
}

export interface LastRun {
  tokens: number;
  stopReason: StopReason;
  elapsedMs: number;
}

interface RuntimeState {
  backend: BackendInfo | null;
  modelUrl: string;
  modelStatus: ModelStatus;
  settings: GenerationSettings;
  generating: boolean;
  /** The prompt of the current or last run, shown before its continuation. */
  outputPrompt: string;
  /** Generated text only. */
  output: string;
  lastRun: LastRun | null;
  /** A message for the writer, not a stack trace. */
  error: string | null;

  init(preference: BackendPreference): void;
  selectModel(url: string): void;
  loadModel(): void;
  /** Loads a model the sources worker fetched (src/store/sources.ts); `label` names it in the status. */
  loadFiles(files: BundleFiles, label: string): void;
  generate(): void;
  stop(): void;
  updateSettings(patch: Partial<GenerationSettings>): void;
}

let client: RuntimeClient | undefined;
let loadRequest = 0;
let generateRequest = 0;

export const useRuntime = create<RuntimeState>()((set, get) => {
  const onEvent = (event: WorkerEvent) => {
    switch (event.type) {
      case 'backend':
        return set({ backend: event.backend });
      case 'load-progress':
        if (event.requestId !== loadRequest) return;
        return set({ modelStatus: { state: 'loading', file: event.file, loaded: event.loaded, total: event.total } });
      case 'loaded':
        if (event.requestId !== loadRequest) return;
        return set({ modelStatus: { state: 'loaded', model: event.model }, error: null });
      case 'token':
        if (event.requestId !== generateRequest) return;
        return set((state) => ({ output: state.output + event.text }));
      case 'done':
        if (event.requestId !== generateRequest) return;
        return set((state) => ({
          output: state.output + event.text,
          generating: false,
          lastRun: { tokens: event.tokens, stopReason: event.stopReason, elapsedMs: event.elapsedMs },
        }));
      case 'error': {
        const error = describeError(event.error, get().modelUrl);
        if (event.requestId === undefined) return set({ error, generating: false });
        if (event.requestId === loadRequest) return set({ error, modelStatus: { state: 'error' } });
        if (event.requestId === generateRequest) return set({ error, generating: false });
      }
    }
  };

  return {
    backend: null,
    modelUrl: BUILTIN_MODEL_URL,
    modelStatus: { state: 'none' },
    settings: { prompt: '', maxNewTokens: 60, temperature: 0, seed: 1 },
    generating: false,
    outputPrompt: '',
    output: '',
    lastRun: null,
    error: null,

    init(preference) {
      if (client) return;
      client = createRuntimeClient(preference);
      client.subscribe(onEvent);
    },
    selectModel(url) {
      set({ modelUrl: url });
    },
    loadModel() {
      if (!client) return;
      loadRequest = client.load(get().modelUrl);
      set({ modelStatus: { state: 'loading' }, error: null });
    },
    loadFiles(files, label) {
      if (!client) return;
      loadRequest = client.loadFiles(files, label);
      set({ modelStatus: { state: 'loading' }, error: null });
    },
    generate() {
      if (!client || get().generating) return;
      const { prompt, maxNewTokens, temperature, seed } = get().settings;
      generateRequest = client.generate({ prompt, maxNewTokens, temperature, seed });
      set({ generating: true, outputPrompt: prompt, output: '', lastRun: null, error: null });
    },
    stop() {
      client?.stop();
    },
    updateSettings(patch) {
      set((state) => ({ settings: { ...state.settings, ...patch } }));
    },
  };
});

function describeError(error: RuntimeError, modelUrl: string): string {
  switch (error.code) {
    case 'model-missing':
      return modelUrl === BUILTIN_MODEL_URL
        ? 'The built-in model is missing: run `npm start`, which prepares it.'
        : `The model folder ${modelUrl} has no ${error.file}.`;
    case 'no-model':
      return 'Load a model first.';
    case 'busy':
      return 'Wait for the current generation to finish, or press Stop.';
    case 'load-failed':
      return `The model could not be loaded: ${error.message}`;
    case 'generate-failed':
      return `Generation failed: ${error.message}`;
    case 'backend-failed':
      return `The compute backend failed: ${error.message}. Reload the page to start again.`;
    case 'calibrate-failed':
      return `Calibration failed: ${error.message}`;
  }
}
