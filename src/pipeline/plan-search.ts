/**
 * Plan selection by the objective itself: every candidate plan (the method's own plan, method/damping
 * variants, the baselines built from the same data, and per-layer allocations found by search) is judged by
 * its KL to the dense model on held-out persona samples, and the lowest wins. Since the baselines are
 * candidates, the chosen plan never has a higher held-out KL than the best of them.
 *
 * The allocation search follows EvoPress (Sieberling et al. 2024): a (1+λ) evolution over per-layer kept
 * counts at a fixed total (mutations move a step of channels from one layer to another), each layer's
 * plan at a given count taken from a memoised database, offspring judged on a few held-out samples and the
 * winner re-judged on all of them. Platform neutral: plans are built and judged through callbacks.
 */
import type { PlanWeights } from '../eval/apply-plan';
import { createRng } from '../model/sampling';

export interface SearchSettings {
  /** Persona samples held out from calibration (never used for statistics) to judge plans on. */
  heldOutSamples: number;
  /** Allocation search: generations, and offspring per generation (0 generations: no allocation search). */
  generations: number;
  offspring: number;
  /** Held-out samples that judge offspring; every held-out sample judges the finalists. */
  quickSamples: number;
}

export const DEFAULT_SEARCH: SearchSettings = { heldOutSamples: 8, generations: 8, offspring: 4, quickSamples: 2 };

export interface CandidateRecord {
  label: string;
  /** Held-out KL (nats per counted token, all held-out samples). */
  kl: number;
  /** Per-layer sparsity (removed fraction of each layer's channels). */
  sparsities: number[];
}

/** What pruning.json records under "selection" (PruneOutcome.selection). */
export interface PlanSelection {
  chosen: string;
  heldOutKl: number;
  candidates: CandidateRecord[];
}

/**
 * `moves` times: move `step` channels from one random layer to another, never below `minKeep` nor above the
 * layer's width. Layers cost the same per channel (gate, up and down rows of the same hidden size), so the
 * total kept count, i.e. the parameter budget, stays the same.
 */
export function mutateCounts(counts: readonly number[], widths: readonly number[], step: number, minKeep: number, moves: number, rng: () => number): number[] {
  const out = [...counts];
  if (out.length < 2) return out;
  for (let m = 0; m < moves; m++) {
    const donors = out.map((_, l) => l).filter((l) => out[l]! - step >= Math.max(1, minKeep));
    const takers = out.map((_, l) => l).filter((l) => out[l]! + step <= widths[l]!);
    if (!donors.length || !takers.length) break;
    const from = donors[Math.floor(rng() * donors.length)]!;
    const choices = takers.filter((l) => l !== from);
    if (!choices.length) continue;
    const to = choices[Math.floor(rng() * choices.length)]!;
    out[from]! -= step;
    out[to]! += step;
  }
  return out;
}

/** Channels one mutation moves: about 2% of the mean layer width, a multiple of `multiple`. */
export function mutationStep(widths: readonly number[], multiple = 1): number {
  const mean = widths.reduce((a, b) => a + b, 0) / widths.length;
  return Math.max(multiple, Math.round((0.02 * mean) / multiple) * multiple);
}

export interface EvolveOptions {
  start: readonly number[];
  widths: readonly number[];
  step: number;
  minKeep: number;
  generations: number;
  offspring: number;
  seed: number;
  /** Held-out KL of the plan with these kept counts on the quick samples. */
  judge: (counts: readonly number[]) => Promise<number>;
  signal?: AbortSignal;
}

/** (1+λ) evolution of kept counts: the best of parent and offspring survives each generation. */
export async function evolveCounts(options: EvolveOptions): Promise<{ counts: number[]; kl: number; evaluations: number }> {
  const rng = createRng(options.seed);
  let counts = [...options.start];
  let kl = await options.judge(counts);
  let evaluations = 1;
  const seen = new Set([counts.join(',')]);
  for (let g = 0; g < options.generations; g++) {
    let best: { counts: number[]; kl: number } | undefined;
    for (let o = 0; o < options.offspring; o++) {
      options.signal?.throwIfAborted();
      // Bigger jumps early, single moves late (EvoPress anneals the mutation size the same way).
      const moves = 1 + Math.floor(rng() * Math.max(1, 3 - Math.floor((3 * g) / Math.max(1, options.generations))));
      const child = mutateCounts(counts, options.widths, options.step, options.minKeep, moves, rng);
      const key = child.join(',');
      if (seen.has(key)) continue;
      seen.add(key);
      const childKl = await options.judge(child);
      evaluations++;
      if (!best || childKl < best.kl) best = { counts: child, kl: childKl };
    }
    if (best && best.kl < kl) ({ counts, kl } = best);
  }
  return { counts, kl, evaluations };
}

export interface Candidate {
  label: string;
  plan: PlanWeights;
  /** A baseline (Wanda-sp, FLAP): the chosen plan must never be worse than any of these. */
  baseline?: boolean;
}

export interface JudgedCandidate<C extends Candidate> {
  candidate: C;
  /** Held-out KL over all held-out tokens, and per held-out sample. */
  kl: number;
  perSample: readonly number[];
}

/** Mean and standard error of the paired per-sample differences a − b. */
export function pairedDifference(a: readonly number[], b: readonly number[]): { mean: number; standardError: number } {
  const n = a.length;
  if (n !== b.length || n === 0) throw new RangeError(`paired samples of lengths ${a.length} and ${b.length}`);
  const d = a.map((x, i) => x - b[i]!);
  const mean = d.reduce((s, x) => s + x, 0) / n;
  const variance = n > 1 ? d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1) : Infinity;
  return { mean, standardError: Math.sqrt(variance / n) };
}

/**
 * Whether `challenger` has a lower KL than `incumbent` by more than one standard error of their paired
 * per-sample differences: on a few hundred held-out tokens a smaller gap is as likely selection noise.
 */
export function beatsBeyondNoise(challenger: readonly number[], incumbent: readonly number[]): boolean {
  const { mean, standardError } = pairedDifference(incumbent, challenger);
  return mean > standardError;
}

/**
 * The lowest held-out KL wins, except that the method's own plan (the first candidate) stays when the winner
 * beats it by less than one standard error of their paired per-sample differences: on a few hundred held-out
 * tokens a smaller gap is as likely selection noise as a better plan. The method's plan only stays when it
 * is no worse than every baseline, so the chosen plan never has a higher held-out KL than the best baseline.
 */
export function selectPlan<C extends Candidate>(judged: readonly JudgedCandidate<C>[], widths: readonly number[]): { chosen: C; selection: PlanSelection } {
  if (!judged.length) throw new RangeError('no candidate plans to choose from');
  const own = judged[0]!;
  let best = own;
  for (const j of judged) if (j.kl < best.kl) best = j;
  const bestBaseline = Math.min(...judged.filter((j) => j.candidate.baseline).map((j) => j.kl));
  if (best !== own && own.kl <= bestBaseline && !beatsBeyondNoise(best.perSample, own.perSample)) best = own;
  return {
    chosen: best.candidate,
    selection: {
      chosen: best.candidate.label,
      heldOutKl: best.kl,
      candidates: judged.map(({ candidate, kl }) => ({ label: candidate.label, kl, sparsities: candidate.plan.keep.map((k, l) => 1 - k.length / widths[l]!) })),
    },
  };
}
