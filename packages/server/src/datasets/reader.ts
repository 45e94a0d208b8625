import { join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import type { Doc, ResourceStore, Scope } from '../store/resources.js';
import { jsonValue } from './parquet-schema.js';
import type { DatasetLake } from './writer.js';

/** How many batches the preview looks through for its rows. */
const PREVIEW_BATCHES = 1000;

/** A dataset's Catalog batches that hold rows, oldest first. */
export async function landedBatches(store: ResourceStore, scope: Scope, datasetId: string): Promise<Doc[]> {
  return store.findContaining(
    'batches',
    scope,
    { relatedObjects: [{ type: 'dataSet', id: datasetId }], status: 'success' },
    PREVIEW_BATCHES,
  );
}

/**
 * The first `limit` rows of a dataset, oldest batch first, as JSON objects (nested XDM objects
 * stay nested; null fields are left out, as they were when the records landed).
 */
export async function previewRows(
  lake: DatasetLake,
  store: ResourceStore,
  scope: Scope,
  datasetId: string,
  limit: number,
): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const batch of await landedBatches(store, scope, datasetId)) {
    if (rows.length >= limit) break;
    const manifest = await lake.manifest(datasetId, batch.id);
    if (!manifest) continue;
    for (const file of manifest.files) {
      if (rows.length >= limit) break;
      const buffer = await asyncBufferFromFile(join(lake.batchDir(datasetId, batch.id), 'data', file.name));
      const objects = await parquetReadObjects({ file: buffer, rowEnd: limit - rows.length });
      for (const object of objects) {
        const row: Record<string, unknown> = {};
        for (const column of manifest.columns) {
          const value = jsonValue(column, (object as Record<string, unknown>)[column.name]);
          if (value !== null) row[column.name] = value;
        }
        rows.push(row);
      }
    }
  }
  return rows;
}
