import { BUILTIN_MODEL_URL, useRuntime, type ModelStatus } from '../store/runtime';

export function ModelPanel() {
  const modelUrl = useRuntime((state) => state.modelUrl);
  const status = useRuntime((state) => state.modelStatus);
  const generating = useRuntime((state) => state.generating);
  const selectModel = useRuntime((state) => state.selectModel);
  const loadModel = useRuntime((state) => state.loadModel);
  return (
    <section className="panel">
      <h2>Model</h2>
      <label className="field">
        <span>Model</span>
        <select data-testid="model-source" value={modelUrl} onChange={(e) => selectModel(e.target.value)}>
          <option value={BUILTIN_MODEL_URL}>Built-in: TinyStories 260K</option>
        </select>
      </label>
      <button
        type="button"
        data-testid="load-model"
        onClick={loadModel}
        disabled={status.state === 'loading' || generating}
      >
        Load
      </button>
      <p className="status" data-testid="model-status">
        {describeStatus(status)}
      </p>
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

function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
