/** Which variant to preselect, and whether one fits, from what is known before downloading. */
import type { BackendInfo } from '../gpu/backend';
import { BROWSER_LIMITS, memoryVerdict, type MemoryLimits, type MemoryVerdict } from '../model/memory-estimate';
import type { Inspection } from './inspect';
import { listingMemoryInputs } from './memory-inputs';

/** The browser's limits, plus the GPU device's when the runtime runs on WebGPU. */
export function limitsFor(backend: BackendInfo | null): MemoryLimits {
  return backend?.kind === 'webgpu' ? { ...BROWSER_LIMITS, gpu: backend.limits } : BROWSER_LIMITS;
}

/** The estimate from the listing's sizes and config.json; undefined without a config. */
export function listingVerdict(inspection: Inspection, variantId: string, limits: MemoryLimits, batchTokens: number): MemoryVerdict | undefined {
  const variant = inspection.variants.find((v) => v.id === variantId);
  if (!variant || !inspection.config) return undefined;
  return memoryVerdict(listingMemoryInputs(variant, inspection.config, batchTokens), limits);
}

/** For a refusal: the other variants the listing says would fit, as a sentence (empty when none). */
export function fittingAlternatives(inspection: Inspection, variantId: string, limits: MemoryLimits, batchTokens: number): string {
  const fitting = inspection.variants.filter((v) => v.id !== variantId && listingVerdict(inspection, v.id, limits, batchTokens)?.fits);
  return fitting.length ? ` This model also comes as ${fitting.map((v) => v.label).join(', ')}, which fits.` : '';
}

/** The most precise variant that fits (variants come in order of preference), else the first. */
export function pickVariant(inspection: Inspection, limits: MemoryLimits, batchTokens: number): string | undefined {
  const fitting = inspection.variants.find((v) => listingVerdict(inspection, v.id, limits, batchTokens)?.fits !== false);
  return (fitting ?? inspection.variants[0])?.id;
}
