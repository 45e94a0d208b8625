import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const version = (pkg: string) =>
  (JSON.parse(readFileSync(here(`./packages/${pkg}/package.json`), 'utf8')) as { version: string }).version;
const corePkg = { version: version('core') };
const serverPkg = { version: version('server') };

// Tests run against the TypeScript sources, so `npm test` needs no build first.
const alias = Object.fromEntries(
  [
    'core',
    'testkit',
    'connector-s3',
    'connector-postgresql',
    'connector-streaming',
    'connector-customerio',
    'server',
    'cli',
  ].map((name) => [`@inflow/${name}`, here(`./packages/${name}/src/index.ts`)]),
);

export default defineConfig({
  resolve: { alias },
  define: {
    __INFLOW_CORE_VERSION__: JSON.stringify(corePkg.version),
    __INFLOW_SERVER_VERSION__: JSON.stringify(serverPkg.version),
  },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/*.conformance.test.ts', '**/node_modules/**'],
          // Several server tests each open an embedded PGlite in beforeAll: on 2 busy cores that
          // can take longer than vitest's 10 s default. A hang guard, not a speed assertion.
          hookTimeout: 60_000,
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'int',
          include: ['packages/*/test/**/*.int.test.ts'],
          // Starts the real services (PostgreSQL, …) once per run; fails with the install command when missing.
          globalSetup: ['scripts/services/vitest-global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'conformance',
          // The shared testkit suite (describeSourceConnector) on each connector; PostgreSQL's runs
          // test and read against the real server, so this project starts the services too.
          include: ['packages/*/test/**/*.conformance.test.ts'],
          globalSetup: ['scripts/services/vitest-global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
