import type { Tenancy } from './auth/tenancy.js';
import type { ServerConfig } from './config.js';
import type { SecretBox } from './crypto.js';
import type { Keys } from './data-dir.js';
import type { Pipelines } from './datasets/pipeline.js';
import type { DatasetWriter } from './datasets/writer.js';
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
  /** Lands records in datasets as Parquet batches (`datasets/writer.ts`). */
  datasets: DatasetWriter;
  /** Mapping and validation on the way to a dataset (`datasets/pipeline.ts`). */
  pipelines: Pipelines;
}
