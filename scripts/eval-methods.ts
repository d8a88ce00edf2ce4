/**
 * `npm run eval:methods`: the documented experiment of issue 5 on the built-in model. For personas written
 * for it (scripts/eval-methods-data.json), at each FFN sparsity, the persona method's plan is compared with
 * the generic baselines (Wanda-sp, FLAP, magnitude, random; calibrated on the generic set) on
 *   - persona texts: held-out continuations the dense model writes under each persona's prompt (prompts that
 *     are not in the question bank, other seeds than calibration), NLL of the continuation tokens only;
 *   - general texts: hand-written held-out stories, NLL of every token after BOS.
 * Plans are evaluated in memory (applied to the dense weights), which equals the exported models. Besides
 * NLL, each plan's KL to the dense model's next-token distributions on the same texts (held-out KL: none of
 * these texts is calibration data, nor the persona method's own held-out samples that its search judges by).
 * Progress on stderr, the markdown tables on stdout. `--explore` adds the method variants tried while
 * improving the default.
 *
 *   npm run eval:methods -- [--model <dir>] [--samples N] [--seed S] [--sparsities 0.25,0.5] [--explore] [--only <label regex>]
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SYNTHESIS } from '../src/calibration/calibration-set';
import { encodePrompt, renderPrompt } from '../src/calibration/persona-prompt';
import type { CalibrationSample } from '../src/core/stats';
import type { PlanWeights } from '../src/eval/apply-plan';
import { summariseNll } from '../src/eval/nll';
import { evaluationIds } from '../src/pipeline/text-set';
import { NodePipelineRuntime } from '../src/node/pipeline-runtime';
import { PersonaPipeline, type PipelineProgress } from '../src/pipeline/persona-pipeline';
import type { PruneRequest } from '../src/pipeline/request';
import { buildPlan, PERSONA_METHOD } from '../src/pruning/plan-builder';
import data from './eval-methods-data.json';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'public/models/stories260K' },
    samples: { type: 'string', default: '32' },
    seed: { type: 'string', default: '0' },
    sparsities: { type: 'string', default: '0.25,0.5' },
    explore: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const samples = Number(values.samples);
const seed = Number(values.seed);
const sparsities = values.sparsities.split(',').map(Number);

interface Variant {
  label: string;
  /** What differs from the default request (method, allocation, plan options, filtering, synthesis). */
  request: Omit<PruneRequest, 'persona' | 'sparsity'>;
  /** Calibrated on the generic set although it is a persona method (ablation: does persona data matter?). */
  genericData?: boolean;
  /** Generic baseline: one plan for every persona. */
  baseline?: boolean;
}

const oneShot = (label: string, request: Variant['request'] = {}): Variant => ({ label: `reconstruct one-shot${label}`, request: { method: 'reconstruct', ...request } });
const sequential = (label: string, request: Variant['request']): Variant => ({ label: `sequential reconstruct, ${label}`, request: { method: 'reconstruct', sequential: true, ...request } });
const MAIN: Variant[] = [
  { label: `persona (default: ${PERSONA_METHOD}, sequential, plan search)`, request: {} },
  { label: 'persona without plan search (sequential)', request: { search: false } },
  ...(['wanda-sp', 'flap', 'magnitude', 'random'] as const).map((method) => ({ label: method, request: { method }, baseline: true })),
];
const EXPLORE: Variant[] = [
  { label: 'activation (persona data)', request: { method: 'activation' } },
  oneShot(''),
  { label: 'reconstruct one-shot, generic data only', request: { method: 'reconstruct' }, genericData: true },
  // As many samples as persona + generic together: is it persona data or just more data?
  { label: 'reconstruct one-shot, generic data only, 2× samples', request: { method: 'reconstruct', genericSamples: 2 * samples }, genericData: true },
  ...[0, 0.25, 1, 2].map((genericMix) => oneShot(`, generic mix ${genericMix}`, { planOptions: { genericMix } })),
  ...[0.001, 0.1, 1].map((damping) => oneShot(`, damping ${damping}`, { planOptions: { damping } })),
  oneShot(', global allocation', { allocation: 'global' }),
  oneShot(', owl allocation', { allocation: 'owl' }),
  sequential('generic mix 1', { planOptions: { genericMix: 1 } }),
  sequential('damping 0.1', { planOptions: { damping: 0.1 } }),
  sequential('global allocation', { allocation: 'global' }),
  // Different persona sets last: the pipeline keeps one persona calibration at a time.
  sequential('no sensitivity filtering', { filter: false }),
  sequential('no persona-voiced answers', { synthesis: false }),
];
// --only <regex> keeps the first row (the default) and the variants whose label matches.
const only = values.only === undefined ? undefined : new RegExp(values.only);
const variants = (values.explore ? [...MAIN, ...EXPLORE] : MAIN).filter((v, i) => !only || i === 0 || only.test(v.label));

