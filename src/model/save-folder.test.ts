import { describe, expect, it } from 'vitest';
import { checkSaveTarget, saveFolder, SaveRefusedError } from './save-folder';

/** An in-memory stand-in for File System Access directory handles (identity by object, as isSameEntry is). */
class Dir {
  readonly kind = 'directory';
  readonly children = new Map<string, Dir | File>();
  constructor(
    readonly name: string,
    readonly parent?: Dir,
  ) {}
  add(name: string): Dir {
    const d = new Dir(name, this);
    this.children.set(name, d);
    return d;
  }
  async isSameEntry(other: unknown) {
    return other === this;
  }
  async resolve(descendant: Dir): Promise<string[] | null> {
    const path: string[] = [];
    for (let d: Dir | undefined = descendant; d; d = d.parent) {
      if (d === this) return path;
      path.unshift(d.name);
    }
    return null;
  }
  async getDirectoryHandle(name: string, options: { create?: boolean } = {}) {
    const found = this.children.get(name);
    if (found instanceof Dir) return found;
    if (found) throw new DOMException('a file', 'TypeMismatchError');
    if (!options.create) throw new DOMException('missing', 'NotFoundError');
    return this.add(name);
  }
  async getFileHandle(name: string, options: { create?: boolean } = {}) {
    if (!this.children.has(name) && !options.create) throw new DOMException('missing', 'NotFoundError');
    return {
      createWritable: async () => {
        const parts: Uint8Array[] = [];
        return { write: async (d: Uint8Array) => void parts.push(d), close: async () => void this.children.set(name, new File(parts as BlobPart[], name)) };
      },
    };
  }
  async removeEntry(name: string) {
    this.children.delete(name);
  }
  async *keys() {
    yield* this.children.keys();
  }
}

const handle = (d: Dir) => d as unknown as FileSystemDirectoryHandle;
const FILES = [
  { path: 'onnx/model.onnx', data: new Uint8Array([1, 2]) },
  { path: 'config.json', data: new TextEncoder().encode('{}') },
];

function disk() {
  const home = new Dir('home');
  const model = home.add('stories260K');
  model.children.set('config.json', new File(['{}'], 'config.json'));
  model.add('onnx').children.set('model.onnx', new File([''], 'model.onnx'));
  const notes = home.add('pirate-25');
  notes.children.set('thesis.txt', new File(['years of work'], 'thesis.txt'));
  return { home, model, notes };
}

describe('checkSaveTarget', () => {
  it('refuses the model’s own folder, a folder inside it, and a name that holds it', async () => {
    const { home, model } = disk();
    const inside = model.add('exports');
    await expect(checkSaveTarget(handle(model), 'pirate', handle(model))).rejects.toThrow('is the model\'s own folder (or inside it)');
    await expect(checkSaveTarget(handle(inside), 'pirate', handle(model))).rejects.toThrow(SaveRefusedError);
    await expect(checkSaveTarget(handle(home), 'stories260K', handle(model))).rejects.toThrow('holds the loaded model "stories260K"');
    expect(await checkSaveTarget(handle(home), 'pirate', handle(model))).toEqual({ replaces: false });
  });

  it('refuses to replace a folder of other files, or a file, and marks our folders for replacing', async () => {
    const { home, model } = disk();
    await expect(checkSaveTarget(handle(home), 'pirate-25')).rejects.toThrow('Not replacing "pirate-25" in the chosen folder: it is not empty and does not look like a model folder');
    home.children.set('notes.md', new File(['x'], 'notes.md'));
    await expect(checkSaveTarget(handle(home), 'notes.md')).rejects.toThrow('is a file, not a folder');
    const earlier = home.add('pirate-50');
    earlier.add('onnx').children.set('model.onnx', new File([''], 'model.onnx'));
    expect(await checkSaveTarget(handle(home), 'pirate-50', handle(model))).toEqual({ replaces: true });
    home.add('empty');
    expect(await checkSaveTarget(handle(home), 'empty')).toEqual({ replaces: true });
  });
});

describe('saveFolder', () => {
  it('asks before replacing, keeps the folder when the user says no, and leaves no old file behind when yes', async () => {
    const { home } = disk();
    const earlier = home.add('pirate-50');
    earlier.children.set('pruning.json', new File(['{}'], 'pruning.json'));
    earlier.add('onnx').children.set('model.onnx_data', new File(['old'], 'model.onnx_data'));
    const asked: string[] = [];
    expect(await saveFolder(handle(home), 'pirate-50', FILES, { confirmReplace: (n) => (asked.push(n), false) })).toBe('cancelled');
    expect([...earlier.children.keys()]).toEqual(['pruning.json', 'onnx']);
    expect(await saveFolder(handle(home), 'pirate-50', FILES, { confirmReplace: (n) => (asked.push(n), true) })).toBe('saved');
    expect(asked).toEqual(['pirate-50', 'pirate-50']);
    const saved = home.children.get('pirate-50') as Dir;
    expect([...saved.children.keys()]).toEqual(['onnx', 'config.json']);
    expect([...(saved.children.get('onnx') as Dir).children.keys()]).toEqual(['model.onnx']);
    expect(new Uint8Array(await ((saved.children.get('onnx') as Dir).children.get('model.onnx') as File).arrayBuffer())).toEqual(new Uint8Array([1, 2]));
  });

  it('writes a new folder without asking', async () => {
    const { home, model } = disk();
    expect(await saveFolder(handle(home), 'pirate', FILES, { model: handle(model), confirmReplace: () => expect.fail('nothing to replace') })).toBe('saved');
    expect(home.children.get('pirate')).toBeInstanceOf(Dir);
  });
});
