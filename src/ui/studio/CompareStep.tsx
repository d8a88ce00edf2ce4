import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatBytes } from '../../model/memory-estimate';
import { useStudio } from '../../store/studio-app';
import { StepError } from './StepError';
import { StepFooter } from './StepFooter';

const LEVELS = [0, 0.25, 0.4, 0.5, 0.6, 0.75];

/** Step 6: several sizes side by side: how well each still speaks, how big and fast it is. */
export function CompareStep() {
  const compare = useStudio((s) => s.compare);
  const setCompare = useStudio((s) => s.setCompare);
  const run = useStudio((s) => s.runCompare);
  const toggle = (level: number) => setCompare({ levels: compare.levels.includes(level) ? compare.levels.filter((l) => l !== level) : [...compare.levels, level].sort((a, b) => a - b) });
  return (
    <section className="studio-step" aria-labelledby="compare-title">
      <h2 id="compare-title">6. Compare sizes</h2>
      <p className="hint">
        Lower “surprise” (perplexity) means the model still writes like before. Compare your character's text and plain text. Sizes other than your refined plan are instant
        previews.
      </p>
      <fieldset className="levels">
        <legend>Sizes to compare (share removed)</legend>
        {LEVELS.map((level) => (
          <label key={level} className="check">
            <input type="checkbox" data-testid={`compare-level-${Math.round(level * 100)}`} checked={compare.levels.includes(level)} onChange={() => toggle(level)} /> {Math.round(level * 100)}%
          </label>
        ))}
      </fieldset>
      <label className="field">
        Same prompt for every size
        <input data-testid="compare-prompt" value={compare.prompt} onChange={(e) => setCompare({ prompt: e.target.value })} />
      </label>
      <div className="actions">
        <button type="button" className="primary" data-testid="run-compare" onClick={run} disabled={compare.running}>
          {compare.running ? 'Comparing…' : 'Compare'}
        </button>
      </div>
      <StepError step="compare" />
      {compare.rows.length > 0 && (
        <>
          <table className="compare-table" data-testid="compare-table">
            <thead>
              <tr>
                <th scope="col">Removed</th>
                <th scope="col">Character text perplexity</th>
                <th scope="col">Plain text perplexity</th>
                <th scope="col">Parameters</th>
                <th scope="col">Size</th>
                <th scope="col">Tokens/s</th>
              </tr>
            </thead>
            <tbody>
              {compare.rows.map((r) => (
                <tr key={r.label} data-testid="compare-row">
                  <th scope="row">
                    {r.label}
                    {r.kind !== 'dense' && <small data-testid="compare-kind"> {r.kind === 'refined' ? 'refined' : 'preview'}</small>}
                  </th>
                  <td data-testid="compare-persona-ppl">{r.personaPerplexity.toFixed(2)}</td>
                  <td data-testid="compare-general-ppl">{r.generalPerplexity.toFixed(2)}</td>
                  <td data-testid="compare-params">{r.parameters.toLocaleString('en-US')}</td>
                  <td>{formatBytes(r.bytes)}</td>
                  <td>{r.tokensPerSecond.toFixed(0)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <figure className="compare-chart" aria-label="Perplexity per size">
            <ResponsiveContainer width="100%" height={220}>
              <BarChart data={compare.rows.map((r) => ({ label: r.label, character: r.personaPerplexity, plain: r.generalPerplexity }))}>
                <CartesianGrid strokeDasharray="3 3" vertical={false} />
                <XAxis dataKey="label" />
                <YAxis />
                <Tooltip />
                <Legend />
                <Bar dataKey="character" name="character text" fill="#2f6fdf" isAnimationActive={false} />
                <Bar dataKey="plain" name="plain text" fill="#9aa5b1" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </figure>
          <div className="side-by-side" data-testid="compare-answers">
            {compare.rows.map((r) => (
              <article key={r.label}>
                <h3>{r.label} removed</h3>
                <p>
                  <em>{compare.prompt}</em> {r.answer}
                </p>
              </article>
            ))}
          </div>
        </>
      )}
      <StepFooter back="plan" next={{ to: 'chat', label: 'Next: chat', testId: 'to-chat' }} />
    </section>
  );
}
