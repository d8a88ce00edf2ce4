import { useStudio } from '../../store/studio-app';
import { StepError } from './StepError';
import { StepFooter } from './StepFooter';

/** Step 7: the same message to the full model and the slimmed one, side by side. */
export function ChatStep() {
  const chat = useStudio((s) => s.chat);
  const setInput = useStudio((s) => s.setChatInput);
  const send = useStudio((s) => s.sendChat);
  const params = useStudio((s) => s.planParams);
  const kind = useStudio((s) => s.plan?.kind);
  return (
    <section className="studio-step" aria-labelledby="chat-title">
      <h2 id="chat-title">7. Talk to your character</h2>
      <form
        className="chat-form"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <label className="field">
          Your message
          <input data-testid="chat-input" value={chat.input} onChange={(e) => setInput(e.target.value)} />
        </label>
        <button type="submit" className="primary" data-testid="chat-send" disabled={chat.running > 0}>
          Send
        </button>
      </form>
      <div className="side-by-side">
        <article>
          <h3>Full model</h3>
          <p data-testid="chat-dense" aria-live="polite">
            {chat.dense}
          </p>
        </article>
        <article>
          <h3>Slimmed model{params ? ` (${Math.round(params.sparsity * 100)}% removed, ${kind === 'refined' ? 'refined plan' : 'preview'})` : ''}</h3>
          <p data-testid="chat-pruned" aria-live="polite">
            {chat.pruned}
          </p>
        </article>
      </div>
      <StepError step="chat" />
      <StepFooter back="compare" next={{ to: 'export', label: 'Next: download', testId: 'to-export' }} />
    </section>
  );
}
