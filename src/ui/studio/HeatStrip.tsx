/** One strip per layer: each channel's score as a colour (darker = more important), kept channels outlined below. */
export function heatColour(score: number, min: number, max: number): string {
  const t = max > min ? (score - min) / (max - min) : 0.5;
  const lightness = Math.round(92 - t * 62);
  return `hsl(215 70% ${lightness}%)`;
}

export function HeatStrip({ scores, kept }: { scores: readonly Float64Array[]; kept: readonly number[] }) {
  return (
    <div className="heat-strips" data-testid="heat-strips">
      {scores.map((layer, l) => {
        const sorted = Array.from(layer).sort((a, b) => a - b);
        // Colours span the 2nd..98th percentile so a few outliers do not wash the strip out.
        const lo = sorted[Math.floor(sorted.length * 0.02)] ?? 0;
        const hi = sorted[Math.ceil(sorted.length * 0.98) - 1] ?? 1;
        const threshold = sorted[sorted.length - (kept[l] ?? 0)] ?? Infinity;
        return (
          <div className="heat-row" key={l}>
            <span className="heat-label">Layer {l + 1}</span>
            <svg className="heat-strip" viewBox={`0 0 ${layer.length} 10`} preserveAspectRatio="none" role="img" aria-label={`Layer ${l + 1}: importance of ${layer.length} channels`}>
              {Array.from(layer, (s, c) => (
                <rect key={c} x={c} y={0} width={1} height={s >= threshold ? 10 : 7} fill={heatColour(Math.min(hi, Math.max(lo, s)), lo, hi)} />
              ))}
            </svg>
          </div>
        );
      })}
      <p className="hint">Each thin line is one channel; darker means more important to your character. Taller lines are the kept ones.</p>
    </div>
  );
}
