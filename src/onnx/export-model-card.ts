/**
 * The README.md model card of an exported folder, written from its pruning.json (the one record of what
 * was done) and the folder's layout: persona, method, sparsity per layer, the measured quality numbers
 * the manifest holds (held-out KL of the plan search, held-out NLL before/after quantization), parameter
 * counts, and how to run the folder in onnxruntime, transformers.js and llama.cpp. Platform neutral.
 */

export interface CardLayout {
  /** The graph's path in the folder, e.g. `onnx/model.onnx` or `model.onnx`. */
  graphFile: string;
  /** onnxruntime-genai folder (genai_config.json beside the graph). */
  genai: boolean;
  /** Whether the folder has a Hugging Face config.json. */
  configJson: boolean;
}

type Json = Record<string, unknown>;

const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const obj = (x: unknown): Json | undefined => (x && typeof x === 'object' && !Array.isArray(x) ? (x as Json) : undefined);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const count = (x: number) => (x >= 1e9 ? `${(x / 1e9).toFixed(2)} B` : x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} K` : String(x));
const fixed = (x: number, digits = 4) => x.toFixed(digits);
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;

export function exportModelCard(manifest: Json, layout: CardLayout): string {
  const persona = typeof manifest.persona === 'string' ? manifest.persona : undefined;
  const method = String(manifest.requested_method ?? manifest.method ?? 'unspecified');
  const scoring = typeof manifest.scoring_method === 'string' && manifest.scoring_method !== method ? ` (scoring: ${manifest.scoring_method})` : '';
  const before = (manifest.original_intermediate_sizes as number[] | undefined) ?? [];
  const after = (manifest.intermediate_sizes as number[] | undefined) ?? [];
  const params = obj(manifest.parameters);
  const ffn = obj(manifest.ffn_parameters);
  const sparsity = num(manifest.sparsity);
  const quant = obj(manifest.quantization);
  const lines = [
    `# ${persona ? 'Persona-pruned' : 'Pruned'} language model`,
    '',
    'Written by Persona Pruning Studio: FFN intermediate channels removed for one character (Persona-Pruner,',
    'ICML 2026), structurally (smaller matrices, not masks). `pruning.json` holds every detail below and the keep-indices.',
    '',
    '## What was done',
    '',
    `- **Persona:** ${persona ? persona.replace(/\s+/g, ' ').trim() : 'none (a generic method)'}`,
    `- **Method:** ${method}${scoring}${typeof manifest.allocation === 'string' ? `, ${manifest.allocation} allocation` : ''}`,
    ...(sparsity !== undefined ? [`- **FFN sparsity:** ${pct(sparsity)} of the FFN channels removed`] : []),
    ...(params && num(params.before) !== undefined && num(params.after) !== undefined
      ? [`- **Parameters:** ${count(num(params.after)!)} (from ${count(num(params.before)!)}; ${num(params.after)!.toLocaleString('en')} weight elements)`]
      : []),
    ...(ffn && num(ffn.before) !== undefined && num(ffn.after) !== undefined ? [`- **FFN parameters:** ${count(num(ffn.after)!)} (from ${count(num(ffn.before)!)})`] : []),
    ...(quant ? [`- **Weights:** int4 \`MatMulNBits\`, block ${String(quant.block_size)}, ${quant.zero_points ? 'with zero points' : 'symmetric'} (${String(quant.matmuls)} MatMuls)`] : []),
    '',
    ...layerTable(before, after),
    ...quality(manifest, quant),
    ...howToRun(layout, !!quant),
  ];
  return lines.join('\n') + '\n';
}

function layerTable(before: number[], after: number[]): string[] {
  if (!after.length) return [];
  return [
    '## FFN width per layer',
    '',
    '| layer | channels before | kept | sparsity |',
    '| ---: | ---: | ---: | ---: |',
    ...after.map((a, l) => {
      const b = before[l];
      return `| ${l} | ${b ?? '?'} | ${a} | ${b ? pct(1 - a / b) : '?'} |`;
    }),
    '',
  ];
}

