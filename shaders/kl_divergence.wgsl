// Per-token KL(dense ‖ pruned) of next-token distributions, KL = Σ_k p_k (log p_k − log q_k) with
// p = softmax(dense[row]), q = softmax(pruned[row]), so plan search never downloads logits [rows, vocab]:
// only one float per token comes back.
//
// dense, pruned (declared by the element prelude, read as f32 through load_dense / load_pruned): [rows, vocab],
//   f32 or f16, the same type.
// weights: a row whose weight is <= 0 does not count (kl 0, and its logits are not read). The host averages
//   with the weights; the kernel only masks.
//
// One workgroup per row, one pass over the vocabulary. Each thread keeps online triples for the dense row
// (running max m, s = Σ exp(x − m), t = Σ exp(x − m)·(x − y)) and a (max, sum) pair for the pruned row; the
// threads' triples and pairs are merged in a tree. Then
//   KL = t/s − (m + log s) + (m_q + log s_q) = t/s + (m_q − m) + (log s_q − log s),
// since log p_k − log q_k = (x_k − y_k) − lse(x) + lse(y). exp never sees a positive argument, and the running
// maxima start at the lowest finite f32 rather than −inf, so masked vocabulary never produces inf − inf.

struct Params {
  rows: u32,
  vocab: u32,
}

@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> kl: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const THREADS = 256u;
const LOWEST = -0x1.fffffep+127f; // the lowest finite f32

var<workgroup> row_weight: f32;
var<workgroup> dense_max: array<f32, 256>;
var<workgroup> dense_sum: array<f32, 256>;
var<workgroup> dense_dot: array<f32, 256>;
var<workgroup> pruned_max: array<f32, 256>;
var<workgroup> pruned_sum: array<f32, 256>;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) group: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  // Rows beyond the 65535 workgroups one dimension allows continue along y.
  let row = group.y * groups.x + group.x;
  if (row >= params.rows) {
    return;
  }
  // Read through workgroupUniformLoad so the uniformity analysis knows every thread returns together.
  if (lid == 0u) {
    row_weight = weights[row];
  }
  if (!(workgroupUniformLoad(&row_weight) > 0.0)) {
    if (lid == 0u) {
      kl[row] = 0.0;
    }
    return;
  }
  let base = row * params.vocab;

  var m = LOWEST;
  var s = 0.0;
  var t = 0.0;
  var mq = LOWEST;
  var sq = 0.0;
  for (var k = lid; k < params.vocab; k += THREADS) {
    let x = load_dense(base + k);
    let y = load_pruned(base + k);
    if (x > m) {
      let scale = exp(m - x);
      s = s * scale + 1.0;
      t = t * scale + (x - y);
      m = x;
    } else {
      let e = exp(x - m);
      s += e;
      // A zero probability adds nothing, even where x − y is huge.
      if (e > 0.0) {
        t += e * (x - y);
      }
    }
    if (y > mq) {
      sq = sq * exp(mq - y) + 1.0;
      mq = y;
    } else {
      sq += exp(y - mq);
    }
  }
  dense_max[lid] = m;
  dense_sum[lid] = s;
  dense_dot[lid] = t;
  pruned_max[lid] = mq;
  pruned_sum[lid] = sq;
  workgroupBarrier();

  for (var stride = THREADS / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let m1 = dense_max[lid];
      let m2 = dense_max[lid + stride];
      let merged = max(m1, m2);
      let a = exp(m1 - merged);
      let b = exp(m2 - merged);
      dense_sum[lid] = dense_sum[lid] * a + dense_sum[lid + stride] * b;
      dense_dot[lid] = dense_dot[lid] * a + dense_dot[lid + stride] * b;
      dense_max[lid] = merged;
      let q1 = pruned_max[lid];
      let q2 = pruned_max[lid + stride];
      let mergedq = max(q1, q2);
      pruned_sum[lid] = pruned_sum[lid] * exp(q1 - mergedq) + pruned_sum[lid + stride] * exp(q2 - mergedq);
      pruned_max[lid] = mergedq;
    }
    workgroupBarrier();
  }

  if (lid == 0u) {
    kl[row] = dense_dot[0] / dense_sum[0] + (pruned_max[0] - dense_max[0]) + (log(pruned_sum[0]) - log(dense_sum[0]));
  }
}
