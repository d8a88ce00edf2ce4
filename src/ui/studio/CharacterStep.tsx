import { examplePersonas } from '../../calibration/question-bank';
import { useStudio } from '../../store/studio-app';
import { StepFooter } from './StepFooter';

const examples = examplePersonas();

/** Step 2: who the model should become. */
export function CharacterStep() {
  const persona = useStudio((s) => s.persona);
  const setPersona = useStudio((s) => s.setPersona);
  const pickExample = useStudio((s) => s.pickExample);
  const selected = examples.find((p) => p.description === persona.description)?.id ?? '';
  return (
    <section className="studio-step" aria-labelledby="character-title">
      <h2 id="character-title">2. Describe your character</h2>
      <p className="hint">Write who they are and how they talk, in a sentence or two. The studio keeps the parts of the model this character needs.</p>
      <label className="field">
        Start from an example
        <select data-testid="persona-example" value={selected} onChange={(e) => pickExample(e.target.value)}>
          <option value="">(my own character)</option>
          {examples.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        Name
        <input data-testid="persona-name" value={persona.name} onChange={(e) => setPersona({ name: e.target.value })} />
      </label>
      <label className="field">
        Description
        <textarea data-testid="persona-description" rows={4} value={persona.description} onChange={(e) => setPersona({ description: e.target.value })} />
      </label>
      <label className="field">
        Example lines (optional, one per line)
        <textarea data-testid="persona-examples" rows={3} value={persona.examples} onChange={(e) => setPersona({ examples: e.target.value })} placeholder="Ahoy! Who goes there?" />
      </label>
      <StepFooter back="model" next={{ to: 'settings', label: 'Next: settings', testId: 'to-settings', disabled: persona.description.trim().length < 10 }} />
    </section>
  );
}
