import { discoverFfns } from '../onnx/ffn-discovery';
import { parseModel } from '../onnx/model-io';
import type { GenerationConfig, ModelConfig } from './config';
import { configFromGenai, GENAI_CONFIG_FILE, generationConfigFromGenai, parseGenaiConfig } from './genai-config';

/** Everything needed to create an inference session and a tokenizer for one model. */
export interface ModelBundle {
  config: ModelConfig;
  generationConfig: GenerationConfig | null;
  tokenizerJson: object;
  tokenizerConfig: Record<string, unknown>;
  modelBytes: Uint8Array;
  /** `path` is the location the graph stores (relative to the .onnx file), as onnxruntime's `externalData` wants it. */
  externalData: { path: string; data: Uint8Array }[];
}

export interface BundleProgress {
  file: string;
  loaded: number;
  /** From Content-Length; undefined when the server does not send it. */
  total: number | undefined;
}

export interface FetchBundleOptions {
  /** Graph path inside the folder (default `onnx/model.onnx`; an onnxruntime-genai folder's own graph). */
  modelFile?: string;
  /**
   * External-data file names (relative to the graph's folder). Without it, `<model>.onnx_data` and
   * `<model>.onnx.data` are tried and skipped when absent.
   */
  externalDataFiles?: readonly string[];
  onProgress?: (progress: BundleProgress) => void;
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

/** A required file of the model folder is not there; `file` is relative to the folder. */
export class ModelFileMissingError extends Error {
  constructor(
    readonly file: string,
    readonly url: string,
    readonly status: number,
  ) {
    super(`The model file "${file}" was not found at ${url} (HTTP ${status}).`);
    this.name = 'ModelFileMissingError';
  }
}

/**
 * Fetches a model folder (config, tokenizer, graph, external data) from a base URL: the Hugging Face
 * layout, or an onnxruntime-genai folder without config.json, whose config is made from
 * genai_config.json and the graph's FFN widths as every other loader does (genai-config.ts).
 */
export async function fetchModelBundle(baseUrl: string, options: FetchBundleOptions = {}): Promise<ModelBundle> {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const get = (file: string) => fetchFile(base, file, options);
  const getOptional = async (file: string) => {
    try {
      return await get(file);
    } catch (error) {
      if (error instanceof ModelFileMissingError) return null;
      throw error;
    }
  };
  const parse = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as unknown;

  const [configBytes, generationConfigBytes, tokenizerJson, tokenizerConfig] = await Promise.all([
    getOptional('config.json'),
    getOptional('generation_config.json'),
    get('tokenizer.json').then(parse),
    get('tokenizer_config.json').then(parse),
  ]);
  const genaiBytes = configBytes ? null : await getOptional(GENAI_CONFIG_FILE);
  // neither: the error names config.json, which Hugging Face folders (the usual case) lack then
  if (!configBytes && !genaiBytes) await get('config.json');
  const genai = genaiBytes && parseGenaiConfig(parse(genaiBytes));
  const modelFile = options.modelFile ?? (genai ? (genai.model.decoder.filename ?? 'model.onnx') : 'onnx/model.onnx');
  const modelBytes = await get(modelFile);
  const config = genai ? configFromGenai(genai, discoverFfns(parseModel(modelBytes)).map((f) => f.intermediateSize)) : (parse(configBytes!) as ModelConfig);
  const generationConfig = generationConfigBytes ? (parse(generationConfigBytes) as GenerationConfig) : genai ? generationConfigFromGenai(genai) : null;

  const graphDir = modelFile.includes('/') ? modelFile.slice(0, modelFile.lastIndexOf('/') + 1) : '';
  const graphName = modelFile.slice(graphDir.length);
  const externalData: ModelBundle['externalData'] = [];
  if (options.externalDataFiles) {
    for (const path of options.externalDataFiles) externalData.push({ path, data: await get(graphDir + path) });
  } else {
    for (const path of [`${graphName}_data`, `${graphName}.data`]) {
      const data = await getOptional(graphDir + path);
      if (data) externalData.push({ path, data });
    }
  }

  return {
    config,
    generationConfig,
    tokenizerJson: tokenizerJson as object,
    tokenizerConfig: tokenizerConfig as Record<string, unknown>,
    modelBytes,
    externalData,
  };
}

async function fetchFile(base: string, file: string, options: FetchBundleOptions): Promise<Uint8Array> {
  const url = new URL(file, toAbsolute(base)).href;
  const response = await (options.fetch ?? fetch)(url, { signal: options.signal });
  // Dev servers with an SPA fallback (Vite) answer a missing file with index.html and status 200.
  const isHtmlFallback = (response.headers.get('content-type') ?? '').includes('text/html');
  if (!response.ok || isHtmlFallback) {
    await response.body?.cancel();
    throw new ModelFileMissingError(file, url, response.ok ? 404 : response.status);
  }
  return readBody(response, file, options.onProgress);
}

function toAbsolute(base: string): string {
  const origin = globalThis.location?.href;
  return origin ? new URL(base, origin).href : base;
}

async function readBody(response: Response, file: string, onProgress?: (p: BundleProgress) => void) {
  const length = Number(response.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 ? length : undefined;
  if (!response.body || !onProgress) return new Uint8Array(await response.arrayBuffer());

  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    onProgress({ file, loaded, total });
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
