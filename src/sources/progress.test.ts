import { describe, expect, it } from 'vitest';
import { ProgressMeter } from './progress';

describe('ProgressMeter', () => {
  it('measures the network rate over the last seconds and the time left; reused bytes count as loaded only', () => {
    let now = 0;
    const meter = new ProgressMeter(10_000, () => now);
    meter.reuse(2_000);
    expect(meter.snapshot('a')).toEqual({ file: 'a', loaded: 2_000, total: 10_000, bytesPerSecond: undefined, etaSeconds: undefined, reusedBytes: 2_000 });
    meter.received(1_000); // t = 0: no interval yet
    now = 1_000;
    meter.received(1_000);
    now = 2_000;
    meter.received(1_000);
    // Samples: 0 s (2000 before, 3000 after), 1 s (4000), 2 s (5000): 3000 bytes in 2 s.
    const s = meter.snapshot('b');
    expect(s.loaded).toBe(5_000);
    expect(s.bytesPerSecond).toBe(1_500); // (5000 - 2000) / 2 s
    expect(s.etaSeconds).toBeCloseTo(5_000 / 1_500);
  });

  it('forgets samples older than the window, so the rate follows a change of speed', () => {
    let now = 0;
    const meter = new ProgressMeter(undefined, () => now);
    for (let t = 0; t <= 10_000; t += 1_000) {
      now = t;
      meter.received(t < 5_000 ? 10_000 : 1_000); // 10 kB/s, then 1 kB/s
    }
    const s = meter.snapshot('f');
    expect(s.bytesPerSecond).toBe(1_000);
    expect(s.etaSeconds).toBeUndefined();
  });

  it('takes a new total when the plan changes', () => {
    const meter = new ProgressMeter(100, () => 0);
    meter.setTotal(150);
    expect(meter.snapshot('x').total).toBe(150);
    meter.setTotal(undefined);
    expect(meter.snapshot('x').total).toBeUndefined();
  });
});
