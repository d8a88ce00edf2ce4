/**
 * What the memory estimate needs, from what is known at each step: before any download (listing sizes
 * and config.json) and after the graph header (exact tensor sizes, every layer's FFN width).
 */
import type { ModelConfig } from '../model/config';
import type { MemoryInputs } from '../model/memory-estimate';
import type { ModelCard } from '../model/model-card';
import type { Variant } from './variants';

const widest = (config: ModelConfig) => {
  const perLayer = config.intermediate_sizes;
  return Array.isArray(perLayer) && perLayer.length ? Math.max(...(perLayer as number[])) : config.intermediate_size;
};

/** Before downloading: files the listing sized (unsized ones are unknown yet), shape from config.json. */
export function listingMemoryInputs(variant: Variant, config: ModelConfig, batchTokens: number): MemoryInputs {
  return {
    files: [variant.graph, ...variant.dataFiles]
      .filter((f): f is { path: string; size: number } => f.size !== undefined)
      .map((f) => ({ path: f.path, bytes: f.size })),
    layers: config.num_hidden_layers,
    intermediateSize: widest(config),
    vocabSize: config.vocab_size,
    batchTokens,
  };
}

/** After reading the graph header: the card's facts (graph first, config where the graph is silent). */
export function cardMemoryInputs(card: ModelCard, batchTokens: number): MemoryInputs {
  const ffn = card.ffnSizes?.value ?? [];
  return {
    files: card.files,
    weightBytes: card.weightBytes,
    largestTensor: card.largestTensor,
    layers: card.layers?.value ?? 0,
    intermediateSize: ffn.length ? Math.max(...ffn) : 0,
    vocabSize: card.vocabSize?.value ?? 0,
    batchTokens,
  };
}
