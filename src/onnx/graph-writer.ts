/**
 * Accumulates nodes and initializers while a graph is written op by op. Output names follow the
 * PyTorch/Optimum exporter convention (`<node name>_output_<k>`), which is what real exports look like
 * and what the FFN discovery uses as hints.
 */
import { node, tensorFromFloat32, tensorFromInt64, type AttrValue } from './builders';
import type { NodeProto, TensorProto } from './proto';

export class GraphWriter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly constants = new Map<string, string>();

  /** Adds a node named `name` and returns its output names. */
  opN(opType: string, name: string, inputs: readonly string[], outputs: number, attrs: Record<string, AttrValue> = {}, domain?: string): string[] {
    const outs = Array.from({ length: outputs }, (_, k) => `${name}_output_${k}`);
    this.nodes.push(node(opType, inputs, outs, name, attrs, domain));
    return outs;
  }

  op(opType: string, name: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, domain?: string): string {
    return this.opN(opType, name, inputs, 1, attrs, domain)[0]!;
  }

  initializer(tensor: TensorProto): string {
    this.initializers.push(tensor);
    return tensor.name!;
  }

  /** A shared int64 constant initializer, deduplicated by value. */
  int64(values: readonly number[], scalar = false): string {
    const key = `i64:${scalar}:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `/model/constants/int64_${this.constants.size}`;
      this.initializer(tensorFromInt64(name, scalar ? [] : [values.length], values));
      this.constants.set(key, name);
    }
    return name;
  }

  /** A shared float32 scalar constant initializer. */
  float(value: number): string {
    const key = `f32:${Math.fround(value)}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `/model/constants/float_${this.constants.size}`;
      this.initializer(tensorFromFloat32(name, [], Float32Array.of(value)));
      this.constants.set(key, name);
    }
    return name;
  }
}
