/**
 * Read-only lookups over one graph: which node produces a tensor, which nodes read it, which
 * names are initializers, and where else (subgraphs, graph outputs) a name is used. Platform neutral.
 */
import type { AttributeProto, GraphProto, NodeProto, TensorProto, ValueInfoProto } from './proto';

export interface TensorUse {
  /** Index into graph.node of the reading node. */
  node: number;
  /** Which input of that node. */
  input: number;
}

export class GraphIndex {
  readonly nodes: readonly NodeProto[];
  readonly initializers = new Map<string, TensorProto>();
  readonly valueInfos = new Map<string, ValueInfoProto>();
  private readonly producers = new Map<string, { node: number; output: number }>();
  private readonly uses = new Map<string, TensorUse[]>();
  /** Names read somewhere other than a main-graph node input: graph outputs and subgraph bodies. */
  readonly otherUses = new Set<string>();

  constructor(readonly graph: GraphProto) {
    this.nodes = graph.node ?? [];
    for (const t of graph.initializer ?? []) if (t.name) this.initializers.set(t.name, t);
    for (const v of [...(graph.input ?? []), ...(graph.value_info ?? []), ...(graph.output ?? [])]) if (v.name) this.valueInfos.set(v.name, v);
    this.nodes.forEach((n, i) => {
      (n.output ?? []).forEach((name, output) => {
        if (name) this.producers.set(name, { node: i, output });
      });
      (n.input ?? []).forEach((name, input) => {
        if (!name) return;
        let list = this.uses.get(name);
        if (!list) this.uses.set(name, (list = []));
        list.push({ node: i, input });
      });
      for (const a of n.attribute ?? []) collectSubgraphInputs(a, this.otherUses);
    });
    for (const o of graph.output ?? []) if (o.name) this.otherUses.add(o.name);
  }

  /** The node writing `tensor`, or undefined for graph inputs, initializers and unknown names. */
  producer(tensor: string): { node: NodeProto; index: number; output: number } | undefined {
    const p = this.producers.get(tensor);
    return p && { node: this.nodes[p.node]!, index: p.node, output: p.output };
  }

  /** Main-graph node inputs reading `tensor`. */
  consumers(tensor: string): readonly TensorUse[] {
    return this.uses.get(tensor) ?? [];
  }

  /** Element type and dims of a tensor from its value_info or graph input/output, if annotated. */
  shapeOf(tensor: string): { elemType?: number; dims?: (number | string | undefined)[] } | undefined {
    const t = this.valueInfos.get(tensor)?.type?.tensor_type;
    if (!t) return undefined;
    return { elemType: t.elem_type, dims: t.shape ? (t.shape.dim ?? []).map((d) => d.dim_value ?? d.dim_param) : undefined };
  }
}

/** Every name a subgraph reads (its nodes' inputs), so outer-scope initializers used there are known. */
function collectSubgraphInputs(a: AttributeProto, into: Set<string>): void {
  for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) {
    for (const n of g.node ?? []) {
      for (const name of n.input ?? []) if (name) into.add(name);
      for (const sub of n.attribute ?? []) collectSubgraphInputs(sub, into);
    }
  }
}

/** The value of an integer attribute, or `fallback` when the node does not set it. */
export function intAttribute(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.i === undefined ? fallback : Number(a.i);
}
