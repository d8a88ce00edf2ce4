import { describe, expect, it } from 'vitest';
import { exportModelCard } from './export-model-card';

const manifest = {
  keep: [[0, 2], [1]],
  persona: 'Captain Bob is an old pirate.\nHe loves his parrot.',
  requested_method: 'persona',
  scoring_method: 'reconstruct',
  allocation: 'uniform',
  sparsity: 0.25,
  intermediate_sizes: [3, 6],
  original_intermediate_sizes: [4, 8],
  parameters: { before: 354_240, after: 313_008 },
  ffn_parameters: { before: 165_120, after: 123_840 },
  selection: { chosen: 'reconstruct damping 0.01', heldOutKl: 0.123456, candidates: [] },
  quantization: { type: 'int4', block_size: 32, zero_points: false, matmuls: 36, bytes: { before: 1_217_064, after: 473_935 }, held_out_nll: { before: 3.1876, after: 3.4745, tokens: 510, sequences: 4, source: 'the texts' } },
};

describe('the exported folder README.md model card', () => {
  it('states the persona, method, per-layer sparsity, parameters and the measured numbers of pruning.json', () => {
    const card = exportModelCard(manifest, { graphFile: 'onnx/model.onnx', genai: false, configJson: true });
    expect(card).toContain('- **Persona:** Captain Bob is an old pirate. He loves his parrot.');
    expect(card).toContain('- **Method:** persona (scoring: reconstruct), uniform allocation');
    expect(card).toContain('- **FFN sparsity:** 25.0% of the FFN channels removed');
    expect(card).toContain('- **Parameters:** 313.0 K (from 354.2 K; 313,008 weight elements)');
    expect(card).toContain('| 0 | 4 | 3 | 25.0% |');
    expect(card).toContain('| 1 | 8 | 6 | 25.0% |');
    expect(card).toContain('Held-out KL(dense ‖ pruned) of the chosen plan (reconstruct damping 0.01): 0.1235 nats per token');
    expect(card).toContain('Held-out NLL (510 tokens of 4 sequences: the texts): 3.1876 nats/token before int4 quantization (perplexity 24.230), 3.4745 after (perplexity 32.282)');
    expect(card).toContain('1.22 MB before quantization');
    expect(card).toContain('int4 `MatMulNBits`, block 32, symmetric (36 MatMuls)');
    // How to run: onnxruntime, transformers.js (this is its layout) with q4, and llama.cpp through the GGUF export.
    expect(card).toContain("ort.InferenceSession.create('onnx/model.onnx')");
    expect(card).toContain("{ dtype: 'q4' }");
    expect(card).toContain('npm run cli -- export --format gguf');
    expect(card).not.toContain('onnxruntime_genai');
  });

  it('a genai folder without config.json says how onnxruntime-genai loads it and what transformers.js would need', () => {
    const card = exportModelCard({ method: 'magnitude', intermediate_sizes: [2], original_intermediate_sizes: [4] }, { graphFile: 'model.onnx', genai: true, configJson: false });
    expect(card).toContain('- **Persona:** none (a generic method)');
    expect(card).toContain("og.Model('.')");
    expect(card).toContain('transformers.js** needs the Hugging Face layout');
    expect(card).toContain('No held-out measurement was recorded');
    expect(card).not.toContain('Held-out KL');
  });
});
