/** CPU reference of shaders/cosine.wgsl, in float64. */

/** cos(a, b); 0 when either vector is zero (it has no direction). */
function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`cosine of vectors of lengths ${a.length} and ${b.length}`);
  // Scaled by the largest magnitudes first, as the kernel does, so huge values do not overflow.
  let maxA = 0;
  let maxB = 0;
  for (let k = 0; k < a.length; k++) {
    maxA = Math.max(maxA, Math.abs(a[k]));
    maxB = Math.max(maxB, Math.abs(b[k]));
  }
  if (maxA === 0 || maxB === 0) return 0;
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let k = 0; k < a.length; k++) {
    const x = a[k] / maxA;
    const y = b[k] / maxB;
    dot += x * y;
    aa += x * x;
    bb += y * y;
  }
  return dot / (Math.sqrt(aa) * Math.sqrt(bb));
}

/** Mean of cos(a_l, b_l) over the given layer vectors (the persona-sensitivity score is 1 minus this). */
export function meanCosineSimilarity(layers: readonly { a: ArrayLike<number>; b: ArrayLike<number> }[]): number {
  if (layers.length === 0) throw new RangeError('the layer range is empty');
  return layers.reduce((total, { a, b }) => total + cosineSimilarity(a, b), 0) / layers.length;
}
