import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const corePkg = JSON.parse(readFileSync(here('./packages/core/package.json'), 'utf8')) as { version: string };

// Tests run against the TypeScript sources, so `npm test` needs no build first.
const alias = Object.fromEntries(
  [
    'core',
    'testkit',
    'connector-s3',
    'connector-postgresql',
    'connector-streaming',
    'connector-customerio',
  ].map((name) => [`@inflow/${name}`, here(`./packages/${name}/src/index.ts`)]),
);

export default defineConfig({
  resolve: { alias },
  define: { __INFLOW_CORE_VERSION__: JSON.stringify(corePkg.version) },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/*.conformance.test.ts', '**/node_modules/**'],
        },
      },
    ],
  },
});
