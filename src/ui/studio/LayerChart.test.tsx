// @vitest-environment jsdom
import { render } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { heatColour } from './HeatStrip';
import { LayerChart, layerRows } from './LayerChart';

describe('LayerChart', () => {
  it('splits each layer into kept and removed channels', () => {
    expect(layerRows([100, 50], [172, 172])).toEqual([
      { layer: 'Layer 1', kept: 100, removed: 72 },
      { layer: 'Layer 2', kept: 50, removed: 122 },
    ]);
  });

  it('draws one stacked bar pair per layer, with heights in proportion to the counts', () => {
    const { container } = render(<LayerChart keptPerLayer={[172, 86, 43]} widths={[172, 172, 172]} size={{ width: 600, height: 300 }} />);
    const heights = [...container.querySelectorAll('.recharts-bar')].map((g) => [...g.querySelectorAll('path.recharts-rectangle')].map((p) => Number(p.getAttribute('height'))));
    const [keptHeights, removedHeights] = heights;
    expect(keptHeights).toHaveLength(3);
    expect(keptHeights![0]! / keptHeights![1]!).toBeCloseTo(2, 1);
    expect(keptHeights![1]! / keptHeights![2]!).toBeCloseTo(2, 1);
    // Layer 2 loses 86 of 172, layer 3 loses 129: removed bars in that ratio.
    expect(removedHeights!.at(-1)! / removedHeights!.at(-2)!).toBeCloseTo(129 / 86, 1);
    expect(container.textContent).toContain('Layer 3');
  });

  it('heat colours darken with the score and stay in range', () => {
    const light = heatColour(0, 0, 1);
    const dark = heatColour(1, 0, 1);
    expect(light).toBe('hsl(215 70% 92%)');
    expect(dark).toBe('hsl(215 70% 30%)');
    expect(heatColour(5, 5, 5)).toBe('hsl(215 70% 61%)');
  });
});
