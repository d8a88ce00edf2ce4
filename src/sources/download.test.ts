import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHubServer, type HubServer } from '../../e2e/hub-server';
import { ModelFileMissingError } from '../model/bundle';
import { DownloadIncompleteError, download, parseContentRange } from './download';
import { MemoryFileStore } from './file-store';
import { hubFileUrl } from './hub-urls';

const unexpected = (): never => {
  throw new Error('expected a failure');
};

let root: string;
let hub: HubServer;
let content: Uint8Array;
const SIZE = 300_000;
const url = (path: string) => hubFileUrl(hub.url, 'test-org/files', 'main', path);
const bytesOf = async (blob: Blob) => new Uint8Array(await blob.arrayBuffer());

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pps-download-'));
  await mkdir(join(root, 'test-org/files'), { recursive: true });
  hub = await startHubServer(root);
});
afterAll(async () => {
  await hub.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  content = randomBytes(SIZE);
  await writeFile(join(root, 'test-org/files/blob.bin'), content);
  hub.clearRules();
  hub.requests.length = 0;
});

const options = (store: MemoryFileStore, extra: Partial<Parameters<typeof download>[0]> = {}) => ({
  store,
  dir: 'files',
  path: 'blob.bin',
  url: url('blob.bin'),
  fetch,
  ...extra,
});

describe('download', () => {
  it('streams a file into the store and serves the stored copy without a request', async () => {
    const store = new MemoryFileStore();
    let received = 0;
    const starts: { size: number | undefined; reused: number }[] = [];
    const blob = await download(options(store, { expectedSize: SIZE, onBytes: (n) => (received += n), onStart: (s) => starts.push(s) }));
    expect(await bytesOf(blob)).toEqual(new Uint8Array(content));
    expect(received).toBe(SIZE);
    expect(starts).toEqual([{ size: SIZE, reused: 0 }]);
    expect(await store.list()).toEqual([{ dir: 'files', path: 'blob.bin', size: SIZE, partial: false }]);

    const again = await download(options(store, { onStart: (s) => starts.push(s) }));
    expect(await bytesOf(again)).toEqual(new Uint8Array(content));
    expect(starts[1]).toEqual({ size: SIZE, reused: SIZE });
    expect(hub.requests).toHaveLength(1);
  });

  it('keeps the bytes of a cut transfer and resumes with a Range request', async () => {
    const store = new MemoryFileStore();
    hub.addRule({ file: 'blob.bin', cutAfterBytes: 100_000, times: 1 });
    const cut = await download(options(store, { expectedSize: SIZE })).then(unexpected, (e: unknown) => e);
    expect(cut).toBeInstanceOf(DownloadIncompleteError);
    const kept = (await store.partial('files', 'blob.bin'))!.size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(100_000);
    expect(await store.read('files', 'blob.bin')).toBeUndefined();

    let reused = -1;
    let received = 0;
    const blob = await download(options(store, { expectedSize: SIZE, onStart: (s) => (reused = s.reused), onBytes: (n) => (received += n) }));
    expect(await bytesOf(blob)).toEqual(new Uint8Array(content));
    expect(reused).toBe(kept);
    expect(received).toBe(SIZE - kept);
    expect(hub.requests.at(-1)).toMatchObject({ range: `bytes=${kept}-`, status: 206 });
  });

  it('stops on abort, keeping what arrived, uncommitted', async () => {
    const store = new MemoryFileStore();
    hub.addRule({ file: 'blob.bin', bytesPerSecond: 200_000 });
    const controller = new AbortController();
    let received = 0;
    const aborted = await download(
      options(store, {
        signal: controller.signal,
        onBytes: (n) => {
          received += n;
          if (received >= 32_000) controller.abort();
        },
      }),
    ).then(unexpected, (e: unknown) => e);
    expect((aborted as Error).name).toBe('AbortError');
    expect((await store.partial('files', 'blob.bin'))!.size).toBe(received);
    expect(await store.read('files', 'blob.bin')).toBeUndefined();
  });

  it('starts over when the file changed on the server since the partial download (another ETag)', async () => {
    const store = new MemoryFileStore();
    hub.addRule({ file: 'blob.bin', cutAfterBytes: 50_000, times: 1 });
    await download(options(store, { expectedSize: SIZE })).catch(() => undefined);
    const kept = (await store.partial('files', 'blob.bin'))!.size;
    const changed = randomBytes(SIZE);
    await writeFile(join(root, 'test-org/files/blob.bin'), changed);
    const blob = await download(options(store, { expectedSize: SIZE }));
    expect(await bytesOf(blob)).toEqual(new Uint8Array(changed));
    const [resume, fresh] = hub.requests.slice(-2);
    expect(resume).toMatchObject({ range: `bytes=${kept}-`, status: 206 });
    expect(fresh!.range).toBeUndefined();
  });

  it('refuses a file shorter than its listing says, keeping nothing', async () => {
    const store = new MemoryFileStore();
    const failure = await download(options(store, { expectedSize: SIZE + 10 })).then(unexpected, (e: Error) => e);
    expect(failure.message).toContain(`has ${SIZE} bytes, but its listing says ${SIZE + 10}`);
    expect(await store.list()).toEqual([]);
  });

  it('names a missing file', async () => {
    const failure = download(options(new MemoryFileStore(), { path: 'nope.bin', url: url('nope.bin') }));
    await expect(failure).rejects.toBeInstanceOf(ModelFileMissingError);
    await expect(failure).rejects.toThrow('"nope.bin" was not found');
  });
});

describe('parseContentRange', () => {
  it('reads start, end and total (or an unknown total)', () => {
    expect(parseContentRange('bytes 100-199/1000')).toEqual({ start: 100, end: 199, total: 1000 });
    expect(parseContentRange('bytes 0-9/*')).toEqual({ start: 0, end: 9, total: undefined });
    expect(parseContentRange('bytes */1000')).toBeUndefined();
    expect(parseContentRange(null)).toBeUndefined();
  });
});
