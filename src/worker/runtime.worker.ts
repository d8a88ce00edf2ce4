/// <reference lib="webworker" />
// ORT runs here, in our own worker, rather than in ORT's proxy worker: later work needs gpu-buffer outputs,
// which the proxy refuses. So `ort.env.wasm.proxy` stays off.
import * as ort from 'onnxruntime-web/webgpu';
import { fetchModelBundle, ModelFileMissingError } from '../model/bundle';
import { eosTokenIds, type GenerationConfig, type ModelConfig } from '../model/config';
import { generate } from '../model/generate';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer';
import { chooseBackend, wasmThreads, type Backend } from './backend';
import type { ErrorCode, GenerateParams, RuntimeError, WorkerEvent, WorkerRequest } from './protocol';
import { createSession } from './session';

declare const self: DedicatedWorkerGlobalScope;

interface LoadedModel {
  session: ort.InferenceSession;
  config: ModelConfig;
  generationConfig: GenerationConfig | null;
  tokenizer: TextTokenizer;
}

let backend: Promise<Backend> | undefined;
let model: LoadedModel | undefined;
let generation: AbortController | undefined;

const post = (event: WorkerEvent) => self.postMessage(event);

self.onmessage = ({ data }: MessageEvent<WorkerRequest>) => {
  switch (data.type) {
    case 'init':
      ort.env.wasm.numThreads = wasmThreads();
      backend = chooseBackend(data.backend);
      void backend.then((chosen) => {
        watchDeviceLoss(chosen);
        post({ type: 'backend', backend: chosen.info });
      });
      break;
    case 'load':
      load(data.requestId, data.baseUrl).catch((error) => postError(data.requestId, 'load-failed', error));
      break;
    case 'generate':
      run(data.requestId, data.params).catch((error) => postError(data.requestId, 'generate-failed', error));
      break;
    case 'stop':
      generation?.abort();
      break;
  }
};

async function load(requestId: number, baseUrl: string) {
  if (!backend) throw new Error('The runtime was not initialised.');
  if (generation) return postError(requestId, 'busy', new Error('Stop the running generation first.'));
  const started = performance.now();
  const bundle = await fetchModelBundle(baseUrl, {
    onProgress: ({ file, loaded, total }) => post({ type: 'load-progress', requestId, file, loaded, total }),
  });
  const tokenizer = loadTokenizer(bundle.tokenizerJson, bundle.tokenizerConfig);
  const created = await createSession(ort, bundle, await backend);
  // This model may have fallen back to WASM (or the previous one had): show what this session runs on.
  post({ type: 'backend', backend: created.backend.info });
  await model?.session.release();
  model = { session: created.session, config: bundle.config, generationConfig: bundle.generationConfig, tokenizer };
  post({
    type: 'loaded',
    requestId,
    model: {
      baseUrl,
      modelType: bundle.config.model_type,
      layers: bundle.config.num_hidden_layers,
      hiddenSize: bundle.config.hidden_size,
      vocabSize: bundle.config.vocab_size,
      bytes: bundle.modelBytes.byteLength + bundle.externalData.reduce((sum, file) => sum + file.data.byteLength, 0),
      loadMs: performance.now() - started,
    },
  });
}

async function run(requestId: number, params: GenerateParams) {
  if (!model) return postError(requestId, 'no-model', new Error('Load a model first.'));
  if (generation) return postError(requestId, 'busy', new Error('A generation is already running.'));
  const { session, config, generationConfig, tokenizer } = model;
  generation = new AbortController();
  try {
    const started = performance.now();
    const promptIds = tokenizer.encode(params.prompt, { addBos: tokenizer.addsBos });
    const decoder = tokenizer.createStreamDecoder(promptIds);
    const result = await generate(ort, session, config, promptIds, {
      ...params,
      stopTokenIds: eosTokenIds(config, generationConfig),
      signal: generation.signal,
      onToken: (id) => post({ type: 'token', requestId, id, text: decoder.push(id) }),
    });
    post({
      type: 'done',
      requestId,
      stopReason: result.stopReason,
      tokens: result.tokens.length,
      text: decoder.flush(),
      elapsedMs: performance.now() - started,
    });
  } finally {
    generation = undefined;
  }
}

function watchDeviceLoss(chosen: Backend) {
  if (chosen.kind !== 'webgpu') return;
  void chosen.device.lost.then((info) => {
    if (info.reason !== 'destroyed') postError(undefined, 'backend-failed', new Error(`The GPU device was lost: ${info.message}`));
  });
}

function postError(requestId: number | undefined, code: ErrorCode, error: unknown) {
  const message = error instanceof Error ? error.message : String(error);
  const runtimeError: RuntimeError =
    error instanceof ModelFileMissingError ? { code: 'model-missing', message, file: error.file } : { code, message };
  post({ type: 'error', requestId, error: runtimeError });
}
