import { z } from 'zod';
import type { AuthSpecJson, ConnectionSpec, JsonSchema } from '../client/types.js';
import { InflowValidationError, type ValidationIssue } from '../errors/inflow-error.js';
import { redact, secretValues } from '../secrets/secret.js';
import type {
  AuthSpecDefinition,
  SourceConnectorDefinitionV1,
  SourceConnectorV1,
} from './source-connector.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const VERSION = /^\d+\.\d+$/;
const CONNECTOR_ID = /^[a-z][a-z0-9-]*$/;
const VERBS = ['test', 'explore', 'preview', 'read', 'inlet'] as const;

/** JSON Schema draft-07 of a zod schema, as the service serves it (input side: defaults are optional). */
export function toJsonSchema(schema: z.ZodType, description?: string): JsonSchema {
  const json = z.toJSONSchema(schema, {
    target: 'draft-7',
    io: 'input',
    unrepresentable: 'any',
  }) as JsonSchema;
  return description ? { ...json, description } : json;
}

/** Issues from a zod error, as dotted paths under `prefix`, never echoing input values. */
export function zodIssues(error: z.ZodError, prefix: string): ValidationIssue[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    const missing =
      (issue.code === 'invalid_type' || issue.code === 'invalid_union') && issue.input === undefined;
    const message = missing ? 'is required' : issue.message;
    return { path, message };
  });
}

function issuesMessage(what: string, issues: readonly ValidationIssue[]): string {
  return `${what}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`;
}

/** Parses with a zod schema; throws `InflowValidationError` naming each field, redacting secrets. */
export function parseWithSchema<S extends z.ZodType>(
  schema: S,
  value: unknown,
  opts: { prefix: string; what: string; jsonSchema?: JsonSchema },
): z.output<S> {
  // reportInput: zod 4 leaves `issue.input` out otherwise, and a missing field is told apart by it.
  const res = schema.safeParse(value, { reportInput: true });
  if (res.success) return res.data;
  const issues = zodIssues(res.error, opts.prefix);
  const secrets = opts.jsonSchema ? secretValues(opts.jsonSchema, value) : [];
  throw new InflowValidationError(redact(issuesMessage(opts.what, issues), secrets), redact(issues, secrets));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function validateDefinition(
  def: SourceConnectorDefinitionV1<readonly AuthSpecDefinition[] | 'none', z.ZodObject, z.ZodType>,
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });
  if (typeof def.id !== 'string' || !CONNECTOR_ID.test(def.id))
    add(
      'id',
      `must be lower-case letters, digits and dashes (the package is @inflow/connector-<id>), got "${def.id}"`,
    );
  if (!def.displayName) add('displayName', 'is required');
  const spec = def.spec;
  if (!spec) {
    add('spec', 'is required');
  } else {
    if (!UUID.test(spec.id ?? '')) add('spec.id', `must be a UUID, got "${spec.id}"`);
    if (!UUID.test(spec.providerId ?? '')) add('spec.providerId', `must be a UUID, got "${spec.providerId}"`);
    if (!VERSION.test(spec.version ?? '')) add('spec.version', `must look like "1.0", got "${spec.version}"`);
    if (!spec.name) add('spec.name', 'is required');
    if (!spec.description) add('spec.description', 'is required');
    if (!spec.category) add('spec.category', 'is required');
    for (const [i, id] of (spec.flowSpecIds ?? []).entries())
      if (!UUID.test(id)) add(`spec.flowSpecIds.${i}`, `must be a UUID, got "${id}"`);
  }
  if (def.auth !== 'none') {
    if (!Array.isArray(def.auth) || def.auth.length === 0) {
      add('auth', "needs at least one auth spec; a source without a base connection says auth: 'none'");
    } else {
      const names = new Set<string>();
      def.auth.forEach((a, i) => {
        if (!a.name) add(`auth.${i}.name`, 'is required');
        else if (names.has(a.name)) add(`auth.${i}.name`, `"${a.name}" is used twice`);
        names.add(a.name);
        if (!a.type) add(`auth.${i}.type`, 'is required');
        if (!(a.schema instanceof z.ZodObject)) add(`auth.${i}.schema`, 'must be a z.object()');
      });
    }
  }
  if (def.sourceParams !== undefined && !(def.sourceParams instanceof z.ZodObject))
    add('sourceParams', 'must be a z.object()');
  const steps = def.setup?.steps;
  if (!def.setup || !(def.setup.input instanceof z.ZodType)) add('setup.input', 'must be a zod schema');
  if (!Array.isArray(steps) || steps.length === 0) {
    add('setup.steps', 'needs at least one step');
  } else {
    const ids = new Set<string>();
    const outputs = new Map<string, string>();
    steps.forEach((step, i) => {
      if (!step.id) add(`setup.steps.${i}.id`, 'is required');
      else if (ids.has(step.id))
        add(`setup.steps.${i}.id`, `"${step.id}" is used twice: step ids must be unique`);
      ids.add(step.id);
      if (typeof step.request !== 'function') add(`setup.steps.${i}.request`, 'must be a function');
      for (const name of Object.keys(step.produces ?? {})) {
        const owner = outputs.get(name);
        if (owner) add(`setup.steps.${i}.produces.${name}`, `is already produced by step "${owner}"`);
        outputs.set(name, step.id);
      }
    });
  }
  for (const verb of VERBS) {
    if (def[verb] !== undefined && typeof def[verb] !== 'function') add(verb, 'must be a function');
  }
  return issues;
}

