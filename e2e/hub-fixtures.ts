/**
 * Model repositories for the local hub (e2e/hub-server.ts), laid out as on huggingface.co, built from
 * the built-in model by the project's fixture builder (src/fixtures) plus a few broken ones:
 *
 * | repo                          | what                                                                    |
 * | test-org/stories              | onnx/model.onnx (fp32, inline) and onnx/model_fp16.onnx: two variants   |
 * | test-org/stories-chunked      | fp32 with external data in model.onnx_data + model.onnx_data_1          |
 * | test-org/stories-genai-int4   | onnxruntime-genai layout: model.onnx + model.onnx.data, int4 MatMulNBits |
 * | test-org/stories-genai-builder| the model builder's exact folder: genai_config.json and no config.json   |
 * | test-org/no-tokenizer         | the fp32 model without tokenizer.json                                   |
 * | test-org/image-model          | a Conv + Relu image classifier with its config                          |
 * | test-org/mislabelled          | the LM's config and tokenizer, but the image classifier as its graph    |
 * | test-org/truncated            | the chunked model with model.onnx_data_1 cut in half                    |
 * | test-org/huge                 | a graph header whose external tensors claim 5 GiB (no data files)       |
 */
import { cp, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildFixture, type FixtureName } from '../src/fixtures/fixtures';
import { DataType, makeModel, node, tensorFromFloat32, valueInfo } from '../src/onnx/builders';
import { parseModel } from '../src/onnx/model-io';
import { encodeMessage, onnxTypes, DataLocation } from '../src/onnx/proto';

const ORG = 'test-org';

const FROM_FIXTURES: Record<string, FixtureName> = {
  stories: 'optimum-fp32',
  'stories-chunked': 'optimum-fp32-chunked',
  'stories-genai-int4': 'genai-int4',
  'stories-genai-builder': 'genai-builder',
};

/** Builds every repository under `<root>/test-org/`, replacing what was there. */
export async function buildHubFixtures(root: string): Promise<void> {
  const org = join(root, ORG);
  await rm(org, { recursive: true, force: true });
  const work = join(root, '.build');
  await rm(work, { recursive: true, force: true });

  for (const [repo, fixture] of Object.entries(FROM_FIXTURES)) {
    await buildFixture(fixture, join(org, repo));
    // The reference GGUF is the builder's test oracle, not part of a model repository.
    await rm(join(org, repo, 'reference.gguf'));
  }
  const fp16 = await buildFixture('optimum-fp16', join(work, 'fp16'));
  await cp(join(fp16.dir, 'onnx/model.onnx'), join(org, 'stories/onnx/model_fp16.onnx'));

  await cp(join(org, 'stories'), join(org, 'no-tokenizer'), { recursive: true });
  await rm(join(org, 'no-tokenizer/tokenizer.json'));
  await rm(join(org, 'no-tokenizer/onnx/model_fp16.onnx'));

  await cp(join(org, 'stories-chunked'), join(org, 'truncated'), { recursive: true });
  const lastChunk = join(org, 'truncated/onnx/model.onnx_data_1');
  await truncate(lastChunk, Math.floor((await readFile(lastChunk)).byteLength / 2));

  await writeImageModel(join(org, 'image-model'));
  await mkdir(join(org, 'mislabelled/onnx'), { recursive: true });
  await cp(join(org, 'image-model/onnx/model.onnx'), join(org, 'mislabelled/onnx/model.onnx'));
  for (const file of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) {
    await cp(join(org, 'stories', file), join(org, 'mislabelled', file));
  }
  await writeHugeHeader(join(org, 'stories-chunked'), join(org, 'huge'));
  await rm(work, { recursive: true, force: true });
}

const json = (value: unknown) => JSON.stringify(value, null, 2);

/** What an image-classification repository holds: a conv net, its config and preprocessing settings. */
async function writeImageModel(dir: string) {
  const weight = new Float32Array(4 * 3 * 3 * 3).map((_, i) => ((i % 7) - 3) / 10);
  const model = makeModel({
    graph: {
      name: 'tiny_convnet',
      node: [node('Conv', ['pixel_values', 'conv.weight'], ['conv'], '/conv/Conv', { pads: [1, 1, 1, 1] }), node('Relu', ['conv'], ['logits_image'], '/act/Relu')],
      initializer: [tensorFromFloat32('conv.weight', [4, 3, 3, 3], weight)],
      input: [valueInfo('pixel_values', DataType.FLOAT, ['batch_size', 3, 8, 8])],
      output: [valueInfo('logits_image', DataType.FLOAT, ['batch_size', 4, 8, 8])],
    },
    opsetImports: [{ domain: '', version: 17 }],
  });
  await mkdir(join(dir, 'onnx'), { recursive: true });
  await writeFile(join(dir, 'onnx/model.onnx'), encodeMessage(onnxTypes.ModelProto, model));
  await writeFile(join(dir, 'config.json'), json({ model_type: 'resnet', architectures: ['ResNetForImageClassification'], num_channels: 3, num_labels: 4 }));
  await writeFile(join(dir, 'preprocessor_config.json'), json({ image_processor_type: 'ConvNextImageProcessor', size: { shortest_edge: 8 } }));
}

/** 5 GiB of fp32: past the 2 GiB ArrayBuffer and the 4 GiB wasm heap, so no browser can load it. */
export const HUGE_TENSOR_ELEMENTS = 5 * 2 ** 28;

/**
 * The chunked model's header with its first external tensor claiming HUGE_TENSOR_ELEMENTS floats; the
 * data files are left out, as a download would never get that far.
 */
async function writeHugeHeader(from: string, dir: string) {
  const header = parseModel(new Uint8Array(await readFile(join(from, 'onnx/model.onnx'))));
  const tensor = header.graph!.initializer!.find((t) => t.data_location === DataLocation.EXTERNAL)!;
  tensor.dims = [HUGE_TENSOR_ELEMENTS];
  tensor.external_data = tensor.external_data!.map((e) => (e.key === 'length' ? { key: 'length', value: String(HUGE_TENSOR_ELEMENTS * 4) } : e));
  await mkdir(join(dir, 'onnx'), { recursive: true });
  await writeFile(join(dir, 'onnx/model.onnx'), encodeMessage(onnxTypes.ModelProto, header));
  for (const file of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) await cp(join(from, file), join(dir, file));
}
