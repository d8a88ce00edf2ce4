import type { ReactNode } from 'react';
import type { StudioStep } from '../../store/studio';
import { useStudio } from '../../store/studio-app';

/** Where the footer's primary button leads. */
export interface NextStep {
  to: StudioStep;
  label: string;
  testId?: string;
  disabled?: boolean;
}

/** A step's button row: Back to the step before, the step's own buttons, and Next. */
export function StepFooter({ back, next, children }: { back?: StudioStep; next?: NextStep; children?: ReactNode }) {
  const goTo = useStudio((s) => s.goTo);
  return (
    <div className="actions">
      {back && (
        <button type="button" className="secondary" onClick={() => goTo(back)}>
          Back
        </button>
      )}
      {children}
      {next && (
        <button type="button" className="primary" data-testid={next.testId} onClick={() => goTo(next.to)} disabled={next.disabled}>
          {next.label}
        </button>
      )}
    </div>
  );
}
