import { join } from 'node:path';
import { FIXTURE_NAMES, buildFixture, type FixtureName } from '../fixtures/fixtures';
import { SYNTHETIC_SHAPES, buildSyntheticModel, type SyntheticName } from '../fixtures/synthetic';
import { compareWithReference } from '../fixtures/verify';
import { CliUsageError, parseCommandArgs } from './args';

const ALL = [...FIXTURE_NAMES, ...Object.keys(SYNTHETIC_SHAPES)];
const usage = `make-fixtures --out <dir> [--only name,...] [--overwrite]   (names: ${ALL.join(', ')}; default: every non-synthetic fixture)`;

/** `make-fixtures`: builds the graph surgeon's model folders into <dir>/<name> and checks each against the reference. */
export const makeFixturesCommand = {
  usage,
  async run(args: string[]) {
    const { values, positionals } = parseCommandArgs(args, { out: { type: 'string' }, only: { type: 'string' }, overwrite: { type: 'boolean' } }, usage);
    if (!values.out || positionals.length) throw new CliUsageError(`--out is required\nusage: ${usage}`);
    const names = values.only ? values.only.split(',').map((s) => s.trim()) : [...FIXTURE_NAMES];
    const unknown = names.filter((n) => !ALL.includes(n));
    if (unknown.length) throw new CliUsageError(`unknown fixture ${unknown.join(', ')}\nusage: ${usage}`);
    const results = [];
    for (const name of names) {
      const dir = join(values.out, name);
      process.stderr.write(`building ${name} -> ${dir}\n`);
      if (name in SYNTHETIC_SHAPES) {
        results.push({ name, ...(await buildSyntheticModel(dir, SYNTHETIC_SHAPES[name as SyntheticName], { overwrite: values.overwrite })) });
        continue;
      }
      const fixture = await buildFixture(name as FixtureName, dir, { overwrite: values.overwrite });
      const difference = await compareWithReference(fixture);
      if (difference.maxAbs > fixture.tolerance) throw new Error(`${name}: logits differ from the reference by ${difference.maxAbs}, over ${fixture.tolerance}`);
      results.push({ ...fixture, difference });
    }
    process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  },
};
