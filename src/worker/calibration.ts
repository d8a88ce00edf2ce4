/**
 * Calibration inside the runtime worker, on the loaded model and the worker's backend.
 *
 * It runs in this worker rather than a second one because a GPUDevice belongs to one worker: ORT's
 * gpu-buffer outputs can only be read by kernels on the device that made them, and the model bundle is
 * already here. The instrumented graph gets a session of its own on the same device as generation
 * (created on first use, kept until another model loads), so activations never leave the GPU; where the
 * model runs on WASM, the CPU accumulator sums them instead.
 */
import type * as Ort from 'onnxruntime-web/webgpu';
import { runCalibration, type CalibrationOptions, type CalibrationProgress, type CalibrationResult } from '../calibration/engine';
import type { AccumulatorFactory } from '../calibration/engine-accumulator';
import type { CalibrationCheckpoint } from '../calibration/engine-checkpoint';
import { createCpuAccumulator } from '../calibration/engine-accumulator-cpu';
import { createGpuAccumulator } from '../calibration/engine-accumulator-gpu';
import { instrumentGraphBytes } from '../calibration/engine-model';
import { createGpuContext, type GpuContext } from '../gpu/context';
import { bundledShaders } from '../gpu/shaders-bundled';
import type { ModelBundle } from '../model/bundle';
import type { InstrumentedOutput } from '../onnx/instrument';
import type { CalibrationSample } from '../core/stats';
import type { Backend } from '../gpu/backend';
import { createSession } from './session';

/** A calibration run over the loaded model (see src/calibration/engine.ts). */
export interface CalibrateParams {
  samples: CalibrationSample[];
  batchSize?: number;
  maxBatchTokens?: number;
  /** Also accumulate Gram matrices, within this many bytes at a time (more passes when they do not fit). */
  gramBudgetBytes?: number;
  /** Continue a cancelled run (same samples). */
  resume?: CalibrationCheckpoint;
}

interface InstrumentedSession {
  session: Ort.InferenceSession;
  outputs: InstrumentedOutput[];
  backend: Backend;
}

export interface CalibrationOutcome {
  result: CalibrationResult;
  accumulator: 'gpu' | 'cpu';
  elapsedMs: number;
}

export class WorkerCalibration {
  private instrumented: Promise<InstrumentedSession> | undefined;
  private gpu: GpuContext | undefined;
  private controller: AbortController | undefined;

  /** `graph` makes the instrumented graph (default: the bundle's model with its down_proj inputs as outputs). */
  constructor(
    private readonly ort: typeof Ort,
    private readonly graph: (bundle: ModelBundle) => { bytes: Uint8Array; outputs: InstrumentedOutput[] } = (bundle) => instrumentGraphBytes(bundle.modelBytes),
  ) {}

  get running(): boolean {
    return this.controller !== undefined;
  }

  /** Releases the previous model's instrumented session (call when another model loads). */
  async reset(): Promise<void> {
    const previous = this.instrumented;
    this.instrumented = undefined;
    await (await previous?.catch(() => undefined))?.session.release();
  }

  cancel(): void {
    this.controller?.abort();
  }

  async run(
    bundle: ModelBundle,
    backend: Promise<Backend>,
    params: CalibrateParams,
    onProgress: (progress: CalibrationProgress) => void,
    options: Pick<CalibrationOptions, 'checkpoints' | 'extraFeeds'> = {},
  ): Promise<CalibrationOutcome> {
    if (this.controller) throw new Error('A calibration is already running.');
    this.controller = new AbortController();
    try {
      const started = performance.now();
      this.instrumented ??= backend.then((chosen) => this.instrument(bundle, chosen));
      const instrumented = await this.instrumented.catch((error: unknown) => {
        this.instrumented = undefined;
        throw error;
      });
      const used = instrumented.backend;
      let accumulate: AccumulatorFactory = createCpuAccumulator;
      if (used.kind === 'webgpu') {
        if (this.gpu?.device !== used.device) this.gpu = createGpuContext(used.device, bundledShaders);
        accumulate = createGpuAccumulator(this.gpu);
      }
      const result = await runCalibration(
        { ort: this.ort, session: instrumented.session, config: bundle.config, outputs: instrumented.outputs },
        params.samples,
        accumulate,
        {
          batchSize: params.batchSize,
          maxBatchTokens: params.maxBatchTokens,
          gram: params.gramBudgetBytes ? { budgetBytes: params.gramBudgetBytes } : undefined,
          resume: params.resume,
          signal: this.controller.signal,
          onProgress,
          ...options,
        },
      );
      return { result, accumulator: used.kind === 'webgpu' ? 'gpu' : 'cpu', elapsedMs: performance.now() - started };
    } finally {
      this.controller = undefined;
    }
  }

  private async instrument(bundle: ModelBundle, backend: Backend): Promise<InstrumentedSession> {
    const { bytes, outputs } = this.graph(bundle);
    // Same backend and options as generation: on WebGPU every output stays a GPU buffer.
    const { session, backend: used } = await createSession(this.ort, { ...bundle, modelBytes: bytes }, backend);
    return { session, outputs, backend: used };
  }
}
