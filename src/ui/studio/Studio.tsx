import { STUDIO_STEPS, type StudioStep } from '../../store/studio';
import { useStudio } from '../../store/studio-app';
import { CalibrateStep } from './CalibrateStep';
import { CharacterStep } from './CharacterStep';
import { ChatStep } from './ChatStep';
import { CompareStep } from './CompareStep';
import { ExportStep } from './ExportStep';
import { ModelStep } from './ModelStep';
import { PlanStep } from './PlanStep';
import { SettingsStep } from './SettingsStep';
import { Totals } from './Totals';
import './studio.css';

const TITLES: Record<StudioStep, string> = {
  model: 'Model',
  character: 'Character',
  settings: 'Settings',
  calibrate: 'Analyse',
  plan: 'Plan',
  compare: 'Compare',
  chat: 'Chat',
  export: 'Download',
};

const VIEWS: Record<StudioStep, () => React.JSX.Element> = {
  model: ModelStep,
  character: CharacterStep,
  settings: SettingsStep,
  calibrate: CalibrateStep,
  plan: PlanStep,
  compare: CompareStep,
  chat: ChatStep,
  export: ExportStep,
};

/** The persona-pruning flow, one step at a time, with the totals always in view once there is a plan. */
export function Studio() {
  const step = useStudio((s) => s.step);
  const goTo = useStudio((s) => s.goTo);
  const plan = useStudio((s) => s.plan);
  const hasPlan = plan !== null;
  const ready = useStudio((s) => s.model.status === 'ready');
  const View = VIEWS[step];
  const enabled = (s: StudioStep) => s === 'model' || (ready && (['character', 'settings', 'calibrate'].includes(s) || hasPlan));
  return (
    <div className="studio" data-testid="studio">
      <nav className="studio-nav" aria-label="Steps">
        <ol>
          {STUDIO_STEPS.map((s, i) => (
            <li key={s}>
              <button type="button" data-testid={`nav-${s}`} aria-current={s === step ? 'step' : undefined} disabled={!enabled(s)} onClick={() => goTo(s)}>
                {i + 1}. {TITLES[s]}
              </button>
            </li>
          ))}
        </ol>
        <button type="button" className="link" onClick={() => void useStudio.getState().reset()}>
          Start over
        </button>
      </nav>
      <div className="studio-body">
        <Totals plan={plan} />
        <View />
      </div>
    </div>
  );
}
