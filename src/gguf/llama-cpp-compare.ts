/**
 * Test helpers comparing a GGUF in real llama.cpp (node-llama-cpp's prebuilt CPU binary, offline) with an
 * ONNX model in onnxruntime-node: log-probabilities at every position of a text and a greedy continuation.
 * Node only.
 */
import { getLlama, LlamaLogLevel, type Llama, type Token } from 'node-llama-cpp';
import * as ort from 'onnxruntime-node';
import { forwardLogits } from '../model/generate';

/** Log-probabilities compared where the ONNX model gives the token at least this probability. */
const MIN_PROB = 1e-4;

export interface Run {
  /** Per position of the text, log-probabilities by token id (llama.cpp: the tokens it reports). */
  logProbs: Map<number, number>[];
  greedy: number[];
}

export const loadLlama = (): Promise<Llama> => getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false, skipDownload: true });

const argmax = (row: Float32Array) => row.indexOf(Math.max(...row));

/** The ONNX graph's log-probabilities over `text` and `steps` greedy tokens after `prompt`. */
export async function onnxRun(graphPath: string, text: readonly number[], prompt: readonly number[], steps: number): Promise<Run> {
  const session = await ort.InferenceSession.create(graphPath);
  try {
    const logSoftmax = (row: Float32Array) => {
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      return new Map(Array.from(row, (v, id) => [id, v - lse] as [number, number]));
    };
    const { data, dims } = await forwardLogits(ort, session, [...text]);
    const logProbs = text.map((_, t) => logSoftmax(data.subarray(t * dims[1], (t + 1) * dims[1])));
    const greedy: number[] = [];
    for (let i = 0; i < steps; i++) {
      const ids = [...prompt, ...greedy];
      const out = await forwardLogits(ort, session, ids);
      greedy.push(argmax(out.data.subarray((ids.length - 1) * out.dims[1], ids.length * out.dims[1])));
    }
    return { logProbs, greedy };
  } finally {
    await session.release();
  }
}

/** The same in llama.cpp, from the GGUF at `path`. */
export async function llamaCppRun(llama: Llama, path: string, text: readonly number[], prompt: readonly number[], steps: number): Promise<Run> {
  const model = await llama.loadModel({ modelPath: path });
  // F32 KV cache (llama.cpp's default is F16) and no flash attention (on CPU it rounds Q to F16), so
  // only the weights' storage type differs from onnxruntime
  const context = await model.createContext({ contextSize: 128, batchSize: 128, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
  try {
    const sequence = context.getSequence();
    const evaluated = await sequence.controlledEvaluate(text.map((t) => [t as Token, { generateNext: { probabilities: true } }] as const));
    const logProbs = evaluated.map((e) => new Map([...(e?.next?.probabilities ?? new Map<number, number>())].map(([id, p]) => [id, Math.log(p)] as [number, number])));
    await sequence.clearHistory();
    // token by token, so an end-of-generation token does not stop it as sequence.evaluate would
    const greedy: number[] = [];
    let input: Token[] = [...prompt] as Token[];
    while (greedy.length < steps) {
      const out = await sequence.controlledEvaluate(input.map((t, i) => (i < input.length - 1 ? t : [t, { generateNext: { token: true, options: { temperature: 0 } } }])));
      const next = out.at(-1)?.next?.token;
      if (next === undefined || next === null) throw new Error('llama.cpp generated no token');
      greedy.push(next);
      input = [next];
    }
    return { logProbs, greedy };
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

/**
 * Largest difference of log-odds against the position's top token (logit differences, unaffected by
 * how llama.cpp's sampler renormalizes its list) over tokens the ONNX model gives at least MIN_PROB.
 */
export function maxLogitDifference(onnx: Run, cpp: Run): number {
  let max = 0;
  onnx.logProbs.forEach((row, t) => {
    const top = [...row].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    const other = cpp.logProbs[t]!;
    for (const [id, lp] of row) {
      if (lp < Math.log(MIN_PROB)) continue;
      const mine = lp - row.get(top)!;
      const theirs = (other.get(id) ?? -Infinity) - (other.get(top) ?? NaN);
      max = Math.max(max, Number.isNaN(theirs) ? Infinity : Math.abs(mine - theirs));
    }
  });
  return max;
}
