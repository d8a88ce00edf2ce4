/** The `--quantize` options `export`, `prune` and `batch` share: int4 MatMulNBits, and held-out texts to measure it on. */
import { evaluationIds } from '../pipeline/text-set';
import type { QuantizeRequest } from '../onnx/quantize-int4';
import type { PipelineTokenizer } from '../pipeline/runtime';
import { CliUsageError, numberOption } from './args';
import { readTexts } from './eval';

export const quantizeOptions = {
  quantize: { type: 'string' },
  'block-size': { type: 'string' },
  'zero-points': { type: 'boolean' },
  texts: { type: 'string' },
} as const;

export const QUANTIZE_USAGE = '[--quantize int4 [--block-size 32] [--zero-points] [--texts <held-out.jsonl>]]';

interface Values {
  quantize?: string;
  'block-size'?: string;
  'zero-points'?: boolean;
  texts?: string;
}

/** Checks the options before any work; the held-out texts are read now and tokenized once the model is open. */
export async function quantizeRequest(values: Values): Promise<((tokenizer: PipelineTokenizer) => QuantizeRequest) | undefined> {
  if (values.quantize === undefined) {
    const stray = (['block-size', 'zero-points', 'texts'] as const).find((k) => values[k] !== undefined);
    if (stray) throw new CliUsageError(`--${stray} is an option of --quantize int4`);
    return undefined;
  }
  if (values.quantize !== 'int4') throw new CliUsageError(`unknown --quantize "${values.quantize}" (int4 is supported)`);
  const blockSize = numberOption(values['block-size'], 'block-size', 32, { integer: true, min: 16 });
  if ((blockSize & (blockSize - 1)) !== 0) throw new CliUsageError(`--block-size must be a power of two >= 16, got ${blockSize}`);
  const texts = values.texts === undefined ? undefined : (await readTexts(values.texts)).map((t) => t.text);
  return (tokenizer) => ({
    type: 'int4',
    blockSize,
    zeroPoints: values['zero-points'] ?? false,
    ...(texts && { heldOut: { sequences: texts.map((t) => evaluationIds(tokenizer, t)), source: `${texts.length} texts of ${values.texts}` } }),
  });
}
