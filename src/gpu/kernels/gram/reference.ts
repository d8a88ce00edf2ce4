/** CPU reference of shaders/gram.wgsl, in float64, and the no-WebGPU accumulator (the same sums, blocked). */

/**
 * Adds Σ_t w_t · a_t a_tᵀ into `gram` (channels x channels, row-major, the full symmetric matrix) for
 * activations [tokens, channels] with tokens = weights.length; tokens with weight 0 are skipped.
 */
export function accumulateGram(gram: Float64Array, channels: number, activations: ArrayLike<number>, weights: ArrayLike<number>): void {
  checkGramInputs(gram, channels, activations, weights);
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

function checkGramInputs(gram: Float64Array, channels: number, activations: ArrayLike<number>, weights: ArrayLike<number>): void {
  if (gram.length !== channels * channels) throw new RangeError(`a Gram matrix of ${channels} channels has ${channels * channels} entries, not ${gram.length}`);
  if (activations.length < weights.length * channels) {
    throw new RangeError(`${activations.length} activations cannot hold ${weights.length} tokens x ${channels} channels`);
  }
}

/** Tokens summed per pass over the Gram matrix in accumulateGramBlocked. */
const GRAM_BLOCK = 64;

/**
 * accumulateGram's sums in blocks of tokens: the per-token update streams the whole matrix through memory
 * once per token (19 MB at 1536 channels), which bounds it by memory bandwidth; here each entry gets a
 * dot product over up to 64 tokens held channel-major in two small buffers, so the matrix is read and
 * written once per block. The no-WebGPU accumulator (Node CLI, the studio on WASM) uses this one.
 */
export function accumulateGramBlocked(gram: Float64Array, channels: number, activations: ArrayLike<number>, weights: ArrayLike<number>): void {
  checkGramInputs(gram, channels, activations, weights);
  // a[c * GRAM_BLOCK + k] = activation of channel c at the block's k-th token; wa the same times its weight.
  const a = new Float64Array(channels * GRAM_BLOCK);
  const wa = new Float64Array(channels * GRAM_BLOCK);
  const flush = (n: number) => {
    for (let i = 0; i < channels; i++) {
      const ri = i * GRAM_BLOCK;
      const base = i * channels;
      for (let j = i; j < channels; j++) {
        const rj = j * GRAM_BLOCK;
        let sum = 0;
        for (let k = 0; k < n; k++) sum += wa[ri + k] * a[rj + k];
        gram[base + j] += sum;
      }
    }
  };
  let k = 0;
  for (let t = 0; t < weights.length; t++) {
    const w = weights[t];
    if (w === 0) continue;
    for (let c = 0; c < channels; c++) {
      const v = activations[t * channels + c];
      a[c * GRAM_BLOCK + k] = v;
      wa[c * GRAM_BLOCK + k] = w * v;
    }
    if (++k === GRAM_BLOCK) {
      flush(k);
      k = 0;
    }
  }
  if (k > 0) flush(k);
  for (let i = 0; i < channels; i++) for (let j = 0; j < i; j++) gram[i * channels + j] = gram[j * channels + i];
}
