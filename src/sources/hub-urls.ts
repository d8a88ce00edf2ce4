/**
 * Addresses of files on the Hugging Face hub (or any server with the same layout). The hub's base URL
 * is a parameter everywhere, so a mirror, or the tests' local server, takes the real code path.
 */

export const DEFAULT_HUB_URL = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

/** `org/name`: the hub allows letters, digits, `-`, `_` and `.` in both parts. */
const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

export interface RepoRef {
  repo: string;
  /** Only when the input named one (a `/tree/<rev>` or `/resolve/<rev>` URL). */
  revision?: string;
}

/**
 * Reads what a user pastes: `org/name`, or a hub page URL such as
 * `https://huggingface.co/org/name/tree/main/onnx`. Throws a message that says what is expected.
 */
export function parseRepoRef(input: string): RepoRef {
  const text = input.trim();
  const isUrl = /^https?:\/\//i.test(text);
  const path = isUrl ? new URL(text).pathname.replace(/^\/+/, '') : text;
  const [org, name, kind, revision] = path.split('/');
  const repo = `${org ?? ''}/${name ?? ''}`;
  // Only a page URL may go on after org/name (`/tree/<rev>/...`).
  if (!REPO_ID.test(repo) || repo.includes('..') || (!isUrl && repo !== text)) {
    throw new Error(`"${text}" is not a model id: write it as organisation/name, e.g. HuggingFaceTB/SmolLM2-135M-Instruct`);
  }
  return (kind === 'tree' || kind === 'resolve') && revision ? { repo, revision: decodeURIComponent(revision) } : { repo };
}

/** Each path segment percent-encoded; the separators stay. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

const trimSlashes = (url: string) => url.replace(/\/+$/, '');

/** `<hub>/<repo>/resolve/<revision>/<path>`; a revision like `refs/pr/1` is one encoded segment, as the hub wants. */
export function hubFileUrl(hubUrl: string, repo: string, revision: string, path: string): string {
  return `${trimSlashes(hubUrl)}/${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(path)}`;
}

/** The model-info endpoint for one revision; `blobs=true` adds each file's size to the listing. */
export function hubApiUrl(hubUrl: string, repo: string, revision: string): string {
  return `${trimSlashes(hubUrl)}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
}

/** A file of a model folder served at `baseUrl` (absolute, or relative to the page). */
export function folderFileUrl(baseUrl: string, path: string): string {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const page = globalThis.location?.href;
  return new URL(encodePath(path), page ? new URL(base, page) : base).href;
}
