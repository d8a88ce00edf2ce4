import { formatBytes } from '../../model/memory-estimate';
import type { PlanSummary } from '../../worker/studio-protocol';

const millions = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n.toLocaleString('en-US'));

/** Parameters, file size and compute before → after, always in view once there is a plan. */
export function Totals({ plan }: { plan: PlanSummary | null }) {
  if (!plan) return null;
  // Parameters and size are the exported model's own (the worker counts them from the graph); compute is estimated.
  const { before, after, ffnSparsity } = plan.estimates;
  const { parameters, bytes } = plan.totals;
  return (
    <dl className="totals" data-testid="totals" aria-live="polite">
      <div>
        <dt>Parameters</dt>
        <dd>
          <span data-testid="params-before">{parameters.before.toLocaleString('en-US')}</span> → <span data-testid="params-after">{parameters.after.toLocaleString('en-US')}</span>
        </dd>
      </div>
      <div>
        <dt>File size</dt>
        <dd>
          {formatBytes(bytes.before)} → <span data-testid="size-after">{formatBytes(bytes.after)}</span>
        </dd>
      </div>
      <div>
        <dt>Compute per word</dt>
        <dd>
          {millions(before.flopsPerToken)} → {millions(after.flopsPerToken)} FLOPs
        </dd>
      </div>
      <div>
        <dt>Removed</dt>
        <dd data-testid="removed-share">{(ffnSparsity * 100).toFixed(1)}% of FFN channels</dd>
      </div>
    </dl>
  );
}
