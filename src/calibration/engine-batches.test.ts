import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { DecoderIO } from '../model/decoder-io';
import { batchEnd, batchFeeds, checkSamples, makeBatch } from './engine-batches';
import { type CalibrationSample } from '../core/stats';

const sample = (ids: number[], weight = 1): CalibrationSample => ({ ids, weights: new Float32Array(ids.length).fill(weight) });

describe('calibration batches', () => {
  it('right-pads samples, masks the padding and gives it weight 0', () => {
    const batch = makeBatch([sample([1, 5, 6], 0.5), sample([1, 7])], 9);
    expect(batch).toMatchObject({ rows: 2, length: 3, tokens: 5 });
    expect([...batch.ids]).toEqual([1n, 5n, 6n, 1n, 7n, 9n]);
    expect([...batch.attentionMask]).toEqual([1n, 1n, 1n, 1n, 1n, 0n]);
    expect([...batch.positionIds]).toEqual([0n, 1n, 2n, 0n, 1n, 2n]);
    expect([...batch.weights]).toEqual([0.5, 0.5, 0.5, 1, 1, 0]);
  });

  it('ends a batch at batchSize samples or when padded tokens would exceed maxTokens, with at least one sample', () => {
    const samples = [sample([1, 2]), sample([1, 2, 3, 4]), sample([1]), sample([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])];
    expect(batchEnd(samples, 0, 3, 100)).toBe(3);
    expect(batchEnd(samples, 0, 8, 12)).toBe(3); // 3 rows x 4 = 12; a 4th row of 10 would pad to 40
    expect(batchEnd(samples, 0, 8, 7)).toBe(1); // 2 rows x 4 = 8 > 7
    expect(batchEnd(samples, 3, 8, 4)).toBe(4); // alone, even over the limit
  });

  it('feeds a [rows, kvHeads, 0, headDim] empty cache of the graph type', () => {
    const io: DecoderIO = {
      pastToPresent: new Map([['past_key_values.0.key', 'present.0.key']]),
      pastType: 'float16',
      kvHeads: 4,
      headDim: 8,
      hasPositionIds: false,
      hasAttentionMask: true,
    };
    const feeds = batchFeeds(ort, io, makeBatch([sample([1, 2]), sample([1])]));
    expect(Object.keys(feeds).sort()).toEqual(['attention_mask', 'input_ids', 'past_key_values.0.key']);
    expect(feeds['past_key_values.0.key']!.dims).toEqual([2, 4, 0, 8]);
    expect(feeds['past_key_values.0.key']!.type).toBe('float16');
    expect(feeds.input_ids!.dims).toEqual([2, 2]);
  });

  it('refuses empty samples, weight counts that differ from token counts, and samples longer than the model', () => {
    expect(() => checkSamples([sample([])])).toThrow('calibration sample 0 has no tokens');
    expect(() => checkSamples([sample([1]), { ids: [1, 2], weights: new Float32Array(3) }])).toThrow('sample 1 has 2 tokens but 3 weights');
    expect(() => checkSamples([sample([1, 2, 3])], 2)).toThrow("more than the model's 2 positions");
  });
});
