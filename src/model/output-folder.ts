/**
 * Whether a folder looks like a model folder we (or an exporter we read) wrote, so replacing it loses
 * nothing of the user's: empty, or holding config.json / genai_config.json / pruning.json / an ONNX graph
 * at the top or in onnx/. Shared by the CLI's output guard and the studio's folder save. Platform neutral.
 */
const MARKERS = new Set(['config.json', 'genai_config.json', 'pruning.json']);
const isOnnx = (name: string) => name.endsWith('.onnx');

/** `top`: names in the folder; `onnx`: names in its onnx/ subfolder (read only when asked for). */
export async function looksLikeModelFolder(top: readonly string[], onnx: () => Promise<readonly string[]>): Promise<boolean> {
  if (top.length === 0) return true;
  if (top.some((name) => MARKERS.has(name) || isOnnx(name))) return true;
  return top.includes('onnx') && (await onnx()).some(isOnnx);
}

export const NOT_A_MODEL_FOLDER = 'it is not empty and does not look like a model folder (no config.json, genai_config.json, pruning.json or ONNX graph in it)';
