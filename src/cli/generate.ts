import { generate } from '../model/generate';
import { eosTokenIds } from '../model/config';
import { lengthProblem, positionLimit } from '../model/positions';
import { loadNodeModel } from '../node/model-folder';
import * as ort from 'onnxruntime-node';
import { CliUsageError, numberOption, parseCommandArgs } from './args';
import { printWarnings } from './warnings';

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
    // Left out, top-k keeps every token (0 inside); given, it must keep at least one.
    const topK = numberOption(values['top-k'], 'top-k', 0, { integer: true, min: 1 });
    const topP = numberOption(values['top-p'], 'top-p', 1, { above: 0, max: 1 });
    const seed = numberOption(values.seed, 'seed', 0, { integer: true });
    const m = await loadNodeModel(values.model, values.graph);
    printWarnings(m.configWarnings);
    // An empty prompt starts from BOS alone, as the model saw the start of every training story.
    const promptIds = m.tokenizer.encode(values.prompt, { addBos: m.tokenizer.addsBos || values.prompt === '' });
    const problem = lengthProblem(promptIds.length + maxNewTokens, positionLimit(m.config), `the prompt (${promptIds.length} tokens) plus --max-tokens ${maxNewTokens}`);
    if (problem) throw new CliUsageError(`${problem}; shorten the prompt or lower --max-tokens`);
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
