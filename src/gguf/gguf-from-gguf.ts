/**
 * A llama GGUF (as read by gguf-file.ts) with a keep-plan applied, as a LlamaGgufSource: FFN gate/up
 * rows and down columns of removed channels are dropped; everything else, including the tokenizer
 * metadata, is carried as it is. Tensors are sliced one at a time when the writer asks. Platform neutral.
 */
import type { GgufModel } from '../import/gguf-file';
import { validateKeepPlan, type KeepPlan } from '../core/keep-plan';
import { keepFfnChannels, type LlamaGgufSource } from './llama-gguf';

export function ggufLlamaSource(model: GgufModel, plan?: KeepPlan): LlamaGgufSource {
  const c = model.config;
  const keep = plan ? validateKeepPlan(plan, c.ffnDims).keep : undefined;
  const tensor = async (name: string): Promise<Float32Array> => {
    const values = model.tensorF32(name);
    const m = /^blk\.(\d+)\.ffn_(gate|up|down)\.weight$/.exec(name);
    const kept = m && keep?.[Number(m[1])];
    return kept ? keepFfnChannels(values, m[2] as 'gate' | 'up' | 'down', kept, c.ffnDims[Number(m[1])]!, c.dim) : values;
  };
  return {
    shape: { ...c, ffnDims: keep ? keep.map((k) => k.length) : [...c.ffnDims] },
    metadata: model.typedMetadata,
    tensor,
  };
}