function connectionSpecJson(
  def: SourceConnectorDefinitionV1<readonly AuthSpecDefinition[] | 'none', z.ZodObject, z.ZodType>,
): ConnectionSpec {
  const spec = def.spec;
  const authSpec: AuthSpecJson[] =
    def.auth === 'none'
      ? []
      : def.auth.map((a) => ({
          name: a.name,
          type: a.type,
          spec: toJsonSchema(
            a.schema,
            a.description ??
              a.schema.description ??
              `defines auth params required for connecting to ${spec.name}`,
          ),
        }));
  return {
    id: spec.id,
    name: spec.name,
    providerId: spec.providerId,
    version: spec.version,
    ...(spec.type ? { type: spec.type } : {}),
    description: spec.description,
    attributes: { category: spec.category, isSource: true, ...spec.attributes },
    authSpec,
    sourceSpec: {
      name: `${spec.name}-source`,
      ...(def.sourceParams
        ? {
            spec: toJsonSchema(
              def.sourceParams,
              def.sourceParams.description ??
                `Defines params required when ${spec.name} connection is used as a source in flow.`,
            ),
          }
        : {}),
      attributes: {
        ...(spec.dataFormats ? { dataFormats: [...spec.dataFormats] } : {}),
        baseConnectionRequired: def.auth !== 'none',
        ...(spec.flowSpecIds ? { flowSpecIds: [...spec.flowSpecIds] } : {}),
      },
    },
    ...(spec.explore ? { exploreSpec: { name: spec.explore.name, type: spec.explore.type } } : {}),
    permissionsInfo: {
      view: [{ '@type': 'lowLevel', name: 'EnterpriseSource', permissions: ['read'] }],
      manage: [{ '@type': 'lowLevel', name: 'EnterpriseSource', permissions: ['write'] }],
    },
  };
}

/**
 * Turns a connector definition into a `SourceConnectorV1`: validates it (UUID spec and provider
 * ids, `"1.0"`-style version, unique step ids and output names, auth specs unless `'none'`),
 * derives the connection spec JSON the API serves (auth specs as JSON Schema draft-07, secrets
 * `format: "password"`, `required` from the schema), infers the credential and params types from
 * the zod schemas, and freezes the result. Throws `InflowValidationError` listing every problem.
 */
export function defineSourceConnector<
  const TAuth extends readonly AuthSpecDefinition[] | 'none',
  TSetup extends z.ZodType,
  TParams extends z.ZodObject = z.ZodObject<Record<string, never>>,
>(
  definition: SourceConnectorDefinitionV1<TAuth, TParams, TSetup>,
): SourceConnectorV1<TAuth, TParams, TSetup> {
  const def = definition as unknown as SourceConnectorDefinitionV1<
    readonly AuthSpecDefinition[] | 'none',
    z.ZodObject,
    z.ZodType
  >;
  const issues = validateDefinition(def);
  if (issues.length > 0) {
    throw new InflowValidationError(
      issuesMessage(`defineSourceConnector("${String(def.id)}")`, issues),
      issues,
    );
  }
  const connectionSpec = deepFreeze(connectionSpecJson(def));
  const setupInputJsonSchema = deepFreeze(toJsonSchema(def.setup.input));
  const authByName = new Map(def.auth === 'none' ? [] : def.auth.map((a, i) => [a.name, i] as const));

  const connector = {
    ...def,
    specificationVersion: 'v1' as const,
    connectionSpec,
    setupInputJsonSchema,
    auth: def.auth === 'none' ? 'none' : Object.freeze(def.auth.map((a) => Object.freeze({ ...a }))),
    setup: Object.freeze({
      input: def.setup.input,
      steps: Object.freeze(
        def.setup.steps.map((s) => Object.freeze({ ...s, produces: Object.freeze({ ...s.produces }) })),
      ),
    }),
    parseCredentials(specName: string, params: unknown) {
      const index = authByName.get(specName);
      if (index === undefined || def.auth === 'none') {
        const known =
          def.auth === 'none'
            ? 'none (this source has no base connection)'
            : [...authByName.keys()].map((n) => `"${n}"`).join(', ');
        throw new InflowValidationError(
          `auth.specName "${specName}" is not an auth spec of ${def.spec.name}: use one of ${known}`,
          [{ path: 'auth.specName', message: `must be one of ${known}` }],
        );
      }
      const auth = def.auth[index] as AuthSpecDefinition;
      return parseWithSchema(auth.schema, params, {
        prefix: 'auth.params',
        what: `invalid credentials for ${def.spec.name} (${specName})`,
        jsonSchema: connectionSpec.authSpec?.[index]?.spec as JsonSchema,
      });
    },
    parseSourceParams(params: unknown) {
      const schema = def.sourceParams ?? z.object({});
      return parseWithSchema(schema, params ?? {}, {
        prefix: 'params',
        what: `invalid source connection params for ${def.spec.name}`,
        ...(connectionSpec.sourceSpec?.spec
          ? { jsonSchema: connectionSpec.sourceSpec.spec as JsonSchema }
          : {}),
      });
    },
  };
  return Object.freeze(connector) as unknown as SourceConnectorV1<TAuth, TParams, TSetup>;
}
