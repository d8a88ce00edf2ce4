// Adds one batch of weighted per-channel statistics into running sums.
//
// act (declared by the element prelude, read as f32 through load_act): activations [tokens, channels],
//   row-major, f32 or f16.
// weights: one weight per token (sample weight x token mask). A token with weight 0 counts as all-zero
//   activations, so padding and masked positions never matter, whatever they hold (even NaN or inf).
// acc: running sums as (hi, lo) f32 pairs, hi + lo being the value:
//   [0, C) = sum w*a^2, [C, 2C) = sum w*a, [2C, 3C) = sum w*|a|, [3C] = sum w.
//
// Precision: a dispatch sums its own tokens in f32 (the per-dispatch partial), then folds that partial
// into the (hi, lo) pair with an error-free TwoSum. The running total so keeps about 48 bits over millions
// of tokens, where a single f32 growing forever would round away ever larger parts of each increment.
//
// Shape: each invocation owns 4 adjacent channels and walks every token of the batch, with no workgroup
// memory, barriers or branches in the loop. On SwiftShader (WebGPU without a GPU) that is ~15x faster
// than splitting tokens across lanes and reducing through workgroup memory; on a GPU the kernel is
// bound by reading the activations either way.

struct Params {
  tokens: u32,
  channels: u32,
}

@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read_write> acc: array<vec2<f32>>;
@group(0) @binding(3) var<uniform> params: Params;

const CHANNELS_PER_INVOCATION = 4u;

// (hi, lo) + x, renormalised so that |lo| <= ulp(hi) / 2 (Knuth's TwoSum, then Fast2Sum).
fn add_double(a: vec2<f32>, x: f32) -> vec2<f32> {
  let s = a.x + x;
  let x_part = s - a.x;
  let error = (a.x - (s - x_part)) + (x - x_part);
  let lo = a.y + error;
  let hi = s + lo;
  return vec2<f32>(hi, lo - (hi - s));
}

// Channels past the end of a row read neighbouring (or clamped out-of-bounds) values, which are discarded.
fn load4(i: u32) -> vec4<f32> {
  return vec4<f32>(load_act(i), load_act(i + 1u), load_act(i + 2u), load_act(i + 3u));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let channels = params.channels;
  let first = id.x * CHANNELS_PER_INVOCATION;
  if (first >= channels) {
    return;
  }
  var sum_sq = vec4<f32>(0.0);
  var sum = vec4<f32>(0.0);
  var sum_abs = vec4<f32>(0.0);
  var sum_w = 0.0;
  for (var t = 0u; t < params.tokens; t++) {
    let w = weights[t];
    let a = select(vec4<f32>(0.0), load4(t * channels + first), w != 0.0);
    let wa = w * a;
    sum_sq += wa * a;
    sum += wa;
    sum_abs += w * abs(a);
    sum_w += w;
  }
  for (var k = 0u; k < CHANNELS_PER_INVOCATION; k++) {
    let c = first + k;
    if (c < channels) {
      acc[c] = add_double(acc[c], sum_sq[k]);
      acc[channels + c] = add_double(acc[channels + c], sum[k]);
      acc[2u * channels + c] = add_double(acc[2u * channels + c], sum_abs[k]);
    }
  }
  // Every channel sees the same weights: the first invocation keeps their sum.
  if (first == 0u) {
    acc[3u * channels] = add_double(acc[3u * channels], sum_w);
  }
}
