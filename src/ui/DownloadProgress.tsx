import { formatBytes } from '../model/memory-estimate';
import { useSources } from '../store/sources';

const duration = (seconds: number) =>
  seconds < 90 ? `${Math.ceil(seconds)} s` : seconds < 5400 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`;

/** Bytes, rate and time left of the running download. */
export function DownloadProgress() {
  const progress = useSources((s) => s.progress);
  const phase = useSources((s) => s.phase);
  if (phase !== 'downloading' || !progress) return null;
  const { file, loaded, total, bytesPerSecond, etaSeconds, reusedBytes } = progress;
  const parts = [
    `${formatBytes(loaded)}${total !== undefined ? ` of ${formatBytes(total)}` : ''}`,
    ...(bytesPerSecond ? [`${formatBytes(bytesPerSecond)}/s`] : []),
    ...(etaSeconds !== undefined ? [`${duration(etaSeconds)} left`] : []),
    ...(reusedBytes ? [`${formatBytes(reusedBytes)} already here`] : []),
  ];
  return (
    <div className="download" data-testid="download-progress">
      <progress value={loaded} max={total ?? undefined} />
      <span className="status">
        {file}: {parts.join(' · ')}
      </span>
    </div>
  );
}
