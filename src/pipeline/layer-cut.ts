/**
 * Per-layer subgraphs cut from a decoder graph, so layer-wise calibration can run one decoder layer at a
 * time on stored hidden states (src/pipeline/layerwise.ts). Each layer l is cut in two:
 *
 *   head_l: residual stream h[l-1] (+ the graph inputs attention needs)  →  down_proj input X_l, residual r_l
 *   tail_l: X_l, r_l, down_proj weight W_l and bias b_l (graph inputs)    →  h[l] = r_l + X_l·W_l + b_l
 *
 * so the Gram of X_l can be accumulated and solved before h[l] is made with the solved weights. Layer 0's
 * head starts from the graph inputs. A head is every node the outputs depend on, stopping at the boundary
 * tensor, graph inputs and initializers. Where the residual stream is output 3 of a
 * Skip(Simplified)LayerNormalization (onnxruntime-genai), the head would otherwise pull in the previous
 * layer's FFN through that node's normalised output: the node is replaced by the plain normalisation of the
 * boundary tensor, which computes the same value. Platform neutral.
 */
import { planInputsModel, type PlanLayerInputs } from '../eval/plan-model';
import { node as makeNode, valueInfo } from '../onnx/builders';
import { discoverFfns, type FfnLayer } from '../onnx/ffn-discovery';
import { GraphIndex } from '../onnx/graph-index';
import { instrumentModel } from '../onnx/instrument';
import type { OnnxModel } from '../onnx/model-io';
import type { AttributeProto, NodeProto, ValueInfoProto } from '../onnx/proto';

export class LayerCutError extends Error {
  override name = 'LayerCutError';
}

export interface LayerCut {
  layer: number;
  head: OnnxModel;
  tail: OnnxModel;
  /** The head's boundary input h[l-1] (absent for layer 0, whose head starts at the graph inputs). */
  stateIn?: string;
  /** The head's outputs and the tail's inputs. */
  downInput: string;
  residual: string;
  /** The tail's output h[l]. */
  stateOut: string;
  /** The tail's down_proj weight [C, hidden] and bias [hidden] inputs (as planFeeds fills them). */
  plan: PlanLayerInputs;
  /** Original graph inputs the head reads (input_ids, attention_mask, position_ids, this layer's past, ...). */
  graphInputs: ValueInfoProto[];
  /** Float type of the stream tensors. */
  activationType: number;
}

const SKIP_NORMS: Record<string, { op: string; beta: boolean }> = {
  SkipSimplifiedLayerNormalization: { op: 'SimplifiedLayerNormalization', beta: false },
  SkipLayerNormalization: { op: 'LayerNormalization', beta: true },
};

/** Every layer's head and tail. Throws LayerCutError, saying why, where the graph cannot be cut. */
export function cutLayers(model: OnnxModel, ffns: readonly FfnLayer[] = discoverFfns(model)): LayerCut[] {
  for (const f of ffns) {
    if (f.down.weight.format !== 'float') throw new LayerCutError(`layer ${f.layer}: down_proj is quantized (${f.down.op}), so it cannot take refit weights as an input`);
    if (!f.hidden) throw new LayerCutError(`layer ${f.layer}: no residual Add or SkipLayerNormalization follows the down projection, so the layer's output is not known`);
  }
  // Names every layer's output state (a final Skip*Norm may not emit it), then makes down_proj weights inputs.
  const named = instrumentModel(model, { ffns: [...ffns], hidden: true });
  const planned = planInputsModel(named.model, ffns);
  const graph = { ...planned.model.graph!, output: model.graph!.output ?? [] };
  const index = new GraphIndex(graph);
  const states = named.outputs.map((o) => o.hidden!);
  // By output name: planInputsModel inserts nodes, so the discovery's node indices no longer apply here.
  const ffnOutputs = new Map<string, number>();
  for (const f of ffns) for (const p of [f.gate, f.up]) ffnOutputs.set(p.output, f.layer);

  return ffns.map((f, l): LayerCut => {
    const stateOut = states[l]!;
    const siteNode = index.producer(stateOut)!;
    const residual = residualInput(index, siteNode.node, f);
    const stateIn = l > 0 ? states[l - 1] : undefined;
    const typed = (name: string, size: number) => index.valueInfos.get(name) ?? valueInfo(name, f.activationType, ['batch_size', 'sequence_length', size]);
    const headBoundary = stateIn ? [typed(stateIn, f.hiddenSize)] : [];
    const head = extract(index, graph, [typed(f.downInput, f.intermediateSize), typed(residual, f.hiddenSize)], headBoundary);
    for (const n of head.graph.node ?? []) {
      const other = ffnOutputs.get(n.output?.[0] ?? '');
      if (other !== undefined && other !== f.layer) throw new LayerCutError(`layer ${f.layer} reads layer ${other}'s FFN other than through the residual stream`);
    }
    const plan = planned.layers[l]!;
    const tail = extract(index, graph, [typed(stateOut, f.hiddenSize)], [typed(f.downInput, f.intermediateSize), typed(residual, f.hiddenSize)]);
    const planNames = new Set([plan.weight.name, plan.bias!.name]);
    const strayInputs = tail.graphInputs.filter((v) => !planNames.has(v.name!));
    if (strayInputs.length) throw new LayerCutError(`layer ${f.layer}: the residual sum after its FFN also reads ${strayInputs.map((v) => v.name).join(', ')}`);
    return {
      layer: f.layer,
      head: { ...planned.model, graph: head.graph },
      tail: { ...planned.model, graph: tail.graph },
      ...(stateIn && { stateIn }),
      downInput: f.downInput,
      residual,
      stateOut,
      plan,
      graphInputs: head.graphInputs,
      activationType: f.activationType,
    };
  });
}

