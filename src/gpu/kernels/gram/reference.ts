/** CPU reference of shaders/gram.wgsl, in float64 (also the no-WebGPU accumulator). */

/**
 * Adds Σ_t w_t · a_t a_tᵀ into `gram` (channels x channels, row-major, the full symmetric matrix) for
 * activations [tokens, channels] with tokens = weights.length; tokens with weight 0 are skipped.
 */
export function accumulateGram(gram: Float64Array, channels: number, activations: ArrayLike<number>, weights: ArrayLike<number>): void {
  if (gram.length !== channels * channels) throw new RangeError(`a Gram matrix of ${channels} channels has ${channels * channels} entries, not ${gram.length}`);
  if (activations.length < weights.length * channels) {
    throw new RangeError(`${activations.length} activations cannot hold ${weights.length} tokens x ${channels} channels`);
  }
  const row = new Float64Array(channels);
  for (let t = 0; t < weights.length; t++) {
    const w = weights[t];
    if (w === 0) continue;
    for (let c = 0; c < channels; c++) row[c] = activations[t * channels + c];
    for (let i = 0; i < channels; i++) {
      const wi = w * row[i];
      if (wi === 0) continue;
      const base = i * channels;
      // Upper triangle here, mirrored below: the matrix is symmetric.
      for (let j = i; j < channels; j++) gram[base + j] += wi * row[j];
    }
  }
  for (let i = 0; i < channels; i++) for (let j = 0; j < i; j++) gram[i * channels + j] = gram[j * channels + i];
}
