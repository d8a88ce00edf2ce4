import { ALLOCATIONS } from '../../pruning/allocation';
import { SPARSITY_RANGE } from '../../pruning/sparsity-range';
import { PRUNE_METHODS, type PruneMethod } from '../../pruning/plan-builder';
import type { AllocationKind } from '../../pruning/allocation';
import { useStudio } from '../../store/studio-app';
import { StepError } from './StepError';
import { StepFooter } from './StepFooter';

const METHOD_HINTS: Record<PruneMethod, string> = {
  persona: 'Best for a character (recommended).',
  reconstruct: 'Same as the recommended one.',
  activation: 'Keeps what your character uses most; simpler.',
  'wanda-sp': 'A general-purpose method that ignores the character.',
  flap: 'A general-purpose method that ignores the character.',
  magnitude: 'Looks only at the weights (baseline).',
  random: 'Random removal (for comparison only).',
};
const ALLOCATION_HINTS: Record<AllocationKind, string> = {
  uniform: 'Every layer loses the same share (recommended).',
  global: 'Layers that matter less lose more.',
  owl: 'Protects layers with unusual activity.',
};

/** Step 3: how to analyse the character, with defaults that work. */
export function SettingsStep() {
  const settings = useStudio((s) => s.settings);
  const update = useStudio((s) => s.updateSettings);
  const run = useStudio((s) => s.runCalibration);
  const checkpoint = useStudio((s) => s.checkpoint);
  return (
    <section className="studio-step" aria-labelledby="settings-title">
      <h2 id="settings-title">3. Settings</h2>
      <p className="hint">The defaults work well. The studio asks the model practice questions in your character's voice and watches which parts it uses.</p>
      <div className="settings-grid">
        <label className="field">
          Practice questions
          <input data-testid="setting-samples" type="number" min={2} max={120} value={settings.samples} onChange={(e) => update({ samples: Number(e.target.value) })} />
          <small>More is more accurate, but slower.</small>
        </label>
        <label className="field">
          Answer length (tokens)
          <input data-testid="setting-answer-tokens" type="number" min={4} max={256} value={settings.answerTokens} onChange={(e) => update({ answerTokens: Number(e.target.value) })} />
        </label>
        <label className="check">
          <input data-testid="setting-filter" type="checkbox" checked={settings.filter} onChange={(e) => update({ filter: e.target.checked })} /> Pick the questions that matter most for this character
        </label>
        <label className="check">
          <input data-testid="setting-synthesis" type="checkbox" checked={settings.synthesis} onChange={(e) => update({ synthesis: e.target.checked })} /> Let the model answer in the character's voice
        </label>
        <label className="field">
          Method
          <select data-testid="setting-method" value={settings.method} onChange={(e) => update({ method: e.target.value as PruneMethod })}>
            {PRUNE_METHODS.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
          <small>{METHOD_HINTS[settings.method]}</small>
        </label>
        <label className="field">
          Spread over layers
          <select data-testid="setting-allocation" value={settings.allocation} onChange={(e) => update({ allocation: e.target.value as AllocationKind })}>
            {ALLOCATIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
          <small>{ALLOCATION_HINTS[settings.allocation]}</small>
        </label>
        <label className="field">
          How much to remove: {Math.round(settings.sparsity * 100)}%
          <input data-testid="setting-sparsity" type="range" min={SPARSITY_RANGE.min} max={SPARSITY_RANGE.max} step={SPARSITY_RANGE.step} value={settings.sparsity} onChange={(e) => update({ sparsity: Number(e.target.value) })} />
          <small>You can change this afterwards without running again.</small>
        </label>
      </div>
      <StepError step="calibrate" />
      <StepFooter back="character">
        <button type="button" className="primary" data-testid="run-calibration" onClick={run}>
          {checkpoint ? 'Resume the analysis' : 'Analyse my character'}
        </button>
      </StepFooter>
    </section>
  );
}
