// esbuild options shared by the benchmarks and tests that run the server's TypeScript sources in
// another process (a child server, a worker): every `@inflow/*` package resolved to its
// `src/index.ts`, npm dependencies left external (they resolve from the repository's
// node_modules), and the version constants tsup would define. Callers add their entry points or
// stdin and an outfile or outdir.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_PACKAGES = [
  'core',
  'server',
  'connector-s3',
  'connector-postgresql',
  'connector-streaming',
  'connector-customerio',
];

/** The common esbuild options: ESM for Node 20, `@inflow/*` from sources, versions defined. */
export function sourceBundleOptions() {
  const version = (pkg) =>
    JSON.parse(readFileSync(join(root, 'packages', pkg, 'package.json'), 'utf8')).version;
  return {
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    alias: Object.fromEntries(
      SOURCE_PACKAGES.map((p) => [`@inflow/${p}`, join(root, 'packages', p, 'src', 'index.ts')]),
    ),
    define: {
      __INFLOW_SERVER_VERSION__: JSON.stringify(version('server')),
      __INFLOW_CORE_VERSION__: JSON.stringify(version('core')),
    },
    logLevel: 'error',
  };
}
