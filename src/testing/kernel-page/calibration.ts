/** Calibration through the real runtime worker, as the app runs it, for e2e/calibration.spec.ts. */
import { calibrationTestSamples } from '../../calibration/engine-test-texts';
import { statsToJson, type CalibrationStatsJson } from '../../core/stats';
import { loadTokenizer } from '../../model/tokenizer';
import { BUILTIN_MODEL_URL } from '../../model/builtin';
import { createRuntimeClient, type RuntimeClient } from './client';
import type { WorkerEvent } from './protocol';
import type { BackendInfo, BackendPreference } from '../../gpu/backend';
import type { CalibrateParams } from '../../worker/calibration';

export interface PageCalibrationRun {
  gramBudgetBytes?: number;
  /** Cancel once this many samples are done, then resume from the checkpoint. */
  cancelAfterSamples?: number;
}

export interface PageCalibrationResult {
  backend: BackendInfo;
  accumulator: 'gpu' | 'cpu';
  stats: CalibrationStatsJson;
  /** Samples done at each progress event. */
  progress: number[];
  /** The checkpoint's next sample when the run was cancelled. */
  resumedFrom?: number;
}

/** Resolves with the first event of `requestId` (or any error) that `accept` takes. */
function next<T>(client: RuntimeClient, accept: (event: WorkerEvent) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const stop = client.subscribe((event) => {
      if (event.type === 'error') {
        stop();
        reject(new Error(`${event.error.code}: ${event.error.message}`));
        return;
      }
      const value = accept(event);
      if (value !== undefined) {
        stop();
        resolve(value);
      }
    });
  });
}

async function calibrateOnce(client: RuntimeClient, params: CalibrateParams, onProgress: (samples: number, requestId: number) => void) {
  let requestId = -1;
  const finished = next(client, (event) => {
    if (event.type === 'calibration-progress' && event.requestId === requestId) onProgress(event.progress.samples, requestId);
    return (event.type === 'calibration-done' || event.type === 'calibration-cancelled') && event.requestId === requestId ? event : undefined;
  });
  requestId = client.calibrate(params);
  return finished;
}

/** Loads the built-in model in a fresh runtime worker on `backend` and performs `runs` one after another. */
export async function calibrateInWorker(backend: BackendPreference, runs: PageCalibrationRun[]): Promise<PageCalibrationResult[]> {
  const client = createRuntimeClient(backend);
  try {
    const fetchJson = async (file: string) => (await fetch(BUILTIN_MODEL_URL + file)).json() as Promise<Record<string, unknown>>;
    const samples = calibrationTestSamples(loadTokenizer(await fetchJson('tokenizer.json'), await fetchJson('tokenizer_config.json')));
    const loaded = next(client, (event) => (event.type === 'loaded' ? event : undefined));
    // The worker reports the backend again once the model's session exists (it may fall back to WASM).
    let info: BackendInfo | undefined;
    client.subscribe((event) => {
      if (event.type === 'backend') info = event.backend;
    });
    client.load(BUILTIN_MODEL_URL);
    await loaded;

    const results: PageCalibrationResult[] = [];
    for (const run of runs) {
      const progress: number[] = [];
      const params: CalibrateParams = { samples, batchSize: 3, gramBudgetBytes: run.gramBudgetBytes };
      let outcome = await calibrateOnce(client, params, (done) => {
        progress.push(done);
        if (run.cancelAfterSamples !== undefined && done >= run.cancelAfterSamples) client.cancelCalibration();
      });
      let resumedFrom: number | undefined;
      if (outcome.type === 'calibration-cancelled') {
        resumedFrom = outcome.checkpoint.nextSample;
        outcome = await calibrateOnce(client, { ...params, resume: outcome.checkpoint }, (done) => progress.push(done));
      }
      if (outcome.type !== 'calibration-done') throw new Error('the resumed calibration was cancelled');
      results.push({ backend: info!, accumulator: outcome.accumulator, stats: statsToJson(outcome.stats), progress, resumedFrom });
    }
    return results;
  } finally {
    client.terminate();
  }
}
