import type { Tenancy } from './auth/tenancy.js';
import type { ServerConfig } from './config.js';
import type { SecretBox } from './crypto.js';
import type { Keys } from './data-dir.js';
import type { SpecRegistry } from './specs/registry.js';
import type { ResourceStore } from './store/resources.js';

/** What routes share: storage, tenancy, specs, keys and the clock. */
export interface Services {
  config: ServerConfig;
  store: ResourceStore;
  tenancy: Tenancy;
  specs: SpecRegistry;
  box: SecretBox;
  keys: Keys;
  /** The base of inlet URLs (`INFLOW_PUBLIC_URL`, or the listen address once known). */
  publicUrl: () => string;
  now: () => number;
}
