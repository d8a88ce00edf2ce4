import { formatBytes } from '../model/memory-estimate';
import { useSources } from '../store/sources';

const STORE_NAMES = { opfs: 'the browser’s private file system (OPFS)', 'cache-api': 'the browser’s Cache Storage', memory: 'memory only (lost on reload)' };

/** What is downloaded and kept, and a way to free the space. */
export function CacheView() {
  const cache = useSources((s) => s.cache);
  const deleteCached = useSources((s) => s.deleteCached);
  const busy = useSources((s) => s.phase === 'downloading');
  if (!cache) return null;
  const total = cache.sources.reduce((n, s) => n + s.bytes + s.partialBytes, 0);
  return (
    <section className="cache-view" data-testid="cache-view">
      <h3>Downloaded models</h3>
      <p className="hint">
        {cache.sources.length ? `${formatBytes(total)} kept in ${STORE_NAMES[cache.store]}.` : `Nothing kept yet in ${STORE_NAMES[cache.store]}.`}
        {cache.usage !== undefined && cache.quota ? ` This site uses ${formatBytes(cache.usage)} of ${formatBytes(cache.quota)} allowed.` : ''}
      </p>
      <ul>
        {cache.sources.map((s) => (
          <li key={s.dir} data-testid="cache-entry">
            <span className="cache-label">{s.label}</span>
            <span className="status">
              {formatBytes(s.bytes)}
              {s.partialBytes ? ` + ${formatBytes(s.partialBytes)} partly downloaded` : ''}
            </span>
            <button type="button" className="secondary" data-testid="cache-delete" disabled={busy} onClick={() => void deleteCached(s.dir)}>
              Delete
            </button>
            <details className="cache-files">
              <summary>{s.files.length === 1 ? '1 file' : `${s.files.length} files`}</summary>
              <ul data-testid="cache-files">
                {s.files.map((f) => (
                  <li key={f.path}>
                    {f.path}: {formatBytes(f.size)}
                    {f.partial ? ' (partly downloaded)' : ''}
                  </li>
                ))}
              </ul>
            </details>
          </li>
        ))}
      </ul>
      {cache.sources.length > 1 && (
        <button type="button" className="secondary" data-testid="cache-delete-all" disabled={busy} onClick={() => void deleteCached()}>
          Delete all
        </button>
      )}
    </section>
  );
}
