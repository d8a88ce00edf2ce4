import { BackendBadge } from './BackendBadge';
import { ErrorBanner } from './ErrorBanner';
import { GeneratePanel } from './GeneratePanel';
import { ModelPanel } from './ModelPanel';

export function App() {
  return (
    <div className="app">
      <header className="app-header">
        <h1>Persona Pruning Studio</h1>
        <BackendBadge />
      </header>
      <ErrorBanner />
      <main className="app-main">
        <ModelPanel />
        <GeneratePanel />
      </main>
    </div>
  );
}
