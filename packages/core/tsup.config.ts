import { libraryConfig } from '../../tsup.base';
import pkg from './package.json' with { type: 'json' };

export default libraryConfig({ define: { __INFLOW_CORE_VERSION__: JSON.stringify(pkg.version) } });
