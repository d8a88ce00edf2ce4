// Adds one batch's weighted Gram matrix sum_t w_t * a_t * a_t^T into a running C x C sum (f32).
//
// act (declared by the element prelude, read as f32 through load_act): activations [tokens, channels],
//   row-major, f32 or f16.
// weights: one weight per token; a token with weight 0 is skipped entirely (padding may hold anything).
// gram: C x C, row-major. The matrix is symmetric, so only tiles on or above the diagonal are computed
//   and written; the host mirrors the upper triangle when it reads the result.
//
// Each workgroup owns one 16 x 16 output tile and walks the tokens 16 at a time through workgroup memory;
// the tile's sum for this dispatch (the per-dispatch partial) is added to the running value once.

struct Params {
  tokens: u32,
  channels: u32,
}

@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read_write> gram: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const TILE = 16u;

// [token in chunk][channel in tile]: the row tile's values already carry the token weight.
var<workgroup> row_tile: array<array<f32, 16>, 16>;
var<workgroup> column_tile: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {
  // Below the diagonal: the mirror of a tile above it (workgroup-uniform, so the barriers stay valid).
  if (group.y > group.x) {
    return;
  }
  let channels = params.channels;
  let row_channel = group.y * TILE + local.x;
  let column_channel = group.x * TILE + local.x;
  var sum = 0.0;
  for (var t0 = 0u; t0 < params.tokens; t0 += TILE) {
    // Thread (x, y) stages token t0 + y, channel x of both tiles.
    let t = t0 + local.y;
    var weighted = 0.0;
    var plain = 0.0;
    if (t < params.tokens) {
      let w = weights[t];
      if (w != 0.0) {
        if (row_channel < channels) {
          weighted = w * load_act(t * channels + row_channel);
        }
        if (column_channel < channels) {
          plain = load_act(t * channels + column_channel);
        }
      }
    }
    row_tile[local.y][local.x] = weighted;
    column_tile[local.y][local.x] = plain;
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) {
      sum += row_tile[k][local.y] * column_tile[k][local.x];
    }
    workgroupBarrier();
  }
  let i = group.y * TILE + local.y;
  let j = group.x * TILE + local.x;
  if (i < channels && j < channels) {
    gram[i * channels + j] += sum;
  }
}
