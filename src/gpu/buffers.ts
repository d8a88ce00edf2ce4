/**
 * GPU buffers we create, tracked so that a cancelled or failed run can destroy every one of them
 * (`live` lets tests check that nothing leaked), and reading buffers back.
 */
export class GpuBuffers {
  private readonly buffers = new Set<GPUBuffer>();

  constructor(readonly device: GPUDevice) {}

  /** Buffers created here and not yet destroyed. */
  get live(): number {
    return this.buffers.size;
  }

  create(label: string, size: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const buffer = this.device.createBuffer({ label, size: Math.max(4, Math.ceil(size / 4) * 4), usage });
    this.buffers.add(buffer);
    return buffer;
  }

  /** A buffer holding `data` (its byte length rounded up to a multiple of 4). */
  upload(label: string, data: ArrayBufferView, usage: GPUBufferUsageFlags): GPUBuffer {
    const buffer = this.create(label, data.byteLength, usage | GPUBufferUsage.COPY_DST);
    writeBytes(this.device, buffer, 0, data);
    return buffer;
  }

  destroy(buffer: GPUBuffer | undefined): void {
    if (!buffer || !this.buffers.delete(buffer)) return;
    buffer.destroy();
  }

  destroyAll(): void {
    for (const buffer of this.buffers) buffer.destroy();
    this.buffers.clear();
  }
}

/** queue.writeBuffer wants a multiple of 4 bytes: pads the tail with zeros when needed. */
export function writeBytes(device: GPUDevice, buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
  // WebGPU's types refuse views of a SharedArrayBuffer, which writeBuffer copies all the same.
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength) as Uint8Array<ArrayBuffer>;
  if (bytes.byteLength % 4 === 0) {
    device.queue.writeBuffer(buffer, offset, bytes);
    return;
  }
  const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  padded.set(bytes);
  device.queue.writeBuffer(buffer, offset, padded);
}

/** Copies [offset, offset + size) of `buffer` (which needs COPY_SRC) back to the CPU. */
export async function readBuffer(device: GPUDevice, buffer: GPUBuffer, size: number, offset = 0): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ label: 'readback', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return staging.getMappedRange().slice(0);
  } finally {
    staging.destroy();
  }
}
