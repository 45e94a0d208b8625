import { defineConfig, type Options } from 'tsup';

/** The build every published package shares: ESM, declarations, source maps, Node 20. */
export function libraryConfig(extra: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    ...extra,
  });
}
