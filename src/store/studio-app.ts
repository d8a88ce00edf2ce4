/** The page's one studio: its worker (backend from `?backend=`), its store, and the saved session. */
import { backendFromUrl } from '../gpu/backend';
import { createStudioClient } from '../worker/studio-client';
import { connectSources } from './sources';
import { createStudioStore, persistStudio } from './studio';
import { indexedDbSessions } from './studio-persist';

export const useStudio = createStudioStore(createStudioClient(backendFromUrl(location.search)), indexedDbSessions);

// Step 1's model sources (built-in, hub, URL, folder, GGUF) open models into the studio's worker.
connectSources({ backend: () => useStudio.getState().backend, open: (files, label) => useStudio.getState().loadModel({ files, label }) });

/** Resolves once the saved session (if any) is back in the store. */
export const studioRestored = persistStudio(useStudio, indexedDbSessions);
