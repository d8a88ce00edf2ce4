import { formatBytes, type MemoryVerdict } from '../model/memory-estimate';
import { limitsFor, listingVerdict } from '../sources/variant-choice';
import { useStudio } from '../store/studio-app';
import { useSources } from '../store/sources';

/** Will the chosen variant fit, for the chosen calibration batch? Exact once the graph header was read. */
export function MemoryVerdictView() {
  const inspection = useSources((s) => s.inspection);
  const variantId = useSources((s) => s.variantId);
  const batchTokens = useSources((s) => s.batchTokens);
  const setBatchTokens = useSources((s) => s.setBatchTokens);
  const exact = useSources((s) => s.verdict);
  const backend = useStudio((s) => s.backend);
  const estimate = inspection && variantId ? listingVerdict(inspection, variantId, limitsFor(backend), batchTokens) : undefined;
  const verdict: MemoryVerdict | undefined = exact ?? estimate;
  if (!inspection || !variantId) return null;
  const level = !verdict ? 'unknown' : !verdict.fits ? 'too-big' : verdict.tight ? 'tight' : 'fits';
  return (
    <div className={`memory verdict-${level}`} data-testid="memory-verdict">
      <label className="field">
        <span>Calibration batch (tokens)</span>
        <input
          type="number"
          data-testid="batch-tokens"
          min={16}
          step={16}
          value={batchTokens}
          onChange={(e) => Number.isFinite(e.target.valueAsNumber) && e.target.valueAsNumber > 0 && setBatchTokens(Math.round(e.target.valueAsNumber))}
        />
      </label>
      <p data-testid="memory-summary">
        {verdict ? verdict.summary : 'No config.json: memory can be estimated once the graph is read.'}
        {verdict && !exact ? ' (Estimated from file sizes; checked exactly before the weights are downloaded.)' : ''}
      </p>
      {verdict && (
        <details>
          <summary>What was checked</summary>
          <ul className="checks">
            {verdict.checks.map((c) => (
              <li key={c.what} className={c.ok ? 'ok' : 'not-ok'}>
                {c.ok ? '✓' : '✗'} {c.what}: {formatBytes(c.need)} of {formatBytes(c.limit)}
              </li>
            ))}
          </ul>
          <p className="hint">WebGPU does not tell how much GPU memory there is, so only per-buffer limits can be checked.</p>
        </details>
      )}
    </div>
  );
}
