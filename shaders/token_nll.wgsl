// Per-token negative log-likelihood -log softmax(logits[row])[target[row]], so perplexity never downloads
// the logits [rows, vocab] (rows = batch x positions): only one float per token comes back.
//
// logits (declared by the element prelude, read as f32 through load_logits): [rows, vocab], f32 or f16.
// targets: the id to score at each row; a negative target marks a row that does not count (nll 0).
//   The host checks that targets are below vocab.
//
// One workgroup per row. Each thread keeps an online (running max, sum of exp(x - max)) pair over its
// share of the vocabulary, and the pairs are merged in a tree, so the sum never overflows and exp never
// sees a positive argument. The running max starts at the lowest finite f32 rather than -inf, so hugely
// negative logits (masked vocabulary) never produce inf - inf.

struct Params {
  rows: u32,
  vocab: u32,
}

@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read_write> nll: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const THREADS = 256u;
const LOWEST = -0x1.fffffep+127f; // the lowest finite f32

var<workgroup> maxima: array<f32, 256>;
var<workgroup> sums: array<f32, 256>;

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
  let base = row * params.vocab;

  var m = LOWEST;
  var s = 0.0;
  for (var k = lid; k < params.vocab; k += THREADS) {
    let x = load_logits(base + k);
    if (x > m) {
      s = s * exp(m - x) + 1.0;
      m = x;
    } else {
      s += exp(x - m);
    }
  }
  maxima[lid] = m;
  sums[lid] = s;
  workgroupBarrier();

  for (var stride = THREADS / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let m1 = maxima[lid];
      let m2 = maxima[lid + stride];
      let merged = max(m1, m2);
      sums[lid] = sums[lid] * exp(m1 - merged) + sums[lid + stride] * exp(m2 - merged);
      maxima[lid] = merged;
    }
    workgroupBarrier();
  }

  if (lid == 0u) {
    let target_id = targets[row];
    if (target_id < 0) {
      nll[row] = 0.0;
    } else {
      // log-sum-exp - x_target, written as (max - x_target) + log(sum) so neither term loses the other.
      nll[row] = (maxima[0] - load_logits(base + u32(target_id))) + log(sums[0]);
    }
  }
}
