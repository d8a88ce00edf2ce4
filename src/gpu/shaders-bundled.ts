/** The WGSL kernels inlined into the browser bundle by Vite (see shaders.ts for why this is a separate file). */
import { shaderSourceFromFiles } from './shaders';

const files = import.meta.glob<string>('../../shaders/*.wgsl', { query: '?raw', import: 'default', eager: true });

export const bundledShaders = shaderSourceFromFiles(files);
