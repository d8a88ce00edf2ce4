/**
 * Last-token hidden state of every layer for one prompt, from a session instrumented with
 * `{ hidden: true }` (the input of persona-sensitivity filtering). Shared by the Node and browser runtimes.
 */
import type { ModelConfig } from '../model/config';
import { describeDecoder, disposeAll, emptyPast, tokenFeeds } from '../model/decoder-io';
import { readFloat32 } from '../model/logits';
import type { OrtModule, OrtSession } from '../model/ort';
import type { InstrumentedOutput } from '../onnx/instrument';

export async function lastTokenHiddenStates(
  ort: OrtModule,
  session: OrtSession,
  config: ModelConfig,
  outputs: readonly InstrumentedOutput[],
  promptIds: readonly number[],
): Promise<Float32Array[]> {
  const io = describeDecoder(session, config);
  const feeds = { ...tokenFeeds(ort, io, promptIds, 0), ...emptyPast(ort, io) };
  const names = outputs.map((o) => {
    if (!o.hidden) throw new Error(`layer ${o.layer} has no hidden-state output: instrument the model with { hidden: true }`);
    return o.hidden;
  });
  try {
    const result = await session.run(feeds, names);
    try {
      const states: Float32Array[] = [];
      for (const name of names) {
        const values = await readFloat32(result[name]!);
        const hidden = values.length / promptIds.length;
        states.push(values.slice(values.length - hidden));
      }
      return states;
    } finally {
      disposeAll(Object.values(result));
    }
  } finally {
    disposeAll(Object.values(feeds));
  }
}
