/**
 * Float64 values kept on the GPU as (hi, lo) float32 pairs, hi + lo being the value: how the running
 * channel sums keep ~48 bits on hardware without f64.
 */

/** [v0, v1, ...] -> [hi0, lo0, hi1, lo1, ...] with hi = fround(v), lo = fround(v - hi). */
export function toDoubleFloat(values: ArrayLike<number>): Float32Array {
  const pairs = new Float32Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const hi = Math.fround(values[i]);
    pairs[2 * i] = hi;
    pairs[2 * i + 1] = values[i] - hi;
  }
  return pairs;
}

export function fromDoubleFloat(pairs: Float32Array): Float64Array {
  const values = new Float64Array(pairs.length / 2);
  for (let i = 0; i < values.length; i++) values[i] = pairs[2 * i] + pairs[2 * i + 1];
  return values;
}
