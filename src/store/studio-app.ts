/** The page's one studio: its worker (backend from `?backend=`), its store, and the saved session. */
import { backendFromUrl } from '../gpu/backend';
import { createStudioClient } from '../worker/studio-client';
import { connectSources } from './sources';
import { createStudioStore, persistStudio } from './studio';
import { indexedDbSessions } from './studio-persist';

export const useStudio = createStudioStore(createStudioClient(backendFromUrl(location.search)), indexedDbSessions);

// Step 1's model sources (built-in, hub, URL, folder, GGUF) open models into the studio's worker.
connectSources({ backend: () => useStudio.getState().backend, open: (files, label) => useStudio.getState().loadModel({ files, label }) });

// The saved session (if any) comes back into the store, and every change is saved from then on.
void persistStudio(useStudio, indexedDbSessions);
