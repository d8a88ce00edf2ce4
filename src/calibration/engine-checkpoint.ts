/**
 * A calibration run's saved state: the statistics so far and where to continue. Plain data (structured-
 * clone safe for postMessage and IndexedDB) with a JSON form for files.
 */
import type { CalibrationSample } from '../core/stats';
import { statsFromJson, statsToJson, type CalibrationStats, type CalibrationStatsJson } from '../core/stats';

export interface CalibrationCheckpoint {
  version: 1;
  /** Fingerprint of the sample list, so a checkpoint only resumes the run it came from. */
  samplesKey: string;
  totalSamples: number;
  /**
   * Layers whose Gram matrices each pass accumulates ([] without Gram matrices: one pass). Pass 0 also
   * accumulates the channel statistics of every layer.
   */
  gramPasses: number[][];
  /** The pass to continue and the index of its next sample. */
  pass: number;
  nextSample: number;
  /** Everything accumulated so far (in the current pass, Gram matrices of its layers are partial). */
  stats: CalibrationStats;
}

/** FNV-1a over every id and weight bit pattern: cheap, and any change to the samples changes it. */
export function samplesKey(samples: readonly CalibrationSample[]): string {
  let hash = 0x811c9dc5;
  const mix = (value: number) => {
    hash ^= value;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  };
  mix(samples.length);
  for (const { ids, weights } of samples) {
    mix(ids.length);
    for (const id of ids) mix(id);
    const bits = new Uint32Array(weights.buffer, weights.byteOffset, weights.length);
    for (const b of bits) mix(b);
  }
  return `${samples.length}:${hash.toString(16).padStart(8, '0')}`;
}

export function serializeCheckpoint(checkpoint: CalibrationCheckpoint): string {
  return JSON.stringify({ ...checkpoint, stats: statsToJson(checkpoint.stats) });
}

export function parseCheckpoint(text: string): CalibrationCheckpoint {
  const json = JSON.parse(text) as Omit<CalibrationCheckpoint, 'stats'> & { stats: CalibrationStatsJson };
  if (json?.version !== 1) throw new Error('not a calibration checkpoint (version 1)');
  const integer = (value: unknown, what: string) => {
    if (!Number.isInteger(value) || (value as number) < 0) throw new Error(`calibration checkpoint: ${what} is not a count`);
    return value as number;
  };
  return {
    version: 1,
    samplesKey: String(json.samplesKey),
    totalSamples: integer(json.totalSamples, 'totalSamples'),
    gramPasses: (json.gramPasses ?? []).map((layers) => layers.map((l) => integer(l, 'a Gram layer'))),
    pass: integer(json.pass, 'pass'),
    nextSample: integer(json.nextSample, 'nextSample'),
    stats: statsFromJson(json.stats),
  };
}