const log = (line: string) => process.stderr.write(line + '\n');
let lastPhase = '';
const onProgress = (p: PipelineProgress) => {
  const phase = `${p.phase}${p.set ? ` (${p.set})` : ''}`;
  if (phase !== lastPhase) log(`  ${phase}...`);
  lastPhase = phase;
};

const runtime = await NodePipelineRuntime.open(values.model);
const pipeline = new PersonaPipeline(runtime);
const { tokenizer } = runtime;

/** Held-out persona texts: prompt ids + the dense model's continuation; only the continuation is scored. */
log('writing held-out persona texts with the dense model');
const personaTexts = new Map<string, { ids: number[]; from: number }[]>();
for (const persona of data.personas) {
  const texts = [];
  for (const [i, prompt] of data.heldOutPrompts.entries()) {
    const promptIds = encodePrompt(tokenizer, pipeline.format, renderPrompt(pipeline.format, persona.description, prompt).text);
    const answer = await runtime.generate(promptIds, { ...DEFAULT_SYNTHESIS, maxNewTokens: 64, seed: 100_000 + i });
    texts.push({ ids: [...promptIds, ...answer], from: promptIds.length - 1 });
  }
  personaTexts.set(persona.id, texts);
}
const generalIds = data.generalStories.map((text) => evaluationIds(tokenizer, text));
/** The same texts as KL samples: a token counts when its NLL does (weights[t] scores the prediction of ids[t]). */
const asSamples = (texts: { ids: number[]; from: number }[]): CalibrationSample[] => texts.map(({ ids, from }) => ({ ids, weights: Float32Array.from(ids, (_, t) => (t > from ? 1 : 0)) }));
const personaSamples = new Map([...personaTexts].map(([id, texts]) => [id, asSamples(texts)]));
const generalSamples = asSamples(generalIds.map((ids) => ({ ids, from: 0 })));

interface Scores {
  persona: Map<string, number>;
  general: number;
  /** Held-out KL to the dense model (0 for the dense model itself). */
  personaKl: Map<string, number>;
  generalKl: number;
}

async function score(plan?: PlanWeights): Promise<Scores> {
  const persona = new Map<string, number>();
  const personaKl = new Map<string, number>();
  for (const [id, texts] of personaTexts) {
    const nll = await runtime.evaluateNll(texts.map((t) => t.ids), plan);
    persona.set(id, summariseNll(nll.map((row, i) => row.subarray(texts[i]!.from))).meanNll);
    personaKl.set(id, plan ? (await runtime.heldOutKl(personaSamples.get(id)!, plan)).meanKl : 0);
  }
  const general = summariseNll(await runtime.evaluateNll(generalIds, plan)).meanNll;
  return { persona, general, personaKl, generalKl: plan ? (await runtime.heldOutKl(generalSamples, plan)).meanKl : 0 };
}

/** Which candidate the plan search chose, per sparsity and persona (the default row). */
const chosen = new Map<number, string[]>(sparsities.map((s) => [s, []]));

async function planFor(variant: Variant, persona: string, sparsity: number): Promise<PlanWeights> {
  const request: PruneRequest = { samples, seed, ...variant.request, persona, sparsity };
  if (!variant.genericData) {
    const outcome = await pipeline.prune(request, { onProgress });
    if (outcome.selection && variant === variants[0]) chosen.get(sparsity)!.push(`${outcome.selection.chosen} (held-out KL ${f(outcome.selection.heldOutKl)})`);
    return outcome.plan;
  }
  const generic = await pipeline.genericCalibration(request, { gram: true, onProgress });
  const weights = await pipeline.denseWeights(false);
  return buildPlan({ method: 'reconstruct', allocation: 'uniform', sparsity, shape: pipeline.shape(weights), weights, stats: generic.stats.layers, options: { seed, matmul: pipeline.runtime.matmul } });
}

