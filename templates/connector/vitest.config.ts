import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The conformance kit ships as TypeScript source: let vitest compile it.
  test: { server: { deps: { inline: ['@inflow/testkit'] } } },
});
