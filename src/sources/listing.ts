/**
 * What files a remote model folder has. The hub answers one API call (`siblings`, with sizes); a plain
 * web server has no listing, so the files a model folder may hold are probed with HEAD requests.
 */
import { hubApiUrl } from './hub-urls';
import type { ListedFile } from './variants';

export interface SourceListing {
  files: ListedFile[];
  /** The commit the hub resolved the revision to: downloads use it, so every file comes from one commit. */
  commit?: string;
  via: 'hub-api' | 'probe' | 'local';
}

/** The repository or revision does not exist (or is private/gated, which looks the same without a login). */
export class SourceNotFoundError extends Error {
  override name = 'SourceNotFoundError';
}

/** Files a model folder may hold, probed when there is no listing; external data is learnt from the graph. */
const PROBED_FILES = [
  'config.json',
  'genai_config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  ...['', '_fp16', '_q4', '_q4f16', '_quantized', '_int8', '_uint8', '_bnb4'].map((s) => `onnx/model${s}.onnx`),
  'model.onnx',
];

interface HubSibling {
  rfilename?: string;
  size?: number;
  lfs?: { size?: number };
}

/** The hub's listing, or undefined when the server has no hub API (then probe). */
export async function fetchHubListing(
  fetchFn: typeof fetch,
  hubUrl: string,
  repo: string,
  revision: string,
  signal?: AbortSignal,
): Promise<SourceListing | undefined> {
  const url = hubApiUrl(hubUrl, repo, revision);
  let response: Response;
  try {
    response = await fetchFn(url, { signal, headers: { accept: 'application/json' } });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new Error(`Could not reach ${new URL(url).origin}: the network is down, or that server does not let this page read it (CORS).`, { cause: error });
  }
  if (response.ok) {
    const info = (await response.json()) as { sha?: string; siblings?: HubSibling[] };
    if (!Array.isArray(info.siblings)) throw new Error(`${url} did not answer with a model listing.`);
    const files = info.siblings
      .filter((s): s is HubSibling & { rfilename: string } => typeof s.rfilename === 'string')
      .map((s) => {
        const size = s.lfs?.size ?? s.size;
        return typeof size === 'number' ? { path: s.rfilename, size } : { path: s.rfilename };
      });
    return { files, via: 'hub-api', ...(info.sha ? { commit: info.sha } : {}) };
  }
  const body = await response.text();
  const hubError = parseHubError(body);
  if (response.status === 401 || response.status === 403 || (response.status === 404 && hubError !== undefined)) {
    throw new SourceNotFoundError(
      `${repo} at revision "${revision}" was not found on ${new URL(url).host} (HTTP ${response.status}${hubError ? `: ${hubError}` : ''}). ` +
        'Check the model id and revision; private and gated models need a login, which this studio does not do.',
    );
  }
  return undefined;
}

function parseHubError(body: string): string | undefined {
  try {
    const error = (JSON.parse(body) as { error?: unknown }).error;
    return typeof error === 'string' ? error : undefined;
  } catch {
    return undefined;
  }
}

/** HEAD requests for {@link PROBED_FILES}; a dev server's HTML fallback page counts as missing. */
export async function probeListing(fetchFn: typeof fetch, urlOf: (path: string) => string, signal?: AbortSignal): Promise<SourceListing> {
  const found = await Promise.all(
    PROBED_FILES.map(async (path): Promise<ListedFile | undefined> => {
      const response = await fetchFn(urlOf(path), { method: 'HEAD', signal });
      if (!response.ok || isHtmlPage(response)) return undefined;
      const size = Number(response.headers.get('x-linked-size') ?? response.headers.get('content-length') ?? NaN);
      return Number.isSafeInteger(size) && size >= 0 ? { path, size } : { path };
    }),
  );
  return { files: found.filter((f): f is ListedFile => f !== undefined), via: 'probe' };
}

/** Dev servers with an SPA fallback (Vite) answer a missing file with index.html and status 200. */
export function isHtmlPage(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').includes('text/html');
}
