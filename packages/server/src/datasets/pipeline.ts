import { createHash } from 'node:crypto';
import { type CompiledMappingSet, compileMappingSet, type MapResult } from '@inflow/core';
import { FlowProblem, notFound } from '../errors.js';
import type { ResourceStore, Scope } from '../store/resources.js';
import type { DatasetSchemas } from './dataset-schema.js';
import type { RecordFailure } from './writer.js';

/** What a record goes through before landing: the flow's mapping set (compiled once per mapping-set id+version, cached) then validation against the dataset's XDM schema (ajv, compiled once per schema, cached). */
export type RecordPipeline = (
  record: Record<string, unknown>,
) => { ok: true; value: Record<string, unknown> } | { ok: false; failure: RecordFailure };

export interface Pipelines {
  /** For a flow: its mapping set (if the flow has a Mapping transformation) then its target dataset's schema. Throws a clear InflowError (→ 4xx problem) when the flow, dataset or schema is missing. */
  forFlow(scope: Scope, flowId: string): Promise<{ datasetId: string; pipeline: RecordPipeline }>;
  /** For XDM-envelope streaming messages: validation against the dataset's schema only. */
  forDataset(scope: Scope, datasetId: string): Promise<RecordPipeline>;
}

/** A record the mapping set could not map (reference §3.7's `MAPPER-3700-400`). */
export const MAPPING_ERROR_CODE = 'MAPPER-3700-400';
/** A mapped record that does not validate against the dataset's schema. */
export const VALIDATION_ERROR_CODE = 'INGEST-1555-400';

const MAX_CACHED = 256;

/** Pipelines over the stored flows, mapping sets, datasets and schemas. */
export class FlowPipelines implements Pipelines {
  private readonly mappers = new Map<string, CompiledMappingSet>();

  constructor(
    private readonly store: ResourceStore,
    private readonly schemas: DatasetSchemas,
  ) {}

  async forDataset(scope: Scope, datasetId: string): Promise<RecordPipeline> {
    const { validate } = await this.schemas.of(scope, datasetId);
    return (record) => {
      const problems = validate(record);
      if (problems.length === 0) return { ok: true, value: record };
      return { ok: false, failure: validationFailure(record, problems) };
    };
  }

  async forFlow(scope: Scope, flowId: string): Promise<{ datasetId: string; pipeline: RecordPipeline }> {
    const flow = await this.store.get('flows', scope, flowId);
    if (!flow) throw notFound('flows', flowId);
    const targetId = (flow.doc.targetConnectionIds as string[] | undefined)?.[0];
    const target = targetId ? await this.store.get('targetConnections', scope, targetId) : undefined;
    const datasetId = (target?.doc.params as { dataSetId?: string } | undefined)?.dataSetId;
    if (!target || !datasetId) {
      throw new FlowProblem(
        '1460-400',
        `flow ${flowId} has no target connection with a dataset (targetConnectionIds[0] ${String(targetId)}): create a target connection with params.dataSetId and a new flow`,
        { field: 'targetConnectionIds' },
      );
    }
    const { validate } = await this.schemas.of(scope, datasetId);
    const transformations = (flow.doc.transformations ?? []) as {
      name: string;
      params: Record<string, unknown>;
    }[];
    const mapping = transformations.find((t) => t.name === 'Mapping');
    const mapper = mapping ? await this.mapper(scope, String(mapping.params.mappingId)) : undefined;
    const pipeline: RecordPipeline = (record) => {
      let value = record;
      if (mapper) {
        let mapped: MapResult;
        try {
          mapped = mapper(record);
        } catch (error) {
          mapped = { ok: false, errors: [{ path: '(record)', reason: (error as Error).message }] };
        }
        if (!mapped.ok) {
          const first = mapped.errors[0];
          return {
            ok: false,
            failure: {
              record,
              reason: mapped.errors.map((e) => `${e.path}: ${e.reason}`).join('; ') || 'the mapping failed',
              ...(first ? { path: first.path } : {}),
              code: MAPPING_ERROR_CODE,
            },
          };
        }
        value = mapped.value;
      }
      const problems = validate(value);
      if (problems.length === 0) return { ok: true, value };
      return { ok: false, failure: validationFailure(value, problems) };
    };
    return { datasetId, pipeline };
  }

  private async mapper(scope: Scope, mappingId: string): Promise<CompiledMappingSet> {
    const stored = await this.store.get('mappingSets', scope, mappingId);
    if (!stored) {
      throw new FlowProblem(
        '1460-400',
        `the flow's mapping set ${mappingId} is not in this sandbox: create it and PATCH the flow's /transformations`,
        { field: 'transformations' },
      );
    }
    const key = `${mappingId}:${String(stored.doc.version ?? '')}:${createHash('sha256').update(JSON.stringify(stored.doc)).digest('hex')}`;
    let compiled = this.mappers.get(key);
    if (!compiled) {
      try {
        compiled = compileMappingSet(stored.doc, { name: mappingId });
      } catch (error) {
        throw new FlowProblem(
          '1460-400',
          `mapping set ${mappingId} does not compile: ${(error as Error).message}`,
          {
            field: 'transformations',
          },
        );
      }
      if (this.mappers.size >= MAX_CACHED) this.mappers.clear();
      this.mappers.set(key, compiled);
    }
    return compiled;
  }
}

function validationFailure(record: unknown, problems: string[]): RecordFailure {
  const path = /^(\S+) /.exec(problems[0] ?? '')?.[1];
  return {
    record,
    reason: problems.join('; '),
    ...(path ? { path } : {}),
    code: VALIDATION_ERROR_CODE,
  };
}
