import { generate } from '../model/generate';
import { eosTokenIds } from '../model/config';
import { loadNodeModel } from '../node/model-folder';
import * as ort from 'onnxruntime-node';
import { CliUsageError, numberOption, parseCommandArgs } from './args';

const usage = 'generate --model <model dir> --prompt <text> --max-tokens N [--temperature T] [--top-k K] [--top-p P] [--seed S] [--graph <path in model dir>]';

export const generateCommand = {
  usage,
  async run(args: string[]) {
    const { values } = parseCommandArgs(
      args,
      {
        model: { type: 'string' },
        prompt: { type: 'string', default: '' },
        'max-tokens': { type: 'string' },
        temperature: { type: 'string' },
        'top-k': { type: 'string' },
        'top-p': { type: 'string' },
        seed: { type: 'string' },
        graph: { type: 'string' },
      },
      usage,
    );
    if (!values.model) throw new CliUsageError(`--model is required\nusage: ${usage}`);
    const maxNewTokens = numberOption(values['max-tokens'], 'max-tokens', 64, { integer: true, min: 1 });
    const temperature = numberOption(values.temperature, 'temperature', 0, { min: 0 });
    const topK = numberOption(values['top-k'], 'top-k', 0, { integer: true, min: 0 });
    const topP = numberOption(values['top-p'], 'top-p', 1, { min: 0 });
    const seed = numberOption(values.seed, 'seed', 0, { integer: true });
    const m = await loadNodeModel(values.model, values.graph);
    // An empty prompt starts from BOS alone, as the model saw the start of every training story.
    const promptIds = m.tokenizer.encode(values.prompt, { addBos: m.tokenizer.addsBos || values.prompt === '' });
    const stream = m.tokenizer.createStreamDecoder(promptIds);
    process.stdout.write(values.prompt);
    await generate(ort, m.session, m.config, promptIds, {
      maxNewTokens,
      temperature,
      topK,
      topP,
      seed,
      stopTokenIds: eosTokenIds(m.config, m.generationConfig),
      onToken: (id) => process.stdout.write(stream.push(id)),
    });
    process.stdout.write(stream.flush() + '\n');
  },
};
