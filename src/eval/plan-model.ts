/**
 * A plan applied to a decoded dense ONNX model, for evaluating it before export: each layer's down_proj
 * weight becomes the dense-shaped matrix of applyPlanToWeights (removed rows zero, refit rows substituted)
 * and bias compensation becomes an Add after the down projection. Nothing is sliced, so this shares no code
 * with the structural exporter and can judge it: both must give the same logits.
 *
 * Sequential reconstruction calibrates the model with a different plan for every layer, so it uses
 * planInputsModel instead: the same rewiring once, with every down_proj weight and bias as a graph input
 * that planFeeds fills per plan, so one session serves every plan. Platform neutral.
 */
import { tensorFromBytes, valueInfo } from '../onnx/builders';
import { discoverFfns, type FfnLayer } from '../onnx/ffn-discovery';
import { encodeFloats } from '../onnx/float-tensor';
import { GraphIndex } from '../onnx/graph-index';
import { instrumentModel, type InstrumentedOutput } from '../onnx/instrument';
import type { OnnxModel } from '../onnx/model-io';
import { DataType, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/proto';
import type { OrtModule, OrtTensor } from '../model/ort';
import { readFfnWeights } from '../pruning/ffn-weights';
import { applyPlanToWeights, type PlanWeights } from './apply-plan';

/** The tensor a layer's down_proj reads as its weight ([C, hidden]) and the bias added to its output ([hidden]). */
export interface PlanLayerInputs {
  layer: number;
  weight: { name: string; dims: [number, number]; dataType: number };
  bias: { name: string; dims: [number]; dataType: number } | null;
}

/**
 * Points every layer's down_proj at a fresh weight name (so a weight shared with any other reader stays as
 * it was for that reader), and, where `withBias(l)`, adds a bias after it. Initializers only the down
 * projections read are dropped. Returns the edited model and the names the caller must provide.
 */
function rewireDowns(model: OnnxModel, ffns: readonly FfnLayer[], withBias: (l: number) => boolean): { model: OnnxModel; layers: PlanLayerInputs[] } {
  const graph = model.graph!;
  const index = new GraphIndex(graph);
  const nodes: NodeProto[] = [...(graph.node ?? [])];
  const replaced = new Set<string>();
  const biasNodes = new Map<number, NodeProto>();
  const layers = ffns.map((f, l): PlanLayerInputs => {
    const w = f.down.weight;
    if (w.format !== 'float') throw new Error(`layer ${f.layer}: down_proj is not a float MatMul`);
    const name = `${w.initializer}.plan.l${f.layer}`;
    const down = nodes[f.down.nodeIndex]!;
    nodes[f.down.nodeIndex] = { ...down, input: down.input!.map((input, i) => (i === 1 ? name : input)) };
    replaced.add(w.initializer);
    const weight = { name, dims: [f.intermediateSize, f.hiddenSize] as [number, number], dataType: w.dataType };
    if (!withBias(l)) return { layer: f.layer, weight, bias: null };
    const biasName = `${name}.bias`;
    const inner = `${f.down.output}.plan.before_bias`;
    nodes[f.down.nodeIndex] = { ...nodes[f.down.nodeIndex]!, output: [inner] };
    biasNodes.set(f.down.nodeIndex, { op_type: 'Add', name: `${down.name ?? `layer${f.layer}`}/plan_bias`, input: [inner, biasName], output: [f.down.output] });
    return { layer: f.layer, weight, bias: { name: biasName, dims: [f.hiddenSize], dataType: f.activationType } };
  });
  const stillRead = (name: string) => index.otherUses.has(name) || index.consumers(name).some((u) => !ffns.some((f) => f.down.nodeIndex === u.node && u.input === 1));
  const initializer = (graph.initializer ?? []).filter((t) => !replaced.has(t.name!) || stillRead(t.name!));
  // Each bias Add goes right after its MatMul, so the node list stays topologically sorted.
  const node = nodes.flatMap((n, i) => (biasNodes.has(i) ? [n, biasNodes.get(i)!] : [n]));
  return { model: { ...model, graph: { ...graph, node, initializer } }, layers };
}

function denseDowns(model: OnnxModel, ffns: readonly FfnLayer[]): { downs: Float32Array[]; hidden: number } {
  const hidden = ffns[0]?.hiddenSize;
  if (hidden === undefined) throw new Error('the model has no FFN layers');
  return { downs: readFfnWeights(model, ffns, { gateUp: false }).map((w) => w.down), hidden };
}

/** `model` (tensor bytes in memory, float down projections) with `plan` applied to its weights. */
export function applyPlanToModel(model: OnnxModel, plan: PlanWeights, ffns: readonly FfnLayer[] = discoverFfns(model)): OnnxModel {
  const { downs, hidden } = denseDowns(model, ffns);
  const applied = applyPlanToWeights(downs, hidden, plan);
  const rewired = rewireDowns(model, ffns, (l) => applied[l]!.bias !== null);
  const added: TensorProto[] = rewired.layers.flatMap(({ weight, bias }, l) => [
    tensorFromBytes(weight.name, weight.dims, weight.dataType, encodeFloats(applied[l]!.down, weight.dataType)),
    ...(bias ? [tensorFromBytes(bias.name, bias.dims, bias.dataType, encodeFloats(applied[l]!.bias!, bias.dataType))] : []),
  ]);
  const graph = rewired.model.graph!;
  return { ...rewired.model, graph: { ...graph, initializer: [...graph.initializer!, ...added] } };
}

/** A model whose down_proj weights and biases are graph inputs (planFeeds), and the dense weights plans apply to. */
export interface PlanInputsModel {
  model: OnnxModel;
  layers: PlanLayerInputs[];
  /** Per layer, the dense down_proj [C, hidden] (ONNX [in, out] layout). */
  downs: Float32Array[];
  hidden: number;
}

/**
 * `model` (tensor bytes in memory, float down projections) with every layer's down_proj weight and output
 * bias as graph inputs, to be fed by planFeeds: one session then evaluates any plan. The bias (zero for a
 * plan without bias compensation, which adds exactly nothing) keeps FLAP plans on the same graph.
 * `ffns` must describe `model` (instrumenting it first keeps its node indices valid).
 */
export function planInputsModel(model: OnnxModel, ffns: readonly FfnLayer[] = discoverFfns(model)): PlanInputsModel {
  const { downs, hidden } = denseDowns(model, ffns);
  const rewired = rewireDowns(model, ffns, () => true);
  const inputs: ValueInfoProto[] = rewired.layers.flatMap(({ weight, bias }) => [valueInfo(weight.name, weight.dataType, weight.dims), valueInfo(bias!.name, bias!.dataType, bias!.dims)]);
  const graph = rewired.model.graph!;
  return { model: { ...rewired.model, graph: { ...graph, input: [...(graph.input ?? []), ...inputs] } }, layers: rewired.layers, downs, hidden };
}

function floatTensor(ort: OrtModule, values: Float32Array, dims: readonly number[], dataType: number): OrtTensor {
  if (dataType === DataType.FLOAT) return new ort.Tensor('float32', values, dims);
  if (dataType === DataType.FLOAT16) {
    const bytes = encodeFloats(values, dataType);
    return new ort.Tensor('float16', new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2), dims);
  }
  throw new Error(`plan inputs of data type ${dataType} are not supported (float32 and float16 only)`);
}

/** The feeds of planInputsModel's inputs for `plan`: exactly applyPlanToWeights' weights and biases. The caller disposes them. */
export function planFeeds(ort: OrtModule, planned: PlanInputsModel, plan: PlanWeights): Record<string, OrtTensor> {
  const applied = applyPlanToWeights(planned.downs, planned.hidden, plan);
  const feeds: Record<string, OrtTensor> = {};
  planned.layers.forEach(({ weight, bias }, l) => {
    feeds[weight.name] = floatTensor(ort, applied[l]!.down, weight.dims, weight.dataType);
    feeds[bias!.name] = floatTensor(ort, applied[l]!.bias ?? new Float32Array(planned.hidden), bias!.dims, bias!.dataType);
  });
  return feeds;
}

/** planInputsModel of `model` instrumented for calibration (instrumented first: that keeps `ffns`' node indices valid). */
export function planCalibrationModel(model: OnnxModel, ffns: readonly FfnLayer[] = discoverFfns(model)): PlanInputsModel & { outputs: InstrumentedOutput[] } {
  const { model: instrumented, outputs } = instrumentModel(model, { ffns: [...ffns] });
  return { ...planInputsModel(instrumented, ffns), outputs: [...outputs].sort((a, b) => a.layer - b.layer) };
}
