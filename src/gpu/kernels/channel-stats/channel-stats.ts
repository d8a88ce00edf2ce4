/** Running per-channel statistics of one layer on the GPU (shaders/channel_stats.wgsl). */
import { readBuffer, writeBytes } from '../../buffers';
import type { GpuContext, GpuTensor } from '../../context';
import { fromDoubleFloat, toDoubleFloat } from '../../double-float';
import { encodeWeightedAccumulation } from '../../weighted-accumulation';
import type { ChannelStats } from '../../../core/stats';

// 64 invocations per workgroup, 4 channels each (see the kernel).
const CHANNELS_PER_GROUP = 256;

export class GpuChannelStats {
  /** (hi, lo) pairs: Σw·a² [C], Σw·a [C], Σw·|a| [C], Σw. */
  private readonly acc: GPUBuffer;
  private readonly params: GPUBuffer;

  constructor(
    private readonly ctx: GpuContext,
    readonly channels: number,
    initial?: ChannelStats,
  ) {
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels must be a positive integer, got ${channels}`);
    const { STORAGE, COPY_SRC, COPY_DST, UNIFORM } = GPUBufferUsage;
    this.acc = ctx.buffers.create('channel stats', (3 * channels + 1) * 8, STORAGE | COPY_SRC | COPY_DST);
    this.params = ctx.buffers.create('channel stats params', 8, UNIFORM | COPY_DST);
    // New buffers are zero-filled; a resumed run starts from its saved sums.
    if (initial) writeBytes(ctx.device, this.acc, 0, toDoubleFloat(packStats(initial, channels)));
  }

  /**
   * Encodes adding activations [tokens, channels] weighted by `weights` (tokens float32 values on the GPU).
   * The token count is written to the queue now: submit before encoding into this accumulator again.
   */
  encode(encoder: GPUCommandEncoder, activations: GpuTensor, weights: GPUBuffer, tokens: number): void {
    encodeWeightedAccumulation(this.ctx, encoder, { kernel: 'channel_stats', channels: this.channels, target: this.acc, params: this.params, workgroups: [Math.ceil(this.channels / CHANNELS_PER_GROUP)] }, activations, weights, tokens);
  }

  async read(): Promise<ChannelStats> {
    const values = fromDoubleFloat(new Float32Array(await readBuffer(this.ctx.device, this.acc, this.acc.size)));
    const c = this.channels;
    return { sumSq: values.slice(0, c), sum: values.slice(c, 2 * c), sumAbs: values.slice(2 * c, 3 * c), weight: values[3 * c] };
  }

  destroy(): void {
    this.ctx.buffers.destroy(this.acc);
    this.ctx.buffers.destroy(this.params);
  }
}

function packStats(stats: ChannelStats, channels: number): Float64Array {
  if (stats.sum.length !== channels) throw new RangeError(`saved statistics have ${stats.sum.length} channels, the layer has ${channels}`);
  const packed = new Float64Array(3 * channels + 1);
  packed.set(stats.sumSq, 0);
  packed.set(stats.sum, channels);
  packed.set(stats.sumAbs, 2 * channels);
  packed[3 * channels] = stats.weight;
  return packed;
}
