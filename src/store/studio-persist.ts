/**
 * The studio session in IndexedDB: one record, written after every change that matters. Statistics keep
 * their typed arrays (IndexedDB stores them as binary through structured clone), never number lists.
 */
import type { CalibrationCheckpoint } from '../calibration/engine-checkpoint';
import type { CalibrationData, CompareRow, PlanParams, RefinedPlan } from '../worker/studio-protocol';

export interface SavedSession {
  /** 2: calibration sets with provenance and the refined plan (version 1 sessions are not restored). */
  version: 2;
  step: string;
  persona: { name: string; description: string; examples: string };
  settings: Record<string, unknown>;
  data: CalibrationData | null;
  planParams: PlanParams | null;
  refined: RefinedPlan | null;
  compare: { levels: number[]; prompt: string; rows: CompareRow[] };
  checkpoint: CalibrationCheckpoint | null;
  chatInput: string;
}

export interface SessionStore {
  load(): Promise<SavedSession | undefined>;
  save(session: SavedSession): Promise<void>;
  clear(): Promise<void>;
}

const DB = 'pps-studio';
const STORE = 'session';
const KEY = 'current';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB could not be opened'));
  });
}

function run<T>(mode: IDBTransactionMode, action: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  return open().then(
    (db) =>
      new Promise<T>((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const request = action(tx.objectStore(STORE));
        tx.oncomplete = () => {
          db.close();
          resolve(request.result);
        };
        tx.onerror = () => {
          db.close();
          reject(tx.error ?? new Error('IndexedDB transaction failed'));
        };
      }),
  );
}

export const indexedDbSessions: SessionStore = {
  load: () => run<SavedSession | undefined>('readonly', (s) => s.get(KEY) as IDBRequest<SavedSession | undefined>).then((v) => (v?.version === 2 ? v : undefined)),
  save: (session) => run('readwrite', (s) => s.put(session, KEY)).then(() => undefined),
  clear: () => run('readwrite', (s) => s.delete(KEY)).then(() => undefined),
};
