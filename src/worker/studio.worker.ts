/// <reference lib="webworker" />
// The studio's worker: a thin adapter between messages and StudioHandler (studio-handler.ts), which does the work.
import * as ort from 'onnxruntime-web/webgpu';
import { chooseBackend, wasmThreads } from '../gpu/backend';
import { PersonaPipeline } from '../pipeline/persona-pipeline';
import { readBundleFiles } from '../sources/bundle-files';
import { StudioHandler } from './studio-handler';
import type { StudioRequest } from './studio-protocol';
import { BrowserPipelineRuntime } from './studio-runtime';

declare const self: DedicatedWorkerGlobalScope;

ort.env.wasm.numThreads = wasmThreads();

const handler = new StudioHandler(
  {
    chooseBackend,
    async open(files, backend) {
      const runtime = await BrowserPipelineRuntime.open(await readBundleFiles(files), backend);
      return { runtime, pipeline: new PersonaPipeline(runtime) };
    },
  },
  (event, transfer = []) => self.postMessage(event, transfer),
);

self.onmessage = ({ data }: MessageEvent<StudioRequest>) => void handler.receive(data);
