import { useRuntime, type LastRun } from '../store/runtime';

export function GeneratePanel() {
  const settings = useRuntime((state) => state.settings);
  const update = useRuntime((state) => state.updateSettings);
  const generating = useRuntime((state) => state.generating);
  const loaded = useRuntime((state) => state.modelStatus.state === 'loaded');
  const outputPrompt = useRuntime((state) => state.outputPrompt);
  const output = useRuntime((state) => state.output);
  const lastRun = useRuntime((state) => state.lastRun);
  const generate = useRuntime((state) => state.generate);
  const stop = useRuntime((state) => state.stop);

  return (
    <section className="panel panel-wide">
      <h2>Generate</h2>
      <label className="field">
        <span>Prompt (empty: the model starts a story on its own)</span>
        <textarea
          data-testid="prompt"
          rows={3}
          value={settings.prompt}
          onChange={(e) => update({ prompt: e.target.value })}
        />
      </label>
      <div className="row">
        <NumberField label="Max tokens" testId="max-tokens" min={1} max={2048} step={1}
          value={settings.maxNewTokens} onChange={(maxNewTokens) => update({ maxNewTokens })} />
        <NumberField label="Temperature (0 = always the likeliest word)" testId="temperature" min={0} max={2} step={0.1}
          value={settings.temperature} onChange={(temperature) => update({ temperature })} />
        <NumberField label="Seed" testId="seed" min={0} max={2 ** 31} step={1}
          value={settings.seed} onChange={(seed) => update({ seed })} />
      </div>
      <div className="row">
        <button type="button" data-testid="generate" onClick={generate} disabled={!loaded || generating}>
          Generate
        </button>
        <button type="button" data-testid="stop" onClick={stop} disabled={!generating}>
          Stop
        </button>
        <span className="status" data-testid="run-status">
          {generating ? 'Generating…' : lastRun ? describeRun(lastRun) : ''}
        </span>
      </div>
      <pre className="output" data-testid="output" aria-live="polite">
        <span className="output-prompt">{outputPrompt}</span>
        {output}
      </pre>
    </section>
  );
}

interface NumberFieldProps {
  label: string;
  testId: string;
  value: number;
  min: number;
  max: number;
  step: number;
  onChange(value: number): void;
}

function NumberField({ label, testId, value, min, max, step, onChange }: NumberFieldProps) {
  return (
    <label className="field">
      <span>{label}</span>
      <input
        type="number"
        data-testid={testId}
        value={value}
        min={min}
        max={max}
        step={step}
        onChange={(e) => {
          const next = e.target.valueAsNumber;
          if (Number.isFinite(next)) onChange(Math.min(max, Math.max(min, next)));
        }}
      />
    </label>
  );
}

function describeRun(run: LastRun): string {
  const why = { eos: 'the model ended the text', 'max-tokens': 'reached max tokens', aborted: 'stopped' }[run.stopReason];
  const perSecond = run.tokens / (run.elapsedMs / 1000);
  return `${run.tokens} tokens in ${(run.elapsedMs / 1000).toFixed(1)} s (${perSecond.toFixed(1)}/s), ${why}`;
}
