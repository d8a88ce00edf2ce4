/**
 * First look at a source: which variants it offers, its config.json, and whether it is a usable chat
 * model at all (a tokenizer, a decoder config, an ONNX graph), before anything large is downloaded.
 */
import type { ModelConfig } from '../model/config';
import { GENAI_CONFIG_FILE, parseGenaiConfig, type GenaiConfig } from '../model/genai-config';
import type { SourceListing } from './listing';
import type { SourceAccess } from './source-access';
import { discoverVariants, type Variant } from './variants';

export interface InspectedVariant extends Variant {
  /** Every file of the variant is already in the cache (or local). */
  available: boolean;
}

export interface Inspection {
  sourceId: string;
  label: string;
  listing: SourceListing;
  variants: InspectedVariant[];
  /** config.json; null for an onnxruntime-genai folder, whose config is made from genai_config.json and the graph on opening. */
  config: ModelConfig | null;
  /** genai_config.json of an onnxruntime-genai folder without config.json. */
  genaiConfig?: GenaiConfig;
  /** Why this source cannot be loaded, in words for the user; empty when it can. */
  problems: string[];
}

const DECODER_FIELDS = ['hidden_size', 'num_hidden_layers', 'num_attention_heads', 'vocab_size'] as const;

/** Why config.json does not describe a decoder LM, or undefined when it does. */
function configProblem(config: Record<string, unknown>): string | undefined {
  const missing: string[] = DECODER_FIELDS.filter((f) => typeof config[f] !== 'number');
  const ffn = config.intermediate_size ?? config.intermediate_sizes;
  if (typeof ffn !== 'number' && !Array.isArray(ffn)) missing.push('intermediate_size');
  if (missing.length === 0) return undefined;
  const what = [config.model_type, ...(Array.isArray(config.architectures) ? config.architectures : [])].filter((x) => typeof x === 'string');
  return (
    `config.json describes ${what.length ? `a "${what.join('", "')}" model` : 'a model'} without ${missing.join(', ')}: ` +
    'this is not a text-generation (decoder) language model, which is what the studio prunes.'
  );
}

export async function inspectSource(access: SourceAccess, signal?: AbortSignal): Promise<Inspection> {
  const listing = await access.list(signal);
  const paths = new Set(listing.files.map((f) => f.path));
  const sizeOf = (path: string) => listing.files.find((f) => f.path === path)?.size;
  const readJson = async (path: string) =>
    JSON.parse(await (await access.file(path, { size: sizeOf(path), signal })).text()) as Record<string, unknown>;

  const problems: string[] = [];
  let config: ModelConfig | null = null;
  let genaiConfig: GenaiConfig | undefined;
  if (!paths.has('config.json') && paths.has(GENAI_CONFIG_FILE)) {
    try {
      genaiConfig = parseGenaiConfig(await readJson(GENAI_CONFIG_FILE));
    } catch (error) {
      problems.push(`${access.label}: ${(error as Error).message}.`);
    }
  } else if (!paths.has('config.json')) problems.push(`${access.label} has no config.json (nor an onnxruntime-genai genai_config.json), which says the model's architecture.`);
  else {
    const raw = await readJson('config.json');
    const problem = configProblem(raw);
    if (problem) problems.push(problem);
    else config = raw as ModelConfig;
  }
  const missingTokenizer = ['tokenizer.json', 'tokenizer_config.json'].filter((f) => !paths.has(f));
  if (missingTokenizer.length) {
    problems.push(`${access.label} has no ${missingTokenizer.join(' and no ')}: the studio needs the tokenizer files beside config.json.`);
  }
  const variants = discoverVariants(listing.files);
  if (variants.length === 0) problems.push(`${access.label} has no ONNX model (looked for onnx/model*.onnx and model*.onnx).`);

  // A source that cannot be used keeps nothing: a fixed upload must not be hidden behind a cached listing.
  if (problems.length) await access.discard();
  const available = async (v: Variant) => (await Promise.all([v.graph, ...v.dataFiles].map((f) => access.isAvailable(f.path)))).every(Boolean);
  return {
    sourceId: access.id,
    label: access.label,
    listing,
    variants: await Promise.all(variants.map(async (v) => ({ ...v, available: await available(v) }))),
    config,
    ...(genaiConfig && { genaiConfig }),
    problems,
  };
}
