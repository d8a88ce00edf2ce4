/** The no-WebGPU accumulator: float64 sums on the CPU (the kernels' reference sums; the Gram's in blocks of tokens). */
import { accumulateChannelStats } from '../gpu/kernels/channel-stats/reference';
import { accumulateGramBlocked } from '../gpu/kernels/gram/reference';
import { readFloat32 } from '../model/logits';
import { checkActivations, copyLayerStats, type AccumulatorFactory } from './engine-accumulator';

export const createCpuAccumulator: AccumulatorFactory = (spec) => {
  const layers = spec.initial.layers.map(copyLayerStats);
  const gramLayers = new Set(spec.gramLayers);
  for (const l of gramLayers) {
    const c = spec.channels[l]!;
    layers[l]!.gram = Float64Array.from(layers[l]!.gram ?? new Float64Array(c * c));
  }
  return {
    async add(activations, weights) {
      for (const [layer, tensor] of activations) {
        checkActivations(tensor, layer, spec.channels[layer]!, weights.length);
        const values = await readFloat32(tensor);
        if (spec.channelStats) accumulateChannelStats(layers[layer]!, values, weights);
        if (gramLayers.has(layer)) accumulateGramBlocked(layers[layer]!.gram as Float64Array, spec.channels[layer]!, values, weights);
      }
    },
    read: async () => layers.map(copyLayerStats),
    dispose() {},
  };
};
