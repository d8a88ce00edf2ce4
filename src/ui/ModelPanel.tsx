import { useEffect } from 'react';
import { formatBytes } from '../model/memory-estimate';
import { useRuntime, type ModelStatus } from '../store/runtime';
import { useSources } from '../store/sources';
import { CacheView } from './CacheView';
import { DownloadProgress } from './DownloadProgress';
import { MemoryVerdictView } from './MemoryVerdictView';
import { ModelCardView } from './ModelCardView';
import { SourceChooser } from './SourceChooser';
import { VariantPicker } from './VariantPicker';
import './sources.css';

export function ModelPanel() {
  const status = useRuntime((state) => state.modelStatus);
  const generating = useRuntime((state) => state.generating);
  const phase = useSources((state) => state.phase);
  const message = useSources((state) => state.message);
  const load = useSources((state) => state.load);
  const cancel = useSources((state) => state.cancel);
  useEffect(() => {
    // The built-in model is local: list its variants right away. Other sources wait for the user.
    const sources = useSources.getState();
    if (sources.kind === 'builtin') void sources.inspect();
    void sources.refreshCache();
  }, []);
  const busy = phase === 'inspecting' || phase === 'downloading' || status.state === 'loading';
  return (
    <section className="panel model-panel">
      <h2>Model</h2>
      <SourceChooser />
      <VariantPicker />
      <MemoryVerdictView />
      <div className="row">
        <button type="button" data-testid="load-model" onClick={() => void load()} disabled={busy || generating}>
          Load
        </button>
        <button type="button" className="secondary" data-testid="cancel-load" onClick={cancel} disabled={phase !== 'downloading'}>
          Cancel
        </button>
      </div>
      <DownloadProgress />
      {message && (
        <div className="error" role="alert" data-testid="source-message">
          {message}
        </div>
      )}
      <p className="status" data-testid="model-status">
        {describeStatus(status)}
      </p>
      <ModelCardView />
      <CacheView />
    </section>
  );
}

function describeStatus(status: ModelStatus): string {
  switch (status.state) {
    case 'none':
      return 'No model loaded.';
    case 'loading':
      if (!status.file) return 'Loading…';
      return `Loading ${status.file}: ${formatBytes(status.loaded ?? 0)}${status.total ? ` of ${formatBytes(status.total)}` : ''}`;
    case 'loaded': {
      const { model } = status;
      return `loaded ${model.baseUrl}: ${model.modelType}, ${model.layers} layers, hidden ${model.hiddenSize}, vocabulary ${model.vocabSize}, ${formatBytes(model.bytes)} in ${(model.loadMs / 1000).toFixed(1)} s`;
    }
    case 'error':
      return 'Not loaded.';
  }
}
