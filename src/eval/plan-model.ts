/**
 * A plan applied to a decoded dense ONNX model, for evaluating it before export: each layer's down_proj
 * weight becomes the dense-shaped matrix of applyPlanToWeights (removed rows zero, refit rows substituted)
 * and bias compensation becomes an Add after the down projection. Nothing is sliced, so this shares no code
 * with the structural exporter and can judge it: both must give the same logits. Platform neutral.
 */
import { tensorFromBytes } from '../onnx/builders';
import { discoverFfns, type FfnLayer } from '../onnx/ffn-discovery';
import { encodeFloats } from '../onnx/float-tensor';
import { GraphIndex } from '../onnx/graph-index';
import type { OnnxModel } from '../onnx/model-io';
import type { NodeProto, TensorProto } from '../onnx/proto';
import { readFfnWeights } from '../pipeline/ffn-weights';
import { applyPlanToWeights, type PlanWeights } from './apply-plan';

/** `model` (tensor bytes in memory, float down projections) with `plan` applied to its weights. */
export function applyPlanToModel(model: OnnxModel, plan: PlanWeights, ffns: readonly FfnLayer[] = discoverFfns(model)): OnnxModel {
  const graph = model.graph!;
  const hidden = ffns[0]?.hiddenSize;
  if (hidden === undefined) throw new Error('the model has no FFN layers');
  const downs = readFfnWeights(model, ffns, { gateUp: false }).map((w) => w.down);
  const applied = applyPlanToWeights(downs, hidden, plan);
  const index = new GraphIndex(graph);

  const nodes: NodeProto[] = [...(graph.node ?? [])];
  const added: TensorProto[] = [];
  const replaced = new Set<string>();
  const biasNodes = new Map<number, NodeProto>();
  ffns.forEach((f, l) => {
    const w = f.down.weight;
    if (w.format !== 'float') throw new Error(`layer ${f.layer}: down_proj is not a float MatMul`);
    // A fresh name per layer, so a weight shared with any other reader stays as it was for that reader.
    const name = `${w.initializer}.plan.l${f.layer}`;
    added.push(tensorFromBytes(name, [downs[l]!.length / hidden, hidden], w.dataType, encodeFloats(applied[l]!.down, w.dataType)));
    const down = nodes[f.down.nodeIndex]!;
    nodes[f.down.nodeIndex] = { ...down, input: down.input!.map((input, i) => (i === 1 ? name : input)) };
    replaced.add(w.initializer);
    const bias = applied[l]!.bias;
    if (bias) {
      const biasName = `${name}.bias`;
      const inner = `${f.down.output}.plan.before_bias`;
      added.push(tensorFromBytes(biasName, [hidden], f.activationType, encodeFloats(bias, f.activationType)));
      nodes[f.down.nodeIndex] = { ...nodes[f.down.nodeIndex]!, output: [inner] };
      biasNodes.set(f.down.nodeIndex, { op_type: 'Add', name: `${down.name ?? `layer${f.layer}`}/plan_bias`, input: [inner, biasName], output: [f.down.output] });
    }
  });
  const stillRead = (name: string) => index.otherUses.has(name) || index.consumers(name).some((u) => !ffns.some((f) => f.down.nodeIndex === u.node && u.input === 1));
  const initializer = [...(graph.initializer ?? []).filter((t) => !replaced.has(t.name!) || stillRead(t.name!)), ...added];
  // Each bias Add goes right after its MatMul, so the node list stays topologically sorted.
  const node = nodes.flatMap((n, i) => (biasNodes.has(i) ? [n, biasNodes.get(i)!] : [n]));
  return { ...model, graph: { ...graph, node, initializer } };
}
