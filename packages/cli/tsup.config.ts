import { readFileSync } from 'node:fs';
import { libraryConfig } from '../../tsup.base';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export default libraryConfig({
  entry: ['src/index.ts', 'src/bin.ts'],
  define: { __INFLOW_CLI_VERSION__: JSON.stringify(version) },
  // The bin is run directly; tsup marks files that start with a shebang executable.
  banner: { js: '#!/usr/bin/env node' },
});
