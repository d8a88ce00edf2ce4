import { BackendBadge } from './BackendBadge';
import { Studio } from './studio/Studio';

export function App() {
  return (
    <div className="app">
      <header className="app-header">
        <h1>Persona Pruning Studio</h1>
        <BackendBadge />
      </header>
      <Studio />
    </div>
  );
}
