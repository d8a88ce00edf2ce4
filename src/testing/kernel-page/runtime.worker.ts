/// <reference lib="webworker" />
// The kernel-tests page's runtime (src/testing/kernel-page/calibration.ts): loads a model folder by URL and
// calibrates it, as the studio's worker does. ORT runs in our own worker, not ORT's proxy worker, because
// calibration needs gpu-buffer outputs, which the proxy refuses.
import * as ort from 'onnxruntime-web/webgpu';
import { fetchModelBundle, ModelFileMissingError, type ModelBundle } from '../../model/bundle';
import { chooseBackend, wasmThreads, type Backend } from '../../gpu/backend';
import { WorkerCalibration } from '../../worker/calibration';
import type { ErrorCode, RuntimeError, WorkerEvent, WorkerRequest } from './protocol';
import type { CalibrateParams } from '../../worker/calibration';
import { createSession } from '../../worker/session';

declare const self: DedicatedWorkerGlobalScope;

interface LoadedModel {
  /** Kept for calibration, which instruments the graph (its external data is shared, not copied). */
  bundle: ModelBundle;
  /** On the chosen backend: creating it tells whether this model runs there (an fp16 graph may need WASM). */
  session: ort.InferenceSession;
}

let backend: Promise<Backend> | undefined;
let model: LoadedModel | undefined;
const calibration = new WorkerCalibration(ort);

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
    case 'load': {
      const { requestId, baseUrl } = data;
      const fetchBundle = () =>
        fetchModelBundle(baseUrl, { onProgress: ({ file, loaded, total }) => post({ type: 'load-progress', requestId, file, loaded, total }) });
      load(requestId, baseUrl, fetchBundle).catch((error) => postError(requestId, 'load-failed', error));
      break;
    }
    case 'calibrate':
      calibrate(data.requestId, data.params).catch((error) => postError(data.requestId, 'calibrate-failed', error));
      break;
    case 'cancel-calibration':
      calibration.cancel();
      break;
  }
};

/** `label` is what ModelInfo.baseUrl reports: the folder's URL, or the name of the source the files came from. */
async function load(requestId: number, label: string, readBundle: () => Promise<ModelBundle>) {
  if (!backend) throw new Error('The runtime was not initialised.');
  if (calibration.running) return postError(requestId, 'busy', new Error('Cancel the running calibration first.'));
  const started = performance.now();
  const bundle = await readBundle();
  const created = await createSession(ort, bundle, await backend);
  // This model may have fallen back to WASM (or the previous one had): show what this session runs on.
  post({ type: 'backend', backend: created.backend.info });
  await model?.session.release();
  await calibration.reset();
  model = { bundle, session: created.session };
  post({
    type: 'loaded',
    requestId,
    model: {
      baseUrl: label,
      modelType: bundle.config.model_type,
      layers: bundle.config.num_hidden_layers,
      hiddenSize: bundle.config.hidden_size,
      vocabSize: bundle.config.vocab_size,
      bytes: bundle.modelBytes.byteLength + bundle.externalData.reduce((sum, file) => sum + file.data.byteLength, 0),
      loadMs: performance.now() - started,
    },
  });
}

async function calibrate(requestId: number, params: CalibrateParams) {
  if (!backend) throw new Error('The runtime was not initialised.');
  if (!model) return postError(requestId, 'no-model', new Error('Load a model first.'));
  if (calibration.running) return postError(requestId, 'busy', new Error('Wait for the running job to finish.'));
  const { result, accumulator, elapsedMs } = await calibration.run(model.bundle, backend, params, (progress) =>
    post({ type: 'calibration-progress', requestId, progress }),
  );
  post(
    result.status === 'done'
      ? { type: 'calibration-done', requestId, stats: result.stats, accumulator, elapsedMs }
      : { type: 'calibration-cancelled', requestId, checkpoint: result.checkpoint },
  );
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
