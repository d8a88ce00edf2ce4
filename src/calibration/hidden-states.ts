/**
 * Last-token hidden state of every layer for a batch of prompts, from a session instrumented with
 * `{ hidden: true }` (the input of persona-sensitivity filtering: every question under 13 personas).
 * Shared by the Node and browser runtimes.
 *
 * Where the graph has a KV cache, the token prefix all prompts share (a persona's prefix or system prompt)
 * runs once, and the rest of each prompt continues from its cache; prompts whose rests have the same
 * length run as one batch, so no row is padded. Causal attention makes every state the one a whole run of
 * the prompt gives (tested), at a fraction of the tokens and runs. onnxruntime's GroupQueryAttention
 * (onnxruntime-genai graphs) continues a cache with more than one token only for one row at a time: for
 * such graphs pass `batchedContinuation: false`, and each rest runs alone after the shared prefix.
 */
import type { ModelConfig } from '../model/config';
import { describeDecoder, disposeAll, emptyPast, rowFeeds, type DecoderIO } from '../model/decoder-io';
import { readFloat32 } from '../model/logits';
import type { OrtModule, OrtSession, OrtTensor } from '../model/ort';
import type { InstrumentedOutput } from '../onnx/instrument';

export async function lastTokenHiddenStates(
  ort: OrtModule,
  session: OrtSession,
  config: ModelConfig,
  outputs: readonly InstrumentedOutput[],
  prompts: readonly (readonly number[])[],
  options: { batchedContinuation?: boolean } = {},
): Promise<Float32Array[][]> {
  if (prompts.some((p) => p.length === 0)) throw new RangeError('an empty prompt has no last token');
  const names = outputs.map((o) => {
    if (!o.hidden) throw new Error(`layer ${o.layer} has no hidden-state output: instrument the model with { hidden: true }`);
    return o.hidden;
  });
  const io = describeDecoder(session, config);
  // Every prompt keeps at least its last token after the prefix: that token's states are the result.
  const prefix = io.pastToPresent.size && prompts.length > 1 ? Math.min(sharedPrefix(prompts), ...prompts.map((p) => p.length - 1)) : 0;
  const past = prefix > 0 ? await prefixCache(ort, session, io, prompts[0]!.slice(0, prefix)) : undefined;
  try {
    const states: Float32Array[][] = [];
    const byLength = new Map<number, number[]>();
    prompts.forEach((p, i) => byLength.set(p.length, [...(byLength.get(p.length) ?? []), i]));
    const groups = prefix > 0 && options.batchedContinuation === false ? prompts.map((p, i) => [p.length, [i]] as const) : [...byLength];
    for (const [length, rows] of groups) {
      const rest = rows.map((i) => prompts[i]!.slice(prefix));
      const feeds = rowFeeds(ort, io, rest, prefix);
      const cache = past ? tilePast(ort, past, rows.length) : emptyPast(ort, io, rows.length);
      try {
        const result = await session.run({ ...feeds, ...cache }, names);
        try {
          for (const name of names) {
            const values = await readFloat32(result[name]!);
            const hidden = values.length / (rows.length * (length - prefix));
            rows.forEach((i, r) => {
              const at = ((r + 1) * (length - prefix) - 1) * hidden;
              (states[i] ??= []).push(values.slice(at, at + hidden));
            });
          }
        } finally {
          disposeAll(Object.values(result));
        }
      } finally {
        disposeAll([...Object.values(feeds), ...Object.values(cache)]);
      }
    }
    return states;
  } finally {
    disposeAll(Object.values(past ?? {}));
  }
}

/** Length of the longest token prefix every prompt starts with. */
export function sharedPrefix(prompts: readonly (readonly number[])[]): number {
  if (prompts.length === 0) return 0;
  const first = prompts[0]!;
  let n = Math.min(...prompts.map((p) => p.length));
  for (const p of prompts) {
    let k = 0;
    while (k < n && p[k] === first[k]) k++;
    n = k;
  }
  return n;
}

/** The KV cache after running `ids` alone: past input name → its present tensor ([1, kvHeads, ids.length, headDim]). */
async function prefixCache(ort: OrtModule, session: OrtSession, io: DecoderIO, ids: readonly number[]): Promise<Record<string, OrtTensor>> {
  const feeds = { ...rowFeeds(ort, io, [ids], 0), ...emptyPast(ort, io) };
  try {
    const result = await session.run(feeds, [...io.pastToPresent.values()]);
    return Object.fromEntries([...io.pastToPresent].map(([pastName, presentName]) => [pastName, result[presentName]!]));
  } finally {
    disposeAll(Object.values(feeds));
  }
}

/** One-row cache tensors repeated for `rows` rows (CPU tensors: filtering runs on a CPU session). */
function tilePast(ort: OrtModule, past: Record<string, OrtTensor>, rows: number): Record<string, OrtTensor> {
  return Object.fromEntries(
    Object.entries(past).map(([name, t]) => {
      const data = t.data as Float32Array | Uint16Array;
      const out = new (data.constructor as Float32ArrayConstructor | Uint16ArrayConstructor)(data.length * rows);
      for (let r = 0; r < rows; r++) out.set(data, r * data.length);
      return [name, new ort.Tensor(t.type as 'float32', out as Float32Array, [rows, ...t.dims.slice(1)])];
    }),
  );
}
