import type { StudioStep } from '../../store/studio';
import { useStudio } from '../../store/studio-app';

/** The error of one step, where it happened. */
export function StepError({ step }: { step: StudioStep }) {
  const message = useStudio((s) => s.errors[step]);
  if (!message) return null;
  return (
    <div className="error" role="alert" data-testid={`error-${step}`}>
      {message}
    </div>
  );
}
