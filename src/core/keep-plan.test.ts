import { describe, expect, it } from 'vitest';
import { densePlan, keepMasks, parseKeepPlan, planSparsity, removedChannels, uniformKeptSize, validateKeepPlan } from './keep-plan';

const sizes = [4, 6];

describe('keep-plans', () => {
  it('accepts sorted, in-range plans whose layers keep different numbers of channels', () => {
    const plan = validateKeepPlan({ keep: [[0, 3], [1, 2, 5]] }, sizes);
    expect(plan.keep).toEqual([[0, 3], [1, 2, 5]]);
    expect(planSparsity(plan, sizes)).toBeCloseTo(1 - 5 / 10, 12);
    expect(uniformKeptSize(plan)).toBeUndefined();
    expect(removedChannels(plan, sizes)).toEqual([[1, 2], [0, 3, 4]]);
    expect(keepMasks(plan, sizes).map((m) => Array.from(m))).toEqual([[1, 0, 0, 1], [0, 1, 1, 0, 0, 1]]);
  });

  it('knows the dense and the all-but-one plans', () => {
    expect(planSparsity(densePlan(sizes), sizes)).toBe(0);
    expect(uniformKeptSize(densePlan([3, 3]))).toBe(3);
    const oneEach = validateKeepPlan({ keep: [[3], [0]] }, sizes);
    expect(planSparsity(oneEach, sizes)).toBeCloseTo(0.8, 12);
    expect(uniformKeptSize(oneEach)).toBe(1);
  });

  it.each([
    [{ keep: [[0]] }, /lists 1 layers, but the model has 2/],
    [{ keep: [[0], [0], [1]] }, /lists 3 layers/],
    [{ keep: [[], [0]] }, /Layer 0 keeps no channel/],
    [{ keep: [[0, 4], [0]] }, /Layer 0, entry 1: channel 4 is out of range \(the layer has channels 0\.\.3\)/],
    [{ keep: [[0], [-1]] }, /Layer 1, entry 0: channel -1 is out of range/],
    [{ keep: [[2, 1], [0]] }, /Layer 0: indices must be sorted ascending \(2 comes before 1\)/],
    [{ keep: [[1, 1], [0]] }, /Layer 0: channel 1 is listed twice/],
    [{ keep: [[0.5], [0]] }, /Layer 0, entry 0: 0.5 is not an integer/],
    [{ keep: [['1'], [0]] }, /"1" is not an integer/],
    [{ keep: [0, [0]] }, /Layer 0 of the keep-plan is not a list/],
    [{ layers: [] }, /A keep-plan is an object/],
    [null, /A keep-plan is an object/],
  ])('rejects %j', (plan, message) => {
    expect(() => validateKeepPlan(plan, sizes)).toThrow(message);
  });

  it('parses plan.json text and reports invalid JSON', () => {
    expect(parseKeepPlan('{"keep": [[1], [2]]}', sizes).keep).toEqual([[1], [2]]);
    expect(() => parseKeepPlan('{"keep": [[1], [2]', sizes)).toThrow(/not valid JSON/);
    expect(() => parseKeepPlan('{"keep": [[1], [9]]}', sizes)).toThrow(/channel 9 is out of range/);
  });

  it('parses plan.json text before the model is known, checking what holds for any model', () => {
    expect(parseKeepPlan('{"keep": [[1], [2], [0, 7]]}').keep).toEqual([[1], [2], [0, 7]]);
    expect(() => parseKeepPlan('{"keep": [[2, 1]]}')).toThrow(/sorted ascending/);
    expect(() => parseKeepPlan('{"keep": [[-1]]}')).toThrow(/out of range/);
    expect(() => parseKeepPlan('{"keep": [["a"]]}')).toThrow(/not an integer channel index/);
    expect(() => parseKeepPlan('[]')).toThrow(/A keep-plan is an object/);
  });
});
