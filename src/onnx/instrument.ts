/**
 * Instrumentation for calibration: a copy of the graph in which every layer's down_proj input (the
 * per-channel FFN activations) and, optionally, every layer's output hidden state are extra graph
 * outputs, after the original outputs, which stay as they were. Works on parsed or decoded models
 * (tensor data is shared, never copied). Platform neutral.
 */
import { discoverFfns, type FfnLayer } from './ffn-discovery';
import { GraphIndex } from './graph-index';
import type { OnnxModel } from './model-io';
import type { NodeProto, ValueInfoProto } from './proto';

export interface InstrumentOptions {
  /** Also expose each layer's output hidden state (the residual stream after its FFN). */
  hidden?: boolean;
  /** Discovery result for `model` (computed when absent). */
  ffns?: FfnLayer[];
}

export interface InstrumentedOutput {
  layer: number;
  /** Graph output holding down_proj's input: [batch, sequence, intermediate]. */
  downInput: string;
  /** Graph output holding the layer's output hidden state: [batch, sequence, hidden]. */
  hidden?: string;
}

export interface InstrumentedModel {
  model: OnnxModel;
  outputs: InstrumentedOutput[];
}

export function instrumentModel(model: OnnxModel, options: InstrumentOptions = {}): InstrumentedModel {
  const graph = model.graph!;
  const ffns = options.ffns ?? discoverFfns(model);
  const index = new GraphIndex(graph);
  const nodes: NodeProto[] = [...(graph.node ?? [])];
  const existing = new Set((graph.output ?? []).map((o) => o.name));
  const added: ValueInfoProto[] = [];
  const outputs: InstrumentedOutput[] = [];

  const expose = (tensor: string, dims: (number | string)[], elemType: number) => {
    if (existing.has(tensor)) return;
    existing.add(tensor);
    // Keep a richer existing annotation (it may name symbolic dims) but make sure it says the type.
    const known = index.valueInfos.get(tensor)?.type?.tensor_type;
    const shape = known?.shape ?? { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) };
    added.push({ name: tensor, type: { tensor_type: { elem_type: known?.elem_type ?? elemType, shape } } });
  };

  for (const ffn of ffns) {
    expose(ffn.downInput, ['batch_size', 'sequence_length', ffn.intermediateSize], ffn.activationType);
    const entry: InstrumentedOutput = { layer: ffn.layer, downInput: ffn.downInput };
    if (options.hidden) {
      const site = ffn.hidden;
      if (!site) throw new Error(`Layer ${ffn.layer}: no residual Add or SkipLayerNormalization follows the down projection, so its output hidden state cannot be exposed`);
      let tensor = site.tensor;
      if (!tensor) {
        // The optional residual-sum output of a Skip*LayerNormalization (the final norm omits it): name it.
        tensor = `/model/layers.${ffn.layer}/instrument/hidden_output`;
        const n = nodes[site.nodeIndex]!;
        const output = [...(n.output ?? [])];
        while (output.length <= site.outputIndex) output.push('');
        output[site.outputIndex] = tensor;
        nodes[site.nodeIndex] = { ...n, output };
      }
      expose(tensor, ['batch_size', 'sequence_length', ffn.hiddenSize], ffn.activationType);
      entry.hidden = tensor;
    }
    outputs.push(entry);
  }
  const addedNames = new Set(added.map((v) => v.name));
  return {
    model: {
      ...model,
      graph: {
        ...graph,
        node: nodes,
        output: [...(graph.output ?? []), ...added],
        // A graph output should not also be listed in value_info.
        ...(graph.value_info ? { value_info: graph.value_info.filter((v) => !addedNames.has(v.name)) } : {}),
      },
    },
    outputs,
  };
}
