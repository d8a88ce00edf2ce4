import type { TrialState } from '../../store/studio';
import { useStudio } from '../../store/studio-app';

function describeRun(last: NonNullable<TrialState['last']>): string {
  const why = { eos: 'the model ended the text', 'max-tokens': 'reached max tokens', aborted: 'stopped' }[last.stopReason];
  return `${last.tokens} tokens in ${(last.elapsedMs / 1000).toFixed(1)} s (${(last.tokens / (last.elapsedMs / 1000)).toFixed(1)}/s), ${why}`;
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

/** Hear the model before sculpting it: the prompt continued as it is (no character yet), word by word. */
export function TryModel() {
  const trial = useStudio((s) => s.trial);
  const update = useStudio((s) => s.updateTrial);
  const run = useStudio((s) => s.runTrial);
  const stop = useStudio((s) => s.stopTrial);
  const { params } = trial;
  return (
    <section className="try-model" aria-labelledby="try-title">
      <h3 id="try-title">Try the model</h3>
      <label className="field">
        <span>Prompt (empty: the model starts a story on its own)</span>
        <textarea data-testid="prompt" rows={3} value={params.prompt} onChange={(e) => update({ prompt: e.target.value })} />
      </label>
      <div className="row">
        <NumberField label="Max words (tokens)" testId="max-tokens" min={1} max={2048} step={1} value={params.maxNewTokens} onChange={(maxNewTokens) => update({ maxNewTokens })} />
        <NumberField label="Temperature (0 = always the likeliest word)" testId="temperature" min={0} max={2} step={0.1} value={params.temperature} onChange={(temperature) => update({ temperature })} />
        <NumberField label="Seed" testId="seed" min={0} max={2 ** 31} step={1} value={params.seed} onChange={(seed) => update({ seed })} />
      </div>
      <div className="row">
        <button type="button" className="secondary" data-testid="generate" onClick={run} disabled={trial.running}>
          Generate
        </button>
        <button type="button" className="secondary" data-testid="stop" onClick={stop} disabled={!trial.running}>
          Stop
        </button>
        <span className="status" data-testid="run-status" aria-live="polite">
          {trial.running ? 'Generating…' : trial.last ? describeRun(trial.last) : ''}
        </span>
      </div>
      <pre className="output" data-testid="output" aria-live="polite">
        <span className="output-prompt">{trial.prompt}</span>
        {trial.output}
      </pre>
    </section>
  );
}
