/**
 * WGSL sources by kernel name (files in `shaders/`, one kernel per file).
 *
 * Where the text comes from depends on the platform, so kernels take a {@link ShaderSource} instead of
 * importing files: the browser bundle passes `bundledShaders` (shaders-bundled.ts: Vite's
 * `import.meta.glob(..., { query: '?raw' })`, inlined at build time), Node code (Vitest, the tsx CLI, the
 * bench) passes `fileShaders` (node/file-shaders.ts: node:fs). Neither file imports the other, so no `node:`
 * import reaches the browser bundle and tsx never meets a `?raw` import.
 */
export const SHADER_NAMES = ['channel_stats', 'gram', 'cosine', 'kl_divergence', 'token_nll'] as const;

export type ShaderName = (typeof SHADER_NAMES)[number];

export type ShaderSource = (name: ShaderName) => string;

/** A source over `{ <any path ending in name.wgsl>: text }`, checked up front so a missing file fails early. */
export function shaderSourceFromFiles(files: Record<string, string>): ShaderSource {
  const byName = new Map(Object.entries(files).map(([path, text]) => [path.replace(/^.*\//, '').replace(/\.wgsl$/, ''), text]));
  const missing = SHADER_NAMES.filter((name) => !byName.has(name));
  if (missing.length) throw new Error(`Missing WGSL kernels: ${missing.map((name) => `shaders/${name}.wgsl`).join(', ')}`);
  return (name) => byName.get(name)!;
}
