import { libraryConfig } from '../../tsup.base';
import pkg from './package.json' with { type: 'json' };

export default libraryConfig({
  entry: ['src/index.ts', 'src/main.ts'],
  define: { __INFLOW_SERVER_VERSION__: JSON.stringify(pkg.version) },
});
