import type { DragEvent } from 'react';
import { canPickDirectory, pickDirectory, readDrop, readFileInput } from '../sources/local-folder';
import { BUILTIN_LABEL, useSources, type SourceKind } from '../store/sources';

const KINDS: { kind: SourceKind; label: string }[] = [
  { kind: 'builtin', label: BUILTIN_LABEL },
  { kind: 'hub', label: 'Hugging Face model id' },
  { kind: 'url', label: 'Model folder at a web address' },
  { kind: 'folder', label: 'Model folder on this computer' },
  { kind: 'gguf', label: 'GGUF file (imported here)' },
];

/** Picks where the model comes from; what each source needs is typed or chosen here. */
export function SourceChooser() {
  const kind = useSources((s) => s.kind);
  const setKind = useSources((s) => s.setKind);
  const inspect = useSources((s) => s.inspect);
  const phase = useSources((s) => s.phase);
  return (
    <div className="source-chooser">
      <label className="field">
        <span>Source</span>
        <select data-testid="model-source" value={kind} onChange={(e) => setKind(e.target.value as SourceKind)}>
          {KINDS.map((k) => (
            <option key={k.kind} value={k.kind}>
              {k.label}
            </option>
          ))}
        </select>
      </label>
      {kind === 'hub' && <HubFields />}
      {kind === 'url' && <UrlField />}
      {kind === 'folder' && <FolderFields />}
      {kind === 'gguf' && <GgufFields />}
      <button type="button" className="secondary" data-testid="inspect-source" onClick={() => void inspect()} disabled={phase === 'inspecting' || phase === 'downloading'}>
        Show variants
      </button>
    </div>
  );
}

function HubFields() {
  const repo = useSources((s) => s.hubRepo);
  const revision = useSources((s) => s.hubRevision);
  const hubUrl = useSources((s) => s.hubUrl);
  const setHub = useSources((s) => s.setHub);
  return (
    <>
      <label className="field">
        <span>Model id (organisation/name)</span>
        <input data-testid="hub-repo" placeholder="HuggingFaceTB/SmolLM2-135M-Instruct" value={repo} onChange={(e) => setHub({ hubRepo: e.target.value })} />
      </label>
      <label className="field">
        <span>Revision (branch, tag or commit)</span>
        <input data-testid="hub-revision" value={revision} onChange={(e) => setHub({ hubRevision: e.target.value })} />
      </label>
      <details className="advanced">
        <summary>Hub address</summary>
        <input data-testid="hub-url" aria-label="Hub address" value={hubUrl} onChange={(e) => setHub({ hubUrl: e.target.value })} />
      </details>
    </>
  );
}

function UrlField() {
  const url = useSources((s) => s.url);
  const setUrl = useSources((s) => s.setUrl);
  return (
    <label className="field">
      <span>Folder address (holding config.json and onnx/)</span>
      <input data-testid="model-url" placeholder="https://example.org/models/my-model/" value={url} onChange={(e) => setUrl(e.target.value)} />
    </label>
  );
}

/** Drops a folder or a .gguf file onto the panel, whichever source is selected. */
function DropZone({ what }: { what: string }) {
  const setKind = useSources((s) => s.setKind);
  const setFolder = useSources((s) => s.setFolder);
  const setGgufFile = useSources((s) => s.setGgufFile);
  const onDrop = async (e: DragEvent) => {
    e.preventDefault();
    const dropped = await readDrop(e.dataTransfer);
    if (!dropped) return;
    if ('folder' in dropped) {
      setKind('folder');
      setFolder(dropped.folder);
    } else {
      setKind('gguf');
      setGgufFile(dropped.file);
    }
  };
  return (
    <div className="drop-zone" data-testid="drop-zone" onDragOver={(e) => e.preventDefault()} onDrop={(e) => void onDrop(e)}>
      or drop {what} here
    </div>
  );
}

function FolderFields() {
  const folder = useSources((s) => s.folder);
  const setFolder = useSources((s) => s.setFolder);
  const chosen = folder ? `${folder.name} (${folder.files.length} files)` : 'No folder chosen.';
  return (
    <div className="field">
      {canPickDirectory() ? (
        <button type="button" className="secondary" data-testid="pick-folder" onClick={() => void pickDirectory().then((picked) => picked && setFolder(picked))}>
          Choose folder…
        </button>
      ) : (
        <input type="file" data-testid="folder-input" {...{ webkitdirectory: '' }} onChange={(e) => setFolder(readFileInput(e.target.files ?? []))} />
      )}
      <span className="hint" data-testid="folder-chosen">
        {chosen}
      </span>
      <DropZone what="a model folder" />
    </div>
  );
}

function GgufFields() {
  const file = useSources((s) => s.ggufFile);
  const setGgufFile = useSources((s) => s.setGgufFile);
  return (
    <div className="field">
      <input type="file" accept=".gguf" data-testid="gguf-input" onChange={(e) => setGgufFile(e.target.files?.[0])} />
      <span className="hint">{file ? `${file.name}: Llama GGUF (F32/F16/BF16), converted to ONNX in this browser.` : 'A Llama GGUF with F32, F16 or BF16 weights.'}</span>
      <DropZone what="a .gguf file" />
    </div>
  );
}
