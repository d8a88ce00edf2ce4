/**
 * Downloads one file into a {@link FileStore}, streaming: chunks go to storage as they arrive and the
 * file is never assembled in memory. An interrupted download (cancel, cut connection, closed tab)
 * leaves its bytes as a partial file; the next attempt asks for the rest with an HTTP Range request,
 * and keeps the old bytes only if the answer is the same file (same ETag and total size), else starts
 * over. (Not If-Range: it is not a CORS-safelisted header, so every resume would need a preflight the
 * server may refuse; a lone `Range: bytes=N-` is safelisted.) The file is committed only when its size
 * is verified, so the cache never holds a truncated file as complete.
 */
import { ModelFileMissingError } from '../model/bundle';
import { CommitSizeError, type FileStore } from './file-store';
import { isHtmlPage } from './listing';

export interface DownloadOptions {
  store: FileStore;
  /** Cache folder of the source. */
  dir: string;
  path: string;
  url: string;
  fetch: typeof fetch;
  /** From the listing: what is stored and what the server sends must have this size. */
  expectedSize?: number;
  signal?: AbortSignal;
  /** Before any byte arrives: the file's size when known, and how many bytes need no download. */
  onStart?(info: { size: number | undefined; reused: number }): void;
  onBytes?(bytes: number): void;
}

/** The transfer ended early; what arrived is kept and the next attempt resumes from there. */
export class DownloadIncompleteError extends Error {
  override name = 'DownloadIncompleteError';
  constructor(
    readonly path: string,
    readonly received: number,
    readonly expected: number | undefined,
    cause?: unknown,
  ) {
    super(
      `The download of ${path} stopped after ${received}${expected === undefined ? '' : ` of ${expected}`} bytes` +
        `${cause instanceof Error ? ` (${cause.message})` : ''}. The bytes so far are kept: load again to resume.`,
      { cause },
    );
  }
}

class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`${url} answered HTTP ${status}.`);
  }
}

export async function download(options: DownloadOptions): Promise<Blob> {
  const { store, dir, path, expectedSize } = options;
  const cached = await store.read(dir, path);
  if (cached && (expectedSize === undefined || cached.size === expectedSize)) {
    options.onStart?.({ size: cached.size, reused: cached.size });
    return cached;
  }
  if (cached) await store.remove(dir, path);

  let partial = await store.partial(dir, path);
  const stale =
    partial && expectedSize !== undefined && (partial.size > expectedSize || (partial.total !== undefined && partial.total !== expectedSize));
  if (stale) partial = undefined;

  const resumeFrom = partial?.size ?? 0;
  let response = await request(options, resumeFrom > 0 ? { range: `bytes=${resumeFrom}-` } : {});
  if (response.status === 416 && resumeFrom > 0) {
    // Nothing lies past the kept bytes: they are the whole file if the sizes agree; otherwise start over.
    await response.body?.cancel();
    const total = expectedSize ?? partial?.total ?? parseContentRange(response.headers.get('content-range'))?.total;
    if (total === resumeFrom) {
      options.onStart?.({ size: total, reused: total });
      return store.commit(dir, path, total);
    }
    response = await request(options, {});
  }
  if (!response.ok || isHtmlPage(response)) {
    await response.body?.cancel();
    const status = response.ok ? 404 : response.status;
    if (status === 404 || status === 410) throw new ModelFileMissingError(path, options.url, status);
    throw new HttpError(options.url, status);
  }

  let offset = 0;
  let announced: number | undefined;
  if (response.status === 206) {
    const range = parseContentRange(response.headers.get('content-range'));
    const etag = strongEtag(response);
    const sameFile =
      range &&
      range.start === resumeFrom &&
      (partial?.total === undefined || range.total === partial.total) &&
      (partial?.etag === undefined || etag === undefined || etag === partial.etag);
    if (!sameFile) {
      await response.body?.cancel();
      await store.remove(dir, path);
      return download(options);
    }
    offset = range.start;
    announced = range.total;
    if (expectedSize !== undefined && announced !== undefined && announced !== expectedSize) {
      await response.body?.cancel();
      throw new Error(`${path}: the server now has ${announced} bytes, but its listing says ${expectedSize}.`);
    }
  } else {
    announced = plainContentLength(response);
  }
  // The listing's size wins: Content-Length may be that of a compressed body we cannot tell apart cross-origin.
  const size = expectedSize ?? announced;

  const writer = await store.openPartial(dir, path, offset, {
    ...(strongEtag(response) ? { etag: strongEtag(response)! } : {}),
    ...(size !== undefined ? { total: size } : {}),
  });
  options.onStart?.({ size, reused: offset });
  try {
    if (!response.body) throw new Error('the response has no body');
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await writer.write(value);
      options.onBytes?.(value.byteLength);
    }
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason ?? error;
    throw new DownloadIncompleteError(path, writer.size, size, error);
  } finally {
    await writer.close();
  }
  if (size !== undefined && writer.size < size) {
    if (response.status === 200 && writer.size === announced) {
      // The server sent all it has, and that is less than its listing says: resuming cannot help.
      await store.remove(dir, path);
      throw new Error(`${path} on the server has ${writer.size} bytes, but its listing says ${size}: the file is truncated there.`);
    }
    throw new DownloadIncompleteError(path, writer.size, size);
  }
  try {
    return await store.commit(dir, path, size ?? writer.size);
  } catch (error) {
    // More bytes than announced: the kept bytes are not trustworthy either.
    if (error instanceof CommitSizeError) await store.remove(dir, path);
    throw error;
  }
}

async function request(options: DownloadOptions, headers: Record<string, string>): Promise<Response> {
  try {
    // Called unbound: browsers reject `fetch` invoked as a method of another object ("Illegal invocation").
    const fetchFile = options.fetch;
    return await fetchFile(options.url, { headers, signal: options.signal });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason ?? error;
    throw new Error(`Could not download ${options.path} from ${new URL(options.url).origin}: the network is down, or that server does not let this page read it (CORS).`, { cause: error });
  }
}

/** `bytes <start>-<end>/<total>` (total may be `*`). */
export function parseContentRange(header: string | null): { start: number; end: number; total: number | undefined } | undefined {
  const m = header ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim()) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** Content-Length is the file's size only when the body is not compressed on the wire. */
function plainContentLength(response: Response): number | undefined {
  const encoding = response.headers.get('content-encoding');
  if (encoding && encoding !== 'identity') return undefined;
  const length = Number(response.headers.get('content-length') ?? NaN);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

/** Only a strong ETag promises identical bytes; a weak one (W/"...") cannot guard a resume. */
function strongEtag(response: Response): string | undefined {
  const etag = response.headers.get('etag');
  return etag && !etag.startsWith('W/') ? etag : undefined;
}
