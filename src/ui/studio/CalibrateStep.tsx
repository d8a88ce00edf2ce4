import { useStudio } from '../../store/studio-app';
import type { StudioProgress } from '../../worker/studio-protocol';
import { StepError } from './StepError';
import { StepFooter } from './StepFooter';

const PHASES: Record<StudioProgress['phase'], string> = {
  filtering: 'Choosing the questions that matter for your character',
  synthesis: 'Writing practice answers',
  calibration: 'Watching which parts of the model are used',
  scoring: 'Deciding what to keep',
  search: 'Trying plans on held-out answers',
  export: 'Writing the model',
};

/** Where the time went, phase by phase, in the order the phases ran. */
export function phaseTimes(timings: Record<string, number>): string {
  return Object.entries(timings)
    .filter(([phase]) => phase in PHASES)
    .map(([phase, ms]) => `${PHASES[phase as StudioProgress['phase']].toLowerCase()} ${(ms / 1000).toFixed(1)} s`)
    .join(', ');
}

export function progressLabel(p: StudioProgress): string {
  const set = p.set === 'generic' ? ' (plain voice, for balance)' : '';
  const rate = p.tokensPerSecond ? ` · ${p.tokensPerSecond.toFixed(0)} tokens/s` : '';
  const eta = p.etaSeconds !== undefined ? ` · about ${Math.ceil(p.etaSeconds)} s left` : '';
  return `${PHASES[p.phase]}${set}: ${p.done} of ${p.total}${rate}${eta}`;
}

/** Step 4: the analysis running, with what it writes. */
export function CalibrateStep() {
  const calibration = useStudio((s) => s.calibration);
  const cancel = useStudio((s) => s.cancelCalibration);
  const run = useStudio((s) => s.runCalibration);
  const goTo = useStudio((s) => s.goTo);
  const checkpoint = useStudio((s) => s.checkpoint);
  const ready = useStudio((s) => s.model.status === 'ready');
  const { progress, status } = calibration;
  return (
    <section className="studio-step" aria-labelledby="calibrate-title">
      <h2 id="calibrate-title">4. Analysing your character</h2>
      {progress && (
        <>
          <progress data-testid="calibration-progress" max={progress.total} value={progress.done} aria-label="Analysis progress" />
          <p className="status" data-testid="calibration-status" aria-live="polite">
            {progressLabel(progress)}
          </p>
        </>
      )}
      {calibration.resumedFrom && status !== 'cancelled' && (
        <p className="status" data-testid="calibration-resumed">
          Resumed from the saved progress ({calibration.resumedFrom.done} of {calibration.resumedFrom.total} samples were already analysed).
        </p>
      )}
      {status === 'running' && calibration.saved && (
        <p className="status saved" data-testid="checkpoint-saved">
          Progress is saved ({calibration.saved.done} of {calibration.saved.total} samples analysed): if the page closes, you can resume from here.
        </p>
      )}
      {status === 'cancelled' && (
        <p className="status" data-testid="calibration-stopped">
          Stopped.{' '}
          {checkpoint
            ? `You can resume where it stopped${calibration.saved ? ` (${calibration.saved.done} of ${calibration.saved.total} samples were analysed)` : ''}.`
            : 'You can start again.'}
        </p>
      )}
      {status === 'done' && calibration.timings && (
        <p className="status" data-testid="calibration-done" data-timings={JSON.stringify(calibration.timings)}>
          Done in {(calibration.timings.total! / 1000).toFixed(1)} s (statistics summed on the {calibration.accumulator === 'gpu' ? 'GPU' : 'CPU'}):{' '}
          {phaseTimes(calibration.timings)}.
        </p>
      )}
      {calibration.answers.length > 0 && (
        <div className="answers" data-testid="answer-preview">
          <h3>Latest practice answers</h3>
          <ul>
            {calibration.answers.map((a, i) => (
              <li key={i}>{a || '(no words)'}</li>
            ))}
          </ul>
        </div>
      )}
      <StepError step="calibrate" />
      <StepFooter>
        {status === 'running' || status === 'cancelling' ? (
          <button type="button" className="secondary" data-testid="cancel-calibration" onClick={cancel} disabled={status === 'cancelling'}>
            {status === 'cancelling' ? 'Stopping…' : 'Cancel'}
          </button>
        ) : status === 'done' ? (
          <button type="button" className="primary" onClick={() => goTo('plan')}>
            See the plan
          </button>
        ) : (
          <>
            <button type="button" className="primary" data-testid="resume-calibration" onClick={run} disabled={!ready}>
              {checkpoint ? 'Resume' : 'Start again'}
            </button>
            {!ready && <span className="status">Loading the model…</span>}
          </>
        )}
      </StepFooter>
    </section>
  );
}
