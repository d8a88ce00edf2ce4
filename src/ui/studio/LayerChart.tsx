import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

export interface LayerChartProps {
  keptPerLayer: readonly number[];
  widths: readonly number[];
  /** Fixed size (tests, jsdom); without it the chart fills its container. */
  size?: { width: number; height: number };
}

/** Rows of the per-layer chart: kept and removed channels per layer. */
export function layerRows(keptPerLayer: readonly number[], widths: readonly number[]) {
  return keptPerLayer.map((kept, l) => ({ layer: `Layer ${l + 1}`, kept, removed: widths[l]! - kept }));
}

/** A stacked bar per layer: kept channels, then removed ones. */
export function LayerChart({ keptPerLayer, widths, size }: LayerChartProps) {
  const chart = (
    <BarChart data={layerRows(keptPerLayer, widths)} {...size} margin={{ top: 8, right: 8, bottom: 8, left: 0 }} accessibilityLayer>
      <CartesianGrid strokeDasharray="3 3" vertical={false} />
      <XAxis dataKey="layer" />
      <YAxis allowDecimals={false} />
      <Tooltip />
      <Legend />
      <Bar dataKey="kept" name="kept channels" stackId="c" fill="#2f6fdf" isAnimationActive={false} />
      <Bar dataKey="removed" name="removed channels" stackId="c" fill="#e3a33b" isAnimationActive={false} />
    </BarChart>
  );
  return (
    <figure className="layer-chart" data-testid="layer-chart" aria-label="Kept and removed channels per layer">
      {size ? chart : <ResponsiveContainer width="100%" height={260}>{chart}</ResponsiveContainer>}
    </figure>
  );
}
