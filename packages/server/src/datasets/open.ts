import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResourceStore } from '../store/resources.js';
import { DatasetSchemas } from './dataset-schema.js';
import { FlowPipelines } from './pipeline.js';
import { DatasetLake } from './writer.js';

export interface Datasets {
  lake: DatasetLake;
  pipelines: FlowPipelines;
  /** Removes the lake when it was a temporary one (a server without a data dir). */
  close(): Promise<void>;
}

/**
 * The datasets of a server: `{dataDir}/datasets`, recovered (see `DatasetLake.recover`) before
 * anything lands; without a data dir, a temporary folder removed on close (Parquet needs files).
 */
export async function openDatasets(dataDir: string | undefined, store: ResourceStore): Promise<Datasets> {
  const root = dataDir ? join(dataDir, 'datasets') : await mkdtemp(join(tmpdir(), 'inflow-datasets-'));
  const schemas = new DatasetSchemas(store);
  const lake = new DatasetLake(root, store, schemas);
  await lake.recover();
  return {
    lake,
    pipelines: new FlowPipelines(store, schemas),
    close: async () => {
      if (!dataDir) await rm(root, { recursive: true, force: true });
    },
  };
}
