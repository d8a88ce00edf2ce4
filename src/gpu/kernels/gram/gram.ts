/** A running weighted Gram matrix Σ w·a·aᵀ of one layer on the GPU (shaders/gram.wgsl), f32. */
import { readBuffer, writeBytes } from '../../buffers';
import type { GpuContext, GpuTensor } from '../../context';
import { encodeWeightedAccumulation } from '../../weighted-accumulation';

const TILE = 16;

export class GpuGram {
  private readonly gram: GPUBuffer;
  private readonly params: GPUBuffer;

  constructor(
    private readonly ctx: GpuContext,
    readonly channels: number,
    /** A saved full matrix (channels x channels) to continue from. */
    initial?: ArrayLike<number>,
  ) {
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels must be a positive integer, got ${channels}`);
    const bytes = channels * channels * 4;
    const limit = ctx.device.limits.maxStorageBufferBindingSize;
    if (bytes > limit) {
      throw new RangeError(`a ${channels} x ${channels} Gram matrix needs ${bytes} bytes, more than this GPU binds at once (${limit})`);
    }
    const { STORAGE, COPY_SRC, COPY_DST, UNIFORM } = GPUBufferUsage;
    this.gram = ctx.buffers.create('gram', bytes, STORAGE | COPY_SRC | COPY_DST);
    this.params = ctx.buffers.create('gram params', 8, UNIFORM | COPY_DST);
    if (initial) {
      if (initial.length !== channels * channels) throw new RangeError(`a saved Gram matrix has ${initial.length} entries, not ${channels}²`);
      writeBytes(ctx.device, this.gram, 0, Float32Array.from(initial));
    }
  }

  /**
   * Encodes adding activations [tokens, channels] weighted by `weights` (tokens float32 values on the GPU).
   * The token count is written to the queue now: submit before encoding into this accumulator again.
   */
  encode(encoder: GPUCommandEncoder, activations: GpuTensor, weights: GPUBuffer, tokens: number): void {
    encodeWeightedAccumulation(this.ctx, encoder, { kernel: 'gram', channels: this.channels, target: this.gram, params: this.params, workgroups: [Math.ceil(this.channels / TILE), Math.ceil(this.channels / TILE)] }, activations, weights, tokens);
  }

  /** The full symmetric matrix (the kernel fills the upper triangle; it is mirrored here). */
  async read(): Promise<Float32Array> {
    const gram = new Float32Array(await readBuffer(this.ctx.device, this.gram, this.gram.size));
    const c = this.channels;
    for (let i = 1; i < c; i++) for (let j = 0; j < i; j++) gram[i * c + j] = gram[j * c + i];
    return gram;
  }

  destroy(): void {
    this.ctx.buffers.destroy(this.gram);
    this.ctx.buffers.destroy(this.params);
  }
}
