// Cosine similarity of two vectors (e.g. one layer's last-token hidden state under two system prompts),
// scaled and added into result[slot]: one dispatch per layer with scale = 1 / layers leaves the mean over
// a layer range in result[slot] (the persona-sensitivity score is 1 minus that mean).
//
// a, b (declared by the element prelude, read as f32 through load_a / load_b): the two tensors; the vectors
//   are elements [offset_a, offset_a + length) of a and [offset_b, offset_b + length) of b.
// A zero vector has no direction: its similarity counts as 0.
//
// Cosine does not depend on scale, so each vector is divided by its largest magnitude first: squares of
// huge activations (|x| > 1.8e19) would overflow f32, tiny ones would underflow.

struct Params {
  offset_a: u32,
  offset_b: u32,
  length: u32,
  slot: u32,
  scale: f32,
}

@group(0) @binding(2) var<storage, read_write> result: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const THREADS = 256u;

var<workgroup> partial: array<vec3<f32>, 256>;

// Tree reduction of `partial`; every thread must call it.
fn reduce_sum(lid: u32) -> vec3<f32> {
  for (var stride = THREADS / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      partial[lid] += partial[lid + stride];
    }
    workgroupBarrier();
  }
  return partial[0];
}

fn reduce_max(lid: u32) -> vec3<f32> {
  for (var stride = THREADS / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      partial[lid] = max(partial[lid], partial[lid + stride]);
    }
    workgroupBarrier();
  }
  return partial[0];
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var largest = vec3<f32>(0.0);
  for (var k = lid; k < params.length; k += THREADS) {
    largest = max(largest, vec3<f32>(abs(load_a(params.offset_a + k)), abs(load_b(params.offset_b + k)), 0.0));
  }
  partial[lid] = largest;
  workgroupBarrier();
  let scales = reduce_max(lid);
  // Read by every thread before anyone overwrites partial[0] below.
  workgroupBarrier();
  let inv_a = select(0.0, 1.0 / scales.x, scales.x > 0.0);
  let inv_b = select(0.0, 1.0 / scales.y, scales.y > 0.0);

  var sums = vec3<f32>(0.0); // a.b, a.a, b.b on the scaled vectors
  for (var k = lid; k < params.length; k += THREADS) {
    let x = load_a(params.offset_a + k) * inv_a;
    let y = load_b(params.offset_b + k) * inv_b;
    sums += vec3<f32>(x * y, x * x, y * y);
  }
  partial[lid] = sums;
  workgroupBarrier();
  let total = reduce_sum(lid);

  if (lid == 0u) {
    let norms = sqrt(total.y) * sqrt(total.z);
    let cosine = select(0.0, total.x / norms, norms > 0.0);
    result[params.slot] += cosine * params.scale;
  }
}
