import { useStudio } from '../../store/studio-app';
import type { ExportStep as Step } from '../../store/studio';
import { RefinePanel } from './RefinePanel';
import { StepError } from './StepError';

const STEPS: [Step, string][] = [
  ['build', 'Build the slimmed model'],
  ['verify', 'Check it against the full model'],
  ['zip', 'Pack the files'],
];

function downloadZip(zip: Uint8Array, name: string) {
  const url = URL.createObjectURL(new Blob([zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `${name}.zip`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

type DirectoryPicker = (options?: { mode?: 'readwrite' }) => Promise<FileSystemDirectoryHandle>;

async function saveToFolder(files: { path: string; data: Uint8Array }[], name: string) {
  const pick = (window as unknown as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker!;
  const root = await (await pick({ mode: 'readwrite' })).getDirectoryHandle(name, { create: true });
  for (const file of files) {
    const parts = file.path.split('/');
    let dir = root;
    for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part, { create: true });
    const writable = await (await dir.getFileHandle(parts.at(-1)!, { create: true })).createWritable();
    await writable.write(file.data as Uint8Array<ArrayBuffer>);
    await writable.close();
  }
}

/** Step 8: build, verify and download the slimmed model. */
export function ExportStep() {
  const exported = useStudio((s) => s.exported);
  const run = useStudio((s) => s.runExport);
  const files = useStudio((s) => s.exportFiles);
  const goTo = useStudio((s) => s.goTo);
  const refinedShown = useStudio((s) => s.plan?.kind === 'refined');
  const { result } = exported;
  const canPickFolder = typeof (window as unknown as { showDirectoryPicker?: unknown }).showDirectoryPicker === 'function';
  return (
    <section className="studio-step" aria-labelledby="export-title">
      <h2 id="export-title">8. Download</h2>
      <p className="hint">The download is a normal ONNX model folder (model, weights, tokenizer, settings and a pruning.json that says what was removed).</p>
      <RefinePanel />
      <div className="actions">
        <button type="button" className="primary" data-testid="run-export" onClick={run} disabled={exported.running || !refinedShown}>
          {exported.running ? 'Preparing…' : 'Prepare the download'}
        </button>
      </div>
      <ol className="export-steps">
        {STEPS.map(([step, label]) => (
          <li key={step} data-testid={`export-step-${step}`} data-state={exported.steps[step] ?? 'waiting'}>
            {label}: {exported.steps[step] === 'done' ? 'done' : exported.steps[step] === 'running' ? 'working…' : 'waiting'}
          </li>
        ))}
      </ol>
      {result && (
        <div data-testid="export-result">
          <p>
            Parameters: <span data-testid="export-params-before">{result.parameters.before.toLocaleString('en-US')}</span> →{' '}
            <span data-testid="export-params-after">{result.parameters.after.toLocaleString('en-US')}</span>; channels per layer{' '}
            <span data-testid="export-sizes">{result.intermediateSizes.join(', ')}</span>.
          </p>
          <p>
            Check: largest difference from the full model with the same channels switched off,{' '}
            <span data-testid="export-max-error">{result.maxAbsError.toExponential(2)}</span> over {result.verifiedSamples} samples{' '}
            {result.maxAbsError < 1e-3 ? '(matches).' : '(larger than expected: please report it).'}
          </p>
          <div className="actions">
            <button type="button" className="primary" data-testid="download-zip" onClick={() => downloadZip(files()!.zip, result.folderName)}>
              Download as zip
            </button>
            {canPickFolder && (
              <button type="button" className="secondary" data-testid="save-folder" onClick={() => void saveToFolder(files()!.files, result.folderName).catch(() => undefined)}>
                Save to a folder…
              </button>
            )}
          </div>
        </div>
      )}
      <StepError step="export" />
      <div className="actions">
        <button type="button" className="secondary" onClick={() => goTo('chat')}>
          Back
        </button>
      </div>
    </section>
  );
}
