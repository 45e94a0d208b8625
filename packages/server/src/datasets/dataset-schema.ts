import { createHash } from 'node:crypto';
import { FlowProblem, notFound } from '../errors.js';
import type { Doc, ResourceStore, Scope } from '../store/resources.js';
import {
  type JsonSchema,
  recordValidator,
  resolveSchemaFull,
  type XdmResource,
} from '../xdm/schema-registry.js';
import { type ColumnNode, columnsOf } from './parquet-schema.js';

/** A dataset with what landing needs of its schema, compiled once per schema version. */
export interface DatasetSchema {
  dataset: Doc;
  schemaId: string;
  full: JsonSchema;
  columns: ColumnNode[];
  /** The problems with a record (`a.b must be string`); none when it is valid. */
  validate: (record: unknown) => string[];
}

const MAX_CACHED = 256;

/** Resolves datasets to their schemas; compiled validators are cached by the schema's content. */
export class DatasetSchemas {
  private readonly compiled = new Map<string, Omit<DatasetSchema, 'dataset'>>();

  constructor(private readonly store: ResourceStore) {}

  async of(scope: Scope, datasetId: string): Promise<DatasetSchema> {
    const stored = await this.store.get('dataSets', scope, datasetId);
    if (!stored) throw notFound('dataSets', datasetId);
    const schemaId = (stored.doc.schemaRef as { id?: string } | undefined)?.id;
    const schema = schemaId ? await this.findSchema(scope, schemaId) : undefined;
    if (!schemaId || !schema) {
      throw new FlowProblem(
        '1460-400',
        `dataset ${datasetId} refers to schema ${String(schemaId)}, which is not in this sandbox: recreate the schema or point the dataset at another one`,
        { field: 'schemaRef.id' },
      );
    }
    const { id: _id, ...record } = schema;
    const text = JSON.stringify(record);
    const key = createHash('sha256').update(text).digest('hex');
    let entry = this.compiled.get(key);
    if (!entry) {
      const full = resolveSchemaFull(record as unknown as XdmResource, () => undefined);
      entry = { schemaId, full, columns: columnsOf(full), validate: recordValidator(full) };
      if (this.compiled.size >= MAX_CACHED) this.compiled.clear();
      this.compiled.set(key, entry);
    }
    return { dataset: stored.doc, ...entry };
  }

  private async findSchema(scope: Scope, idOrAltId: string): Promise<Doc | undefined> {
    const [byId] = await this.store.findContaining('schemas', scope, { $id: idOrAltId }, 1);
    if (byId) return byId;
    const [byAlt] = await this.store.findContaining('schemas', scope, { 'meta:altId': idOrAltId }, 1);
    return byAlt;
  }
}
