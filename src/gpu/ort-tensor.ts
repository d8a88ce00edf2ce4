/** An onnxruntime-web output kept on the GPU ('gpu-buffer'), as the kernels take it. */
import type { OrtTensor } from '../model/ort';
import type { GpuTensor } from './context';
import { elementTypeOf } from './elements';

/**
 * The tensor's buffer, element type and element count. ORT rounds its buffers up, so kernels bind
 * `elements` values, not the buffer's size. The tensor still owns the buffer: dispose it only after the
 * kernels reading it have been submitted (queue order keeps that safe).
 */
export function gpuTensorOf(tensor: OrtTensor): GpuTensor {
  if (tensor.location !== 'gpu-buffer') throw new Error(`The tensor is on the ${tensor.location}, not in a GPU buffer: request its output as 'gpu-buffer'.`);
  return { buffer: tensor.gpuBuffer as GPUBuffer, type: elementTypeOf(tensor.type), elements: tensor.size };
}
