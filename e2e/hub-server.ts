/**
 * A local stand-in for the Hugging Face hub, for tests: serves model folders under `root` as
 * `/<org>/<name>/resolve/<revision>/<path>` (GET/HEAD, byte ranges, strong ETags) and the listing API
 * `/api/models/<org>/<name>/revision/<revision>` (siblings; sizes with `?blobs=true`), with the hub's
 * error conventions (401 for an unknown repository, 404 "Entry not found" for a missing file) and CORS,
 * since the app calls it from another origin. Tests can slow responses down or cut them off, and read
 * the log of every request it saw.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';

export interface LoggedRequest {
  method: string;
  path: string;
  range?: string;
  status: number;
}

export interface ResponseRule {
  /** Applies to resolve requests whose file path ends with this. */
  file: string;
  /** Send at most this many bytes per second. */
  bytesPerSecond?: number;
  /** Close the connection after sending this many body bytes. */
  cutAfterBytes?: number;
  /** How many matching requests the rule applies to (default: all). */
  times?: number;
}

export interface HubServer {
  url: string;
  requests: LoggedRequest[];
  addRule(rule: ResponseRule): void;
  clearRules(): void;
  close(): Promise<void>;
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'range, accept, content-type',
  'access-control-allow-methods': 'GET, HEAD, OPTIONS',
  'access-control-expose-headers': 'content-range, content-length, etag, accept-ranges, x-linked-size, x-repo-commit, x-error-code',
};

/** The commit id this server reports for a repository: stable, 40 hex digits like the hub's. */
export const commitOf = (repo: string) => createHash('sha1').update(repo).digest('hex');

async function walk(dir: string, base = dir): Promise<{ path: string; size: number }[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map(async (e) => {
      const full = join(dir, e.name);
      if (e.isDirectory()) return walk(full, base);
      return [{ path: relative(base, full).split(sep).join('/'), size: (await stat(full)).size }];
    }),
  );
  return nested.flat().sort((a, b) => a.path.localeCompare(b.path));
}

export async function startHubServer(root: string): Promise<HubServer> {
  const requests: LoggedRequest[] = [];
  let rules: (ResponseRule & { used: number })[] = [];

  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { ...CORS, 'cache-control': 'no-store', 'content-type': 'application/json', ...headers });
    res.end(body);
  };

  const repoDir = async (org: string, name: string) => {
    const dir = join(root, org, name);
    if (!relative(root, dir).startsWith('..') && (await stat(dir).catch(() => undefined))?.isDirectory()) return dir;
    return undefined;
  };

  async function listing(res: ServerResponse, org: string, name: string, revision: string, blobs: boolean) {
    const dir = await repoDir(org, name);
    const repo = `${org}/${name}`;
    if (!dir) return send(res, 401, JSON.stringify({ error: 'Repository not found' }), { 'x-error-code': 'RepoNotFound' });
    if (revision !== 'main' && revision !== commitOf(repo)) {
      return send(res, 404, JSON.stringify({ error: `Invalid rev id: ${revision}` }), { 'x-error-code': 'RevisionNotFound' });
    }
    const files = await walk(dir);
    const siblings = files.map((f) => (blobs ? { rfilename: f.path, size: f.size } : { rfilename: f.path }));
    return send(res, 200, JSON.stringify({ id: repo, sha: commitOf(repo), siblings }));
  }

  async function resolve(req: IncomingMessage, res: ServerResponse, org: string, name: string, revision: string, path: string) {
    const dir = await repoDir(org, name);
    if (!dir) return send(res, 401, JSON.stringify({ error: 'Repository not found' }), { 'x-error-code': 'RepoNotFound' });
    const file = join(dir, ...path.split('/'));
    const info = relative(dir, file).startsWith('..') ? undefined : await stat(file).catch(() => undefined);
    if (!info?.isFile() || (revision !== 'main' && revision !== commitOf(`${org}/${name}`))) {
      return send(res, 404, 'Entry not found', { 'x-error-code': 'EntryNotFound', 'content-type': 'text/plain' });
    }
    const etag = `"${createHash('sha1').update(`${file}:${info.size}:${info.mtimeMs}`).digest('hex')}"`;
    let start = 0;
    let end = info.size - 1;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), end) : end;
      if (start >= info.size) return send(res, 416, '', { 'content-range': `bytes */${info.size}` });
      status = 206;
    }
    const headers: Record<string, string> = {
      ...CORS,
      'content-type': 'application/octet-stream',
      'content-length': String(end - start + 1),
      'accept-ranges': 'bytes',
      etag,
      'x-repo-commit': commitOf(`${org}/${name}`),
      // Every test request must reach this server (the request log is what the tests assert on).
      'cache-control': 'no-store',
      ...(status === 206 ? { 'content-range': `bytes ${start}-${end}/${info.size}` } : {}),
    };
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || end < start) {
      res.end();
      return;
    }
    const rule = rules.find((r) => path.endsWith(r.file) && (r.times === undefined || r.used < r.times));
    if (rule) rule.used++;
    await pipeFile(res, file, start, end, rule);
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hub.local');
    const record: LoggedRequest = { method: req.method ?? 'GET', path: decodeURIComponent(url.pathname), status: 0 };
    if (req.headers.range) record.range = req.headers.range;
    requests.push(record);
    // Logged when the head is sent, before any body byte: a client may read the whole body (and a test
    // look at the log) before this server's own bookkeeping after the last write has run.
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, ...args: Parameters<ServerResponse['writeHead']>) {
      record.status = args[0];
      return writeHead.apply(this, args);
    } as ServerResponse['writeHead'];
    const fail = (error: unknown) => {
      if (!res.headersSent) send(res, 500, JSON.stringify({ error: String(error) }));
      else res.destroy();
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS);
      res.end();
      return;
    }
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
    if (parts[0] === 'api' && parts[1] === 'models' && parts[4] === 'revision' && parts.length === 6) {
      listing(res, parts[2]!, parts[3]!, parts[5]!, url.searchParams.get('blobs') === 'true').catch(fail);
    } else if (parts[2] === 'resolve' && parts.length >= 5) {
      resolve(req, res, parts[0]!, parts[1]!, parts[3]!, parts.slice(4).join('/')).catch(fail);
    } else {
      send(res, 404, JSON.stringify({ error: 'Not found' }));
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    addRule: (rule) => rules.push({ ...rule, used: 0 }),
    clearRules: () => (rules = []),
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** Streams bytes start..end of the file, paced and possibly cut off as the rule says. */
async function pipeFile(res: ServerResponse, file: string, start: number, end: number, rule: ResponseRule | undefined) {
  const chunk = 16 * 1024;
  let sent = 0;
  const stream = createReadStream(file, { start, end, highWaterMark: chunk });
  for await (const data of stream as AsyncIterable<Buffer>) {
    let piece = data;
    if (rule?.cutAfterBytes !== undefined && sent + piece.length > rule.cutAfterBytes) {
      piece = piece.subarray(0, rule.cutAfterBytes - sent);
      if (piece.length) res.write(piece);
      stream.destroy();
      res.destroy();
      return;
    }
    if (!res.write(piece)) await drainedOrClosed(res);
    sent += piece.length;
    if (rule?.bytesPerSecond) await new Promise((ok) => setTimeout(ok, (piece.length / rule.bytesPerSecond!) * 1000));
    if (res.destroyed) {
      stream.destroy();
      return;
    }
  }
  res.end();
}

/** Waits for the socket to take more data, or for the client to go away (a cancelled download). */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((ok) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      ok();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
