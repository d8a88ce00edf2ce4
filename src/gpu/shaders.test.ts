import { describe, expect, it } from 'vitest';
import { fromDoubleFloat, toDoubleFloat } from './double-float';
import { bindingBytes, inputPrelude } from './elements';
import { SHADER_NAMES, shaderSourceFromFiles } from './shaders';
import { bundledShaders } from './shaders-bundled';
import { fileShaders } from '../node/file-shaders';

describe('shader sources', () => {
  it('the browser bundle (import.meta.glob ?raw) and Node (fs) load the same kernels', () => {
    for (const name of SHADER_NAMES) {
      expect(bundledShaders(name)).toContain('@compute');
      expect(bundledShaders(name)).toBe(fileShaders(name));
    }
  });

  it('a missing kernel file fails when the source is made, naming the file', () => {
    expect(() => shaderSourceFromFiles({ 'shaders/token_nll.wgsl': '' })).toThrow('shaders/channel_stats.wgsl');
  });
});

describe('element helpers', () => {
  it('binds f16 tensors as whole u32 words', () => {
    expect(bindingBytes(3, 'f16')).toBe(8);
    expect(bindingBytes(3, 'f32')).toBe(12);
    expect(inputPrelude('act', 0, 'f16')).toContain('var<storage, read> act: array<u32>');
    expect(inputPrelude('act', 0, 'f32')).toContain('fn load_act(i: u32) -> f32');
  });

  it('splits float64 values into (hi, lo) float32 pairs that add back to ~48 bits', () => {
    const values = Float64Array.of(Math.PI * 1e6, -1 / 3, 0, 2 ** 40 + 3);
    const back = fromDoubleFloat(toDoubleFloat(values));
    values.forEach((v, i) => expect(Math.abs(back[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -47));
    expect(back[3]).toBe(2 ** 40 + 3);
  });
});