const mean = (xs: Iterable<number>) => {
  const list = [...xs];
  return list.reduce((a, b) => a + b, 0) / list.length;
};
const f = (x: number) => x.toFixed(3);
const delta = (x: number, base: number) => `${f(x)} (+${f(x - base)})`;

log('dense model');
const dense = await score();
const ids = data.personas.map((p) => p.id);

/**
 * results[sparsity][variant] = per persona plan: its own texts' NLL, every persona's texts' NLL, general NLL.
 * Personas, then variants, are the outer loops, so the pipeline's cached persona calibration serves every
 * sparsity (and every variant with the same calibration set).
 */
type Row = { own: Map<string, number>; cross: Map<string, Map<string, number>>; general: number[]; ownKl: Map<string, number>; generalKl: number[] };
const results = new Map<number, Map<Variant, Row>>(
  sparsities.map((s) => [s, new Map(variants.map((v) => [v, { own: new Map(), cross: new Map(), general: [], ownKl: new Map(), generalKl: [] }]))]),
);
const record = (row: Row, persona: string, s: Scores) => {
  row.own.set(persona, s.persona.get(persona)!);
  row.cross.set(persona, s.persona);
  row.general.push(s.general);
  row.ownKl.set(persona, s.personaKl.get(persona)!);
  row.generalKl.push(s.generalKl);
};
for (const sparsity of sparsities) {
  for (const variant of variants.filter((v) => v.baseline)) {
    log(`${Math.round(sparsity * 100)}% · ${variant.label}`);
    const s = await score(await planFor(variant, data.personas[0]!.description, sparsity));
    for (const id of ids) record(results.get(sparsity)!.get(variant)!, id, s);
  }
}
for (const persona of data.personas) {
  for (const variant of variants.filter((v) => !v.baseline)) {
    for (const sparsity of sparsities) {
      log(`${persona.id} · ${Math.round(sparsity * 100)}% · ${variant.label}`);
      record(results.get(sparsity)!.get(variant)!, persona.id, await score(await planFor(variant, persona.description, sparsity)));
    }
  }
}

const out: string[] = [];
out.push(`Built-in model (stories260K), ${samples} calibration samples per set, seed ${seed}. NLL in nats per token (lower is better); in brackets the increase over the dense model. KL: mean KL(dense ‖ pruned) of the next-token distributions on the same texts' scored tokens, nats per token.`, '');
const densePersona = mean(dense.persona.values());
for (const sparsity of sparsities) {
  const rows = results.get(sparsity)!;
  out.push(`### ${Math.round(sparsity * 100)}% FFN sparsity`, '');
  out.push(`| method | ${ids.map((id) => `${id} texts`).join(' | ')} | persona mean | general texts | persona KL | general KL |`);
  out.push(`| --- | ${ids.map(() => '---:').join(' | ')} | ---: | ---: | ---: | ---: |`);
  out.push(`| dense | ${ids.map((id) => f(dense.persona.get(id)!)).join(' | ')} | ${f(densePersona)} | ${f(dense.general)} | 0 | 0 |`);
  for (const [variant, r] of rows) {
    out.push(
      `| ${variant.label} | ${ids.map((id) => f(r.own.get(id)!)).join(' | ')} | ${delta(mean(r.own.values()), densePersona)} | ${delta(mean(r.general), dense.general)} | ${f(mean(r.ownKl.values()))} | ${f(mean(r.generalKl))} |`,
    );
  }
  if (chosen.get(sparsity)!.length) out.push('', `Plan search's choice per persona (${ids.join(', ')}): ${chosen.get(sparsity)!.join('; ')}.`);
  const main = rows.get(variants[0]!)!.cross;
  out.push('', `Persona specificity at ${Math.round(sparsity * 100)}%: the default method's plan for each persona (rows) on each persona's texts (columns).`, '');
  out.push(`| plan for | ${ids.join(' | ')} |`, `| --- | ${ids.map(() => '---:').join(' | ')} |`);
  for (const id of ids) out.push(`| ${id} | ${ids.map((other) => f(main.get(id)!.get(other)!)).join(' | ')} |`);
  out.push('');
}
process.stdout.write(out.join('\n') + '\n');
await runtime.dispose();
