import { SPARSITY_RANGE } from '../../pruning/sparsity-range';
import { useStudio } from '../../store/studio-app';
import { HeatStrip } from './HeatStrip';
import { LayerChart } from './LayerChart';
import { RefinePanel } from './RefinePanel';
import { StepError } from './StepError';
import { StepFooter } from './StepFooter';

/** Step 5: what will be removed, per layer; the slider previews at once from the saved statistics, refine makes the plan to download. */
export function PlanStep() {
  const plan = useStudio((s) => s.plan);
  const params = useStudio((s) => s.planParams);
  const setSparsity = useStudio((s) => s.setSparsity);
  const override = useStudio((s) => s.overrideLayer);
  if (!plan || !params) {
    return (
      <section className="studio-step">
        <h2>5. The plan</h2>
        <p>Analyse your character first (step 3).</p>
      </section>
    );
  }
  return (
    <section className="studio-step" aria-labelledby="plan-title">
      <h2 id="plan-title">5. The plan</h2>
      <p className="hint">Orange is what would be removed. Move the slider to try another size: it previews at once, without analysing again; then refine the size you want.</p>
      <RefinePanel />
      <label className="field">
        {/* One grid item: the label's words stay on one line above the slider. */}
        <span>
          Remove <span data-testid="plan-sparsity">{Math.round(params.sparsity * 100)}</span>% of the thinking channels
        </span>
        <input data-testid="plan-slider" type="range" min={SPARSITY_RANGE.min} max={SPARSITY_RANGE.max} step={SPARSITY_RANGE.step} value={params.sparsity} onChange={(e) => setSparsity(Number(e.target.value))} />
      </label>
      <LayerChart keptPerLayer={plan.keptPerLayer} widths={plan.widths} />
      <table className="layer-table">
        <caption>Kept channels per layer (type a number or drag to change one layer)</caption>
        <thead>
          <tr>
            <th scope="col">Layer</th>
            <th scope="col">Kept</th>
            <th scope="col">Adjust</th>
          </tr>
        </thead>
        <tbody>
          {plan.keptPerLayer.map((kept, l) => (
            <tr key={l} data-testid={`layer-row-${l}`}>
              <th scope="row">Layer {l + 1}</th>
              <td>
                <input
                  aria-label={`Kept channels in layer ${l + 1}`}
                  data-testid={`layer-kept-${l}`}
                  type="number"
                  min={1}
                  max={plan.widths[l]}
                  value={kept}
                  onChange={(e) => {
                    const n = Number(e.target.value);
                    if (Number.isInteger(n) && n >= 1 && n <= plan.widths[l]!) override(l, n);
                  }}
                />{' '}
                of {plan.widths[l]}
              </td>
              <td>
                <input aria-label={`Drag to change layer ${l + 1}`} type="range" min={1} max={plan.widths[l]} value={kept} onChange={(e) => override(l, Number(e.target.value))} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <HeatStrip scores={plan.scores} kept={plan.keptPerLayer} />
      <StepError step="plan" />
      <StepFooter back="settings" next={{ to: 'compare', label: 'Next: compare sizes', testId: 'to-compare' }} />
    </section>
  );
}
