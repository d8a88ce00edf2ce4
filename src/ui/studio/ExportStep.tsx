import { useState } from 'react';
import { saveFolder } from '../../model/save-folder';
import { useSources } from '../../store/sources';
import type { QuantizationRecord } from '../../onnx/quantize-int4';
import { useStudio } from '../../store/studio-app';
import type { ExportStep as Step } from '../../store/studio';
import { RefinePanel } from './RefinePanel';
import { StepError } from './StepError';
import type { GgufWeightType } from '../../gguf/llama-gguf';
import { StepFooter } from './StepFooter';

const STEPS: [Step, string][] = [
  ['build', 'Build the slimmed model'],
  ['verify', 'Check it against the full model'],
  ['zip', 'Pack the files'],
];

const GGUF_TYPES: [GgufWeightType, string][] = [
  ['f16', 'F16 (half the size of F32, practically lossless)'],
  ['q8_0', 'Q8_0 (8-bit, about a quarter of F32)'],
  ['f32', 'F32 (exact)'],
];

function download(data: Uint8Array, fileName: string, type: string) {
  const url = URL.createObjectURL(new Blob([data as Uint8Array<ArrayBuffer>], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

type DirectoryPicker = (options?: { mode?: 'readwrite' }) => Promise<FileSystemDirectoryHandle>;

/** What the last "Save to a folder…" did, in words. */
async function saveToFolder(files: { path: string; data: Uint8Array }[], name: string): Promise<string> {
  const pick = (window as unknown as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker!;
  let parent: FileSystemDirectoryHandle;
  try {
    parent = await pick({ mode: 'readwrite' });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') return '';
    throw error;
  }
  const sources = useSources.getState();
  const model = sources.kind === 'folder' ? sources.folder?.handle : undefined;
  const done = await saveFolder(parent, name, files, {
    model,
    confirmReplace: (existing) => window.confirm(`"${existing}" already exists in "${parent.name}" and holds a model folder. Replace it?`),
  });
  return done === 'saved' ? `Saved "${name}" in "${parent.name}".` : `Nothing saved: "${name}" in "${parent.name}" was kept.`;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;

function QuantizationReport({ record }: { record: QuantizationRecord }) {
  const nll = record.held_out_nll;
  return (
    <p data-testid="export-quantization">
      4-bit weights ({record.matmuls} matrices): size <span data-testid="export-size-before">{mb(record.bytes.before)}</span> →{' '}
      <span data-testid="export-size-after">{mb(record.bytes.after)}</span>
      {nll && (
        <>
          ; held-out perplexity <span data-testid="export-ppl-before">{Math.exp(nll.before).toFixed(2)}</span> →{' '}
          <span data-testid="export-ppl-after">{Math.exp(nll.after).toFixed(2)}</span> (NLL {nll.before.toFixed(3)} → {nll.after.toFixed(3)} nats per token over{' '}
          {nll.tokens} tokens)
        </>
      )}
      .
    </p>
  );
}

/** Step 8: build, verify and download the slimmed model. */
export function ExportStep() {
  const exported = useStudio((s) => s.exported);
  const run = useStudio((s) => s.runExport);
  const files = useStudio((s) => s.exportFiles);
  const refinedShown = useStudio((s) => s.plan?.kind === 'refined');
  const { result } = exported;
  const [int4, setInt4] = useState(false);
  const canPickFolder = typeof (window as unknown as { showDirectoryPicker?: unknown }).showDirectoryPicker === 'function';
  const [saveMessage, setSaveMessage] = useState<{ text: string; error: boolean } | null>(null);
  const save = () =>
    saveToFolder(files()!.files, result!.folderName).then(
      (text) => setSaveMessage(text ? { text, error: false } : null),
      (error: unknown) => setSaveMessage({ text: error instanceof Error ? error.message : String(error), error: true }),
    );
  return (
    <section className="studio-step" aria-labelledby="export-title">
      <h2 id="export-title">8. Download</h2>
      <p className="hint">The download is a normal ONNX model folder (model, weights, tokenizer, settings, a pruning.json that says what was removed and a README.md model card).</p>
      <RefinePanel />
      <label className="option">
        <input type="checkbox" data-testid="export-int4" checked={int4} onChange={(e) => setInt4(e.target.checked)} disabled={exported.running} /> Also shrink the weights to 4 bits
        (int4 MatMulNBits, block 32: about a third of the size; quality is measured before and after on held-out answers)
      </label>
      <div className="actions">
        <button type="button" className="primary" data-testid="run-export" onClick={() => run(int4 ? { quantize: 'int4' } : {})} disabled={exported.running || !refinedShown}>
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
          {result.quantization && <QuantizationReport record={result.quantization} />}
          <p>
            Check{result.quantization ? ' (of the slimmed model before 4-bit quantization)' : ''}: largest difference from the full model with the same channels switched off,{' '}
            <span data-testid="export-max-error">{result.maxAbsError.toExponential(2)}</span> over {result.verifiedSamples} samples{' '}
            {result.maxAbsError < 1e-3 ? '(matches).' : '(larger than expected: please report it).'}
          </p>
          <div className="actions">
            <button type="button" className="primary" data-testid="download-zip" onClick={() => download(files()!.zip, `${result.folderName}.zip`, 'application/zip')}>
              Download as zip
            </button>
            {canPickFolder && (
              <button type="button" className="secondary" data-testid="save-folder" onClick={() => void save()}>
                Save to a folder…
              </button>
            )}
          </div>
          {saveMessage && (
            <p className={saveMessage.error ? 'error' : 'status'} role={saveMessage.error ? 'alert' : 'status'} data-testid="save-folder-message">
              {saveMessage.text}
            </p>
          )}
          <GgufDownload />
        </div>
      )}
      <StepError step="export" />
      <StepFooter back="chat" />
    </section>
  );
}

/** The same verified model as one GGUF file for llama.cpp (and the tools built on it). */
function GgufDownload() {
  const gguf = useStudio((s) => s.gguf);
  const run = useStudio((s) => s.runGgufExport);
  const file = useStudio((s) => s.ggufFile);
  const [type, setType] = useState<GgufWeightType>('f16');
  const { result, progress } = gguf;
  return (
    <div className="gguf-download" data-testid="gguf-download">
      <p className="hint">
        For llama.cpp (and the apps built on it): the same model as one GGUF file. Models that keep the same number of channels in every layer are written
        as llama.cpp&apos;s <code>llama</code> architecture; models with different widths per layer as <code>deci</code>, which reads a width per layer.
      </p>
      <div className="actions">
        <label>
          Precision{' '}
          <select data-testid="gguf-type" value={type} onChange={(e) => setType(e.target.value as GgufWeightType)} disabled={gguf.running}>
            {GGUF_TYPES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <button type="button" className="secondary" data-testid="run-gguf" onClick={() => run(type)} disabled={gguf.running}>
          {gguf.running ? `Converting… ${progress ? `${progress.done} / ${progress.total} tensors` : ''}` : 'Make a GGUF file'}
        </button>
      </div>
      {result && (
        <p data-testid="gguf-result">
          <span data-testid="gguf-name">{result.fileName}</span>: {(result.bytes / 1e6).toFixed(1)} MB, architecture <span data-testid="gguf-arch">{result.arch}</span>.{' '}
          <button type="button" className="primary" data-testid="download-gguf" onClick={() => download(file()!.data, result.fileName, 'application/octet-stream')}>
            Download GGUF
          </button>
        </p>
      )}
    </div>
  );
}