function quality(manifest: Json, quant: Json | undefined): string[] {
  const out: string[] = [];
  const selection = obj(manifest.selection);
  const kl = num(selection?.heldOutKl);
  if (kl !== undefined) out.push(`- Held-out KL(dense ‖ pruned) of the chosen plan (${String(selection!.chosen ?? '?')}): ${fixed(kl)} nats per token`);
  const nll = obj(quant?.held_out_nll);
  if (nll && num(nll.before) !== undefined && num(nll.after) !== undefined) {
    const [b, a] = [num(nll.before)!, num(nll.after)!];
    out.push(
      `- Held-out NLL (${String(nll.tokens)} tokens of ${String(nll.sequences)} sequences: ${String(nll.source)}): ${fixed(b)} nats/token before int4 quantization (perplexity ${fixed(Math.exp(b), 3)}), ` +
        `${fixed(a)} after (perplexity ${fixed(Math.exp(a), 3)})`,
    );
  }
  const bytes = obj(quant?.bytes);
  if (bytes && num(bytes.before) !== undefined && num(bytes.after) !== undefined) out.push(`- Size of the graph and weights: ${mb(num(bytes.after)!)} (${mb(num(bytes.before)!)} before quantization)`);
  if (!out.length) out.push('- No held-out measurement was recorded for this export (the `eval` command measures NLL on your texts).');
  return ['## Measured', '', ...out, ''];
}

function howToRun(layout: CardLayout, quantized: boolean): string[] {
  const g = layout.graphFile;
  const lines = [
    '## How to run it',
    '',
    '**onnxruntime** (any language; Node shown). Inputs are `input_ids`, `attention_mask` (and `position_ids` when the',
    'graph has it) and the empty `past_key_values.*` cache; the output `logits` is `[batch, tokens, vocab]`:',
    '',
    '```js',
    "import * as ort from 'onnxruntime-node';",
    `const session = await ort.InferenceSession.create('${g}'); // external data is read from beside the graph`,
    '```',
    '',
  ];
  if (layout.genai) {
    lines.push(
      '**onnxruntime-genai**: this is a model-builder folder (`genai_config.json`); the FFN widths live in the graph only,',
      'so the config needs no change:',
      '',
      '```python',
      'import onnxruntime_genai as og',
      "model = og.Model('.')",
      '```',
      '',
    );
  }
  if (layout.configJson && g === 'onnx/model.onnx') {
    lines.push(
      '**transformers.js** (`@huggingface/transformers`): this folder has its layout (`config.json` with `model_type`, the',
      'tokenizer files, the graph in `onnx/`). It picks the graph file by dtype: `onnx/model.onnx` for `fp32`,',
      '`onnx/model_fp16.onnx` for `fp16`, `onnx/model_q4.onnx` for `q4`; rename the graph (and its data file) to match:',
      '',
      '```js',
      "import { AutoModelForCausalLM, AutoTokenizer, env } from '@huggingface/transformers';",
      "env.allowRemoteModels = false; env.localModelPath = '/path/to/parent';",
      `const model = await AutoModelForCausalLM.from_pretrained('folder-name', { dtype: '${quantized ? 'q4' : 'fp32'}' });`,
      '```',
      '',
    );
  } else {
    lines.push(
      '**transformers.js** needs the Hugging Face layout (a `config.json` with `model_type`, the graph as `onnx/model.onnx`);',
      "export from such a folder, or add them: this folder's graph is `" + g + '`.',
      '',
    );
  }
  lines.push(
    '**llama.cpp**: export the same plan as GGUF with `npm run cli -- export --format gguf --model <model> --plan pruning.json --out <dir>`',
    '(uneven per-layer widths use llama.cpp\'s `deci` architecture), then `llama-cli -m <dir>/model.gguf`.',
    '',
  );
  return lines;
}
