/** The WGSL kernels read from `shaders/` on disk, for Node (see shaders.ts for why this is a separate file). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shaderSourceFromFiles } from '../gpu/shaders';

const dir = fileURLToPath(new URL('../../shaders/', import.meta.url));

export const fileShaders = shaderSourceFromFiles(
  Object.fromEntries(
    readdirSync(dir)
      .filter((file) => file.endsWith('.wgsl'))
      .map((file) => [file, readFileSync(join(dir, file), 'utf8')]),
  ),
);
