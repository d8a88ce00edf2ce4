import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { useRuntime } from './store/runtime';
import { App } from './ui/App';
import { backendFromUrl } from './worker/client';
import './ui/styles.css';

// Started before the first render, so StrictMode's double effects cannot start two workers.
useRuntime.getState().init(backendFromUrl(location.search));

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
