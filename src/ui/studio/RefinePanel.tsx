import { useStudio } from '../../store/studio-app';
import { progressLabel } from './CalibrateStep';

/**
 * Which plan is shown (an instant preview, or the refined plan that downloads, with its held-out KL when
 * the search chose it) and the refine step: progress, cancel, and what a cancel kept.
 */
export function RefinePanel() {
  const plan = useStudio((s) => s.plan);
  const refine = useStudio((s) => s.refine);
  const run = useStudio((s) => s.refinePlan);
  const cancel = useStudio((s) => s.cancelRefine);
  if (!plan) return null;
  const working = refine.status === 'running' || refine.status === 'cancelling';
  return (
    <div className={`refine-panel ${plan.kind}`}>
      <p className="status" data-testid="plan-kind" data-kind={plan.kind} aria-live="polite">
        {plan.kind === 'refined' ? (
          <>
            <strong>Refined plan</strong> ({Math.round(plan.params.sparsity * 100)}%): the full analysis for this size (for the recommended method, each layer re-fitted in turn on your character's data), the same plan the command line makes. This is the plan the download uses.
            {plan.selection && (
              <>
                {' '}
                Chosen: <span data-testid="plan-chosen">{plan.selection.chosen}</span>, held-out KL to the full model{' '}
                <span data-testid="plan-kl">{plan.selection.heldOutKl.toPrecision(3)}</span> nats per token.
              </>
            )}
          </>
        ) : (
          <>
            <strong>Preview</strong> ({Math.round(plan.params.sparsity * 100)}%): an instant one-shot plan. Refine it to get the plan the download uses.
          </>
        )}
      </p>
      {working && refine.progress && (
        <>
          <progress data-testid="refine-progress" max={refine.progress.total} value={refine.progress.done} aria-label="Refining progress" />
          <p className="status">{progressLabel(refine.progress)}</p>
        </>
      )}
      {refine.status === 'cancelled' && (
        <p className="status" data-testid="refine-stopped">
          Refining stopped. Nothing was lost: the plan shown and the last refined plan are kept.
        </p>
      )}
      <div className="actions">
        {working ? (
          <button type="button" className="secondary" data-testid="cancel-refine" onClick={cancel} disabled={refine.status === 'cancelling'}>
            {refine.status === 'cancelling' ? 'Stopping…' : 'Stop refining'}
          </button>
        ) : (
          plan.kind === 'preview' && (
            <button type="button" className="primary" data-testid="refine-plan" onClick={run}>
              Refine this plan
            </button>
          )
        )}
      </div>
    </div>
  );
}
