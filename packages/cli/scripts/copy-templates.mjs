#!/usr/bin/env node
// Copies the repository's templates/ into this package (packages/cli/templates), so that an
// installed @inflow/cli carries them (`files` lists "templates"). Run before `npm pack` /
// `npm publish` (the `prepack` script); in a checkout the scaffolder reads the root copy directly.
// `--clean` (the `postpack` script) removes the copy again, so that a checkout never scaffolds from
// a stale copy of the template after a pack.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(pkg, '..', '..', 'templates');
const to = join(pkg, 'templates');
if (process.argv.includes('--clean')) {
  rmSync(to, { recursive: true, force: true });
  process.exit(0);
}
if (!existsSync(join(from, 'connector', 'package.json'))) {
  console.error(`copy-templates: ${from}/connector is missing: run this from the Inflow repository`);
  process.exit(1);
}
rmSync(to, { recursive: true, force: true });
cpSync(from, to, {
  recursive: true,
  filter: (src) => !/[\\/](node_modules|dist)([\\/]|$)/.test(src),
});
console.error(`copy-templates: ${from} -> ${to}`);
