/**
 * The element types our kernels read (activations, hidden states, logits) and the WGSL that declares such
 * an input. Every kernel reads its tensor inputs through `load_<name>(i: u32) -> f32`, declared by
 * {@link inputPrelude}, so one kernel file serves f32 and f16 tensors alike.
 *
 * f16 tensors are bound as packed u32 pairs and widened with `unpack2x16float`, which is core WGSL: it
 * needs no `shader-f16` feature (SwiftShader, for one, has none), and f16 -> f32 is exact, so the kernels
 * give the same results as with native f16 loads.
 */
export type ElementType = 'f32' | 'f16';

export function elementBytes(type: ElementType): number {
  return type === 'f32' ? 4 : 2;
}

/** onnxruntime's tensor type name -> our element type. */
export function elementTypeOf(ortType: string): ElementType {
  if (ortType === 'float32') return 'f32';
  if (ortType === 'float16') return 'f16';
  throw new Error(`GPU kernels read float32 or float16 tensors, not ${ortType}.`);
}

/** Bytes to bind for `elements` values: storage bindings must be a multiple of 4 bytes. */
export function bindingBytes(elements: number, type: ElementType): number {
  return Math.ceil((elements * elementBytes(type)) / 4) * 4;
}

/** Declares read-only storage `name` at @group(0) @binding(binding) and its loader `load_<name>`. */
export function inputPrelude(name: string, binding: number, type: ElementType): string {
  if (type === 'f32') {
    return `@group(0) @binding(${binding}) var<storage, read> ${name}: array<f32>;
fn load_${name}(i: u32) -> f32 { return ${name}[i]; }
`;
  }
  // Element 2k sits in the low half of word k (little-endian), which unpack2x16float returns as .x.
  return `@group(0) @binding(${binding}) var<storage, read> ${name}: array<u32>;
fn load_${name}(i: u32) -> f32 {
  let pair = unpack2x16float(${name}[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) == 1u);
}
`;
}
