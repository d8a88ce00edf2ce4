import { useEffect } from 'react';
import { useSources } from '../../store/sources';
import type { ModelState } from '../../store/studio';
import { useStudio } from '../../store/studio-app';
import { CacheView } from '../CacheView';
import { DownloadProgress } from '../DownloadProgress';
import { MemoryVerdictView } from '../MemoryVerdictView';
import { ModelCardView } from '../ModelCardView';
import { SourceChooser } from '../SourceChooser';
import { VariantPicker } from '../VariantPicker';
import { StepError } from './StepError';
import { TryModel } from './TryModel';
import '../sources.css';
import { StepFooter } from './StepFooter';

function describeModel(model: ModelState): string {
  switch (model.status) {
    case 'idle':
      return 'No model loaded yet.';
    case 'loading':
      return `Loading ${model.label}…`;
    case 'ready':
      return `loaded ${model.label}: ${model.denseParameters?.toLocaleString('en-US')} parameters, ${model.widths?.length} layers`;
    case 'error':
      return 'Not loaded.';
  }
}

/** Step 1: which model to slim down (built-in, hub, address, folder or .gguf), its card, and a try-out. */
export function ModelStep() {
  const model = useStudio((s) => s.model);
  const phase = useSources((s) => s.phase);
  const message = useSources((s) => s.message);
  const load = useSources((s) => s.load);
  const cancel = useSources((s) => s.cancel);
  const trialRunning = useStudio((s) => s.trial.running);
  useEffect(() => {
    // The built-in model is local: open it right away. Other sources wait for the user.
    const sources = useSources.getState();
    if (sources.kind === 'builtin' && useStudio.getState().model.status === 'idle') void sources.load();
    else if (sources.kind === 'builtin') void sources.inspect();
    void sources.refreshCache();
  }, []);
  const busy = phase === 'inspecting' || phase === 'downloading' || model.status === 'loading';
  return (
    <section className="studio-step" aria-labelledby="model-title">
      <h2 id="model-title">1. Choose a model</h2>
      <p className="hint">The model is the AI that will speak for your character. The built-in one is tiny and quick: good for trying the studio.</p>
      <div className="model-step">
        <div className="model-source-column">
          <SourceChooser />
          <VariantPicker />
          <MemoryVerdictView />
          <div className="actions">
            <button type="button" className="secondary" data-testid="load-model" onClick={() => void load()} disabled={busy || trialRunning}>
              Load this model
            </button>
            <button type="button" className="secondary" data-testid="cancel-load" onClick={cancel} disabled={phase !== 'downloading'}>
              Cancel download
            </button>
          </div>
          <DownloadProgress />
          {message && (
            <div className="error" role="alert" data-testid="source-message">
              {message}
            </div>
          )}
          <p className="status" data-testid="model-status" aria-live="polite">
            {describeModel(model)}
          </p>
          {model.status === 'ready' && model.configWarnings?.length ? (
            <ul className="warning" data-testid="config-warnings">
              {model.configWarnings.map((w) => (
                <li key={w}>{w}</li>
              ))}
            </ul>
          ) : null}
          <StepError step="model" />
          <ModelCardView />
          <CacheView />
        </div>
        <div className="model-try-column">{model.status === 'ready' && <TryModel />}</div>
      </div>
      <StepFooter next={{ to: 'character', label: 'Next: your character', testId: 'to-character', disabled: model.status !== 'ready' }} />
    </section>
  );
}
