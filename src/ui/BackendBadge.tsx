import { useStudio } from '../store/studio-app';
import type { BackendInfo } from '../gpu/backend';

export function BackendBadge() {
  const backend = useStudio((state) => state.backend);
  return (
    <div className={`backend backend-${backend?.kind ?? 'pending'}`} data-testid="backend">
      {backend ? describeBackend(backend) : 'Checking for a GPU…'}
    </div>
  );
}

function describeBackend(backend: BackendInfo): string {
  if (backend.kind === 'wasm') {
    return `WASM (CPU, ${backend.threads} thread${backend.threads === 1 ? '' : 's'}): ${backend.reason}`;
  }
  const gpu = [backend.vendor, backend.architecture, backend.description].filter(Boolean).join(' ');
  const f16 = backend.features.includes('shader-f16') ? ', f16' : '';
  return `WebGPU (${gpu || 'unknown GPU'}${f16})`;
}
