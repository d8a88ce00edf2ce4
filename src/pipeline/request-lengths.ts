/**
 * A prune request's token counts against the model's positions, checked with the request (before minutes of
 * calibration): every calibration prompt plus the answer written after it, and every user example, must fit.
 * Platform neutral.
 */
import { encodePrompt, renderPrompt, type PromptFormat } from '../calibration/persona-prompt';
import { lengthProblem } from '../model/positions';
import { PruneRequestError, type ResolvedPruneRequest } from './request';
import type { PipelineTokenizer } from './runtime';

export interface LengthContext {
  format: PromptFormat;
  questions: readonly string[];
  tokenizer: Pick<PipelineTokenizer, 'encode' | 'addsBos'>;
  /** The model's positions (undefined: not known, nothing is checked). */
  limit: number | undefined;
}

const preview = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);

export function checkRequestLengths(req: ResolvedPruneRequest, { format, questions, tokenizer, limit }: LengthContext): void {
  if (limit === undefined) return;
  const answer = req.sampling.maxNewTokens;
  for (const persona of req.persona === undefined ? [null] : [req.persona, null]) {
    const longest = Math.max(...questions.map((q) => encodePrompt(tokenizer, format, renderPrompt(format, persona, q).text).length));
    const problem = lengthProblem(longest + answer, limit, `the longest calibration prompt${persona === null ? ' (without a persona)' : ' with this persona'} plus its ${answer}-token answer`);
    if (problem) {
      const fix = persona === null ? 'this model is too short for the calibration prompts' : `shorten the persona description by about ${longest + answer - limit} tokens`;
      throw new PruneRequestError(`${problem}; ${fix}`);
    }
  }
  req.userExamples.forEach((text, i) => {
    const problem = lengthProblem(tokenizer.encode(text, { addBos: tokenizer.addsBos }).length, limit, `example ${i + 1} (${preview(text)})`);
    if (problem) throw new PruneRequestError(`${problem}; shorten or split it`);
  });
}