/** The input of the residual-sum node that is not the FFN branch (down output, through bias Adds). */
function residualInput(index: GraphIndex, site: NodeProto, f: FfnLayer): string {
  const branch = new Set<string>();
  const stack = [f.down.output];
  while (stack.length) {
    const t = stack.pop()!;
    branch.add(t);
    for (const use of index.consumers(t)) {
      const n = index.nodes[use.node]!;
      if (n.op_type === 'Add' && !n.domain && n !== site) stack.push(n.output![0]!);
    }
  }
  const [a, b] = site.input ?? [];
  const other = branch.has(a!) ? b : branch.has(b!) ? a : undefined;
  if (!other) throw new LayerCutError(`layer ${f.layer}: the residual sum "${site.name}" does not read the FFN output directly`);
  return other;
}

interface Extracted {
  graph: NonNullable<OnnxModel['graph']>;
  graphInputs: ValueInfoProto[];
}

/** The nodes `outputs` depend on, stopping at `boundary` tensors (new graph inputs), graph inputs and initializers. */
function extract(index: GraphIndex, graph: NonNullable<OnnxModel['graph']>, outputs: ValueInfoProto[], boundary: ValueInfoProto[]): Extracted {
  const stops = new Set(boundary.map((v) => v.name!));
  const graphInputNames = new Set((graph.input ?? []).map((v) => v.name!));
  const included = new Map<number, NodeProto>();
  const readInputs = new Set<string>();
  const stack = outputs.map((o) => o.name!);
  const seen = new Set<string>();
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t) || stops.has(t)) continue;
    seen.add(t);
    if (graphInputNames.has(t)) {
      readInputs.add(t);
      continue;
    }
    if (index.initializers.has(t)) continue;
    const p = index.producer(t);
    if (!p) throw new LayerCutError(`tensor "${t}" has no producer, is not an input and is not an initializer`);
    if (included.has(p.index)) continue;
    const replaced = normFromBoundary(p.node, stops);
    const n = replaced ?? p.node;
    included.set(p.index, n);
    for (const input of [...(n.input ?? []), ...subgraphReads(n)]) if (input) stack.push(input);
  }
  const nodeIndices = [...included.keys()].sort((a, b) => a - b);
  const nodes = nodeIndices.map((i) => included.get(i)!);
  const used = new Set(nodes.flatMap((n) => [...(n.input ?? []), ...subgraphReads(n)]));
  const produced = new Set(nodes.flatMap((n) => n.output ?? []));
  const graphInputs = (graph.input ?? []).filter((v) => readInputs.has(v.name!));
  return {
    graph: {
      ...graph,
      node: nodes,
      input: [...graphInputs, ...boundary],
      output: outputs,
      initializer: (graph.initializer ?? []).filter((t) => used.has(t.name!)),
      value_info: (graph.value_info ?? []).filter((v) => produced.has(v.name!) && !outputs.some((o) => o.name === v.name)),
    },
    graphInputs,
  };
}

/**
 * A Skip*LayerNormalization whose residual-sum output (3) is a boundary tensor: its normalised output is
 * the plain normalisation of that sum, so the cut reads the boundary instead of the node's two inputs.
 */
function normFromBoundary(n: NodeProto, stops: ReadonlySet<string>): NodeProto | undefined {
  const kind = SKIP_NORMS[n.op_type ?? ''];
  const sum = n.output?.[3];
  if (!kind || n.domain !== 'com.microsoft' || !sum || !stops.has(sum)) return undefined;
  const [, , gamma, beta] = n.input ?? [];
  const epsilon = n.attribute?.find((a) => a.name === 'epsilon');
  const inputs = [sum, gamma!, ...(kind.beta && beta ? [beta] : [])];
  const normalised = makeNode(kind.op, inputs, [n.output![0]!], `${n.name ?? 'skip_norm'}/from_state`, { axis: -1, stash_type: 1 });
  return { ...normalised, attribute: [...(normalised.attribute ?? []), ...(epsilon ? [epsilon] : [])] };
}

/** Outer-scope names a node's subgraphs (If/Loop bodies) read. */
function subgraphReads(n: NodeProto): string[] {
  const out: string[] = [];
  const visit = (a: AttributeProto) => {
    for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) {
      for (const inner of g.node ?? []) {
        out.push(...(inner.input ?? []).filter(Boolean));
        for (const sub of inner.attribute ?? []) visit(sub);
      }
    }
  };
  for (const a of n.attribute ?? []) visit(a);
  return out;
}
