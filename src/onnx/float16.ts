/** IEEE half and bfloat16 conversions of float32 values (ONNX and GGUF store both as 16-bit patterns). */

let f16Table: Float32Array | undefined;

/** IEEE half → float via a 64K-entry table (built once; F16 models convert millions of values). */
export function f16ToF32Array(halves: Uint16Array): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exp = (h >> 10) & 0x1f;
      const mant = h & 0x3ff;
      f16Table[h] =
        exp === 0
          ? sign * mant * 2 ** -24
          : exp === 31
            ? mant
              ? NaN
              : sign * Infinity
            : sign * (1 + mant / 1024) * 2 ** (exp - 15);
    }
  }
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = f16Table[halves[i]];
  return out;
}

export function encodeF32(values: Float32Array): Uint8Array {
  return new Uint8Array(values.slice().buffer);
}

export function encodeF16(values: Float32Array): Uint8Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
  return new Uint8Array(out.buffer);
}

/** Round-to-nearest-even truncation of the float32 bits (NaN kept quiet). */
export function encodeBf16(values: Float32Array): Uint8Array {
  const bits = new Uint32Array(values.slice().buffer);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    out[i] = Number.isNaN(values[i]) ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return new Uint8Array(out.buffer);
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float → IEEE half bits, round-to-nearest-even, with subnormals, overflow to ±inf and NaN. */
export function f32ToF16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal half: shift the full 24-bit significand down to units of 2^-24
    const shift = 14 - e;
    if (shift > 24) return sign;
    const full = mant | 0x800000;
    const kept = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    return (sign | kept) + (rest > half || (rest === half && kept & 1) ? 1 : 0);
  }
  const kept = sign | (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // a carry out of the mantissa correctly bumps the exponent (up to infinity)
  return kept + (rest > 0x1000 || (rest === 0x1000 && kept & 1) ? 1 : 0);
}
