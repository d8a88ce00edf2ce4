/**
 * A single GGUF file as a model source: the importer turns it into the same Hugging Face ONNX folder
 * `npm run cli -- import-gguf` writes, in memory, and the folder is then opened like any other.
 */
import { readGguf } from '../import/gguf-file';
import { importGguf } from '../import/import-gguf';
import { localAccess, type SourceAccess } from './source-access';

export async function ggufAccess(file: Blob, name: string): Promise<SourceAccess> {
  const model = await readGguf(new Uint8Array(await file.arrayBuffer()));
  const files = importGguf(model);
  return localAccess(name, new Map(files.map((f) => [f.path, new Blob(f.chunks as BlobPart[])])));
}
