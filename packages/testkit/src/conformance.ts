// The shared conformance suite every connector runs (unstorage's `testDriver()`, langchainjs's
// standard tests): `describeSourceConnector(connector, options)` in a `*.conformance.test.ts`.
import {
  type AnySourceConnector,
  type JsonSchema,
  type JsonValue,
  REDACTED,
  type RecordBatch,
  redact,
  SetupRunner,
  secretValues,
} from '@inflow/core';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { startRecordingServer } from './recording-server.js';
import { makeClient, PLATFORM } from './setup-assertions.js';

/** The connection spec identity the connector must serve, as the documentation gives it. */
export interface ConformanceExpected {
  /** The connection spec id (a UUID). */
  id: string;
  /** The spec `name`, e.g. `amazon-s3`. */
  name: string;
  /** The provider id (a UUID). */
  providerId: string;
}

/** Credentials for a verb: `auth.params` as a client sends them, parsed with `parseCredentials`. */
export interface ConformanceCredentials {
  /** The auth spec; default the connector's only one. */
  specName?: string;
  params: Record<string, unknown>;
}

/** The `test` verb's part: credentials the source must refuse. */
export interface ConformanceCanary extends ConformanceCredentials {
  /** A string inside `params` (a password, a key) that must not show anywhere in the result. */
  secret: string;
  /** The `TestResult.code` expected, when the connector sets one. */
  code?: string;
}

/** The `read` verb's part: a source with data, and a way to add rows to it. */
export interface ConformanceRead {
  credentials: ConformanceCredentials;
  /** The source connection's `params` (parsed with `parseSourceParams`); must read incrementally. */
  params: Record<string, unknown>;
  /** The record field that identifies a row; reads are compared by it. */
  key: string;
  /** How many records a first full read yields (checked when given). At least `limit + 1`. */
  expectedCount?: number;
  /** The `limit` of the limited reads, default 2. */
  limit?: number;
  /** Rows `insert` adds; each has `key`. */
  newRows: Record<string, unknown>[];
  /** Adds `rows` to the source (after a full read): the next incremental read must yield exactly them. */
  insert(rows: Record<string, unknown>[]): Promise<void>;
}

/** What `describeSourceConnector` needs to exercise a connector. */
export interface SourceConnectorConformanceOptions {
  expected: ConformanceExpected;
  /**
   * Valid `auth.params` for every auth spec, by spec name, with a distinct canary string in every
   * `format: "password"` field: they prove that parsing keeps secrets and redaction removes them.
   */
  credentials?: Record<string, Record<string, unknown>>;
  /** Valid source connection `params`, with a canary in every `format: "password"` field (required when there is one). */
  sourceParams?: Record<string, unknown>;
  /** A valid setup input (the tutorial's), planned against a recording server. */
  setupInput: unknown;
  /** Every secret value `setupInput` holds (empty when it has none): each must be `format: "password"` and absent from the plan. */
  setupSecrets: readonly string[];
  /** Why the connector has no `test` / `read` verb: a verb is never skipped silently. */
  absent?: { test?: string; read?: string };
  /** Required when the connector implements `test`. */
  canary?: ConformanceCanary;
  /** Required when the connector implements `read`. */
  read?: ConformanceRead;
}

const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';

/** Formats are not asserted here (the server validates them); keywords are, strictly. */
function newAjv(): Ajv {
  return new Ajv({ strict: true, validateFormats: false, allErrors: true });
}

/** The top-level property names a JSON Schema marks `format: "password"`. */
function passwordFields(schema: JsonSchema | undefined): string[] {
  const props = (schema as { properties?: Record<string, { format?: unknown }> } | undefined)?.properties;
  return Object.entries(props ?? {})
    .filter(([, p]) => p.format === 'password')
    .map(([k]) => k);
}

const sorted = (values: readonly string[]) => [...values].sort();

const isPlainObject = (value: unknown): boolean => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

const roundTrip = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

function authSpecName(connector: AnySourceConnector, given: string | undefined): string {
  if (given) return given;
  const auth = connector.auth;
  if (auth === 'none' || auth.length !== 1) {
    throw new Error(
      `${connector.id} has ${auth === 'none' ? 'no' : auth.length} auth specs: name one in specName`,
    );
  }
  return (auth[0] as { name: string }).name;
}

/** Asserts a schema is draft-07 JSON Schema: the meta-schema accepts it and ajv compiles it. */
function expectDraft07(schema: JsonSchema | undefined, what: string): void {
  expect(schema, `${what} is missing`).toBeTypeOf('object');
  const s = schema as Record<string, unknown>;
  if (s.$schema !== undefined) expect(s.$schema, `${what}.$schema`).toBe(DRAFT_07);
  const ajv = newAjv();
  const valid = ajv.validateSchema(s);
  expect(valid, `${what} against the draft-07 meta-schema: ${ajv.errorsText(ajv.errors)}`).toBe(true);
  expect(() => ajv.compile(s), `${what} compiles`).not.toThrow();
}

/**
 * Checks that a sample of valid values is accepted by the spec JSON and by zod alike, that it has
 * a canary in every password field, that parsing keeps each secret verbatim (so the schema still
 * finds it), and that redaction then removes every one.
 */
function expectSecretsAgree(
  schema: JsonSchema,
  sample: Record<string, unknown>,
  parse: (value: unknown) => unknown,
  what: string,
): void {
  const fields = passwordFields(schema);
  const uncovered = fields.filter((k) => typeof sample[k] !== 'string');
  expect(uncovered, `${what}: give a canary value for these format:"password" fields`).toEqual([]);

  const ajv = newAjv();
  const validate = ajv.compile(schema as Record<string, unknown>);
  expect(
    validate(sample),
    `${what}: the spec JSON rejects the sample: ${ajv.errorsText(validate.errors)}`,
  ).toBe(true);

  const canaries = secretValues(schema, sample);
  expect(canaries.length, `${what}: secrets found in the sample`).toBe(fields.length);
  const parsed = parse(sample);
  expect(sorted(secretValues(schema, parsed)), `${what}: the secrets after parsing`).toEqual(
    sorted(canaries),
  );
  const masked = JSON.stringify(redact(parsed, secretValues(schema, parsed)));
  for (const canary of canaries) expect(masked, `${what}: redacted`).not.toContain(canary);
  if (canaries.length > 0) expect(masked).toContain(REDACTED);
}

async function collect(iterable: AsyncIterable<RecordBatch>): Promise<RecordBatch[]> {
  const batches: RecordBatch[] = [];
  for await (const batch of iterable) batches.push(batch);
  return batches;
}

/** Asserts one batch is what the engine can land: plain-object records, a JSON state that survives JSON. */
function expectTypedBatch(batch: RecordBatch, index: number): void {
  const where = `batch ${index}`;
  expect(Array.isArray(batch.records), `${where}.records is an array`).toBe(true);
  batch.records.forEach((record, i) => {
    expect(isPlainObject(record), `${where}.records[${i}] is a plain object`).toBe(true);
  });
  expect(batch.state, `${where}.state`).not.toBeUndefined();
  expect(roundTrip(batch.state), `${where}.state after JSON.stringify/parse`).toStrictEqual(batch.state);
  for (const metric of ['bytes', 'files'] as const) {
    const value = batch[metric];
    if (value !== undefined) {
      expect(Number.isInteger(value) && value >= 0, `${where}.${metric} is a count`).toBe(true);
    }
  }
}

/**
 * Registers the conformance suite of a `SourceConnectorV1`: its spec JSON (draft-07, the
 * documented ids, secrets marked and redacted), its setup plan (sends nothing, shows no secret),
 * and each data-plane verb it implements (`test`, `read`); a verb it lacks needs a stated reason.
 */
export function describeSourceConnector(
  connector: AnySourceConnector,
  options: SourceConnectorConformanceOptions,
): void {
  describe(`${connector.displayName} (${connector.id}) conforms to SourceConnectorV1`, () => {
    describe('spec', () => {
      it('is a v1 connector serving the documented connection spec ids', () => {
        expect(connector.specificationVersion).toBe('v1');
        const spec = connector.connectionSpec;
        expect({ id: spec.id, name: spec.name, providerId: spec.providerId }).toEqual(options.expected);
        expect(Object.isFrozen(spec), 'the connection spec is frozen').toBe(true);
      });

      it('has one authSpec[] entry per auth spec of the definition', () => {
        const names = connector.auth === 'none' ? [] : connector.auth.map((a: { name: string }) => a.name);
        expect((connector.connectionSpec.authSpec ?? []).map((a) => a.name)).toEqual(names);
      });

      for (const auth of connector.connectionSpec.authSpec ?? []) {
        it(`authSpec "${auth.name}" is valid draft-07 JSON Schema`, () => {
          expectDraft07(auth.spec, `authSpec "${auth.name}".spec`);
        });

        it(`authSpec "${auth.name}": parseCredentials keeps every format:"password" field and redaction removes it`, () => {
          const sample = options.credentials?.[auth.name];
          if (!sample)
            throw new Error(`give options.credentials["${auth.name}"]: valid auth.params with canaries`);
          expectSecretsAgree(
            auth.spec,
            sample,
            (value) => connector.parseCredentials(auth.name, value),
            `authSpec "${auth.name}"`,
          );
        });
      }

      const sourceSpec = connector.connectionSpec.sourceSpec?.spec;
      if (sourceSpec) {
        it('sourceSpec is valid draft-07 JSON Schema', () => {
          expectDraft07(sourceSpec, 'sourceSpec.spec');
        });

        it('sourceSpec: parseSourceParams keeps every format:"password" field and redaction removes it', () => {
          const sample = options.sourceParams;
          if (!sample) {
            expect(
              passwordFields(sourceSpec),
              'sourceSpec has secrets: give options.sourceParams with a canary in each',
            ).toEqual([]);
            return;
          }
          expectSecretsAgree(sourceSpec, sample, (value) => connector.parseSourceParams(value), 'sourceSpec');
        });
      } else {
        it('has no sourceSpec.spec: the definition has no sourceParams', () => {
          expect(connector.sourceParams).toBeUndefined();
          expect(
            options.sourceParams,
            'options.sourceParams for a connector without sourceParams',
          ).toBeUndefined();
        });
      }

      it('the setup input schema is valid draft-07 JSON Schema', () => {
        expectDraft07(connector.setupInputJsonSchema, 'setupInputJsonSchema');
      });
    });

    describe('setup', () => {
      it('plan() sends nothing and lists every documented step', async () => {
        const server = await startRecordingServer();
        try {
          const plan = new SetupRunner(connector, makeClient(server)).plan(options.setupInput);
          // A request started by plan() would land after it returns: give it time to arrive.
          await new Promise((resolve) => setTimeout(resolve, 50));
          expect(server.requests, 'requests sent by plan()').toEqual([]);
          expect(plan.map((s) => s.id)).toEqual(connector.setup.steps.map((s: { id: string }) => s.id));
          for (const step of plan) {
            expect(step.done).toBe(false);
            expect(step.request.url.startsWith(server.url), `${step.id} targets the client's endpoint`).toBe(
              true,
            );
          }
        } finally {
          await server.close();
        }
      });

      it('plan() shows no secret of the input, nor the access token', async () => {
        const parsed = connector.setup.input.parse(options.setupInput);
        expect(
          sorted(secretValues(connector.setupInputJsonSchema, parsed)),
          'the format:"password" values of setupInput are options.setupSecrets',
        ).toEqual(sorted(options.setupSecrets));
        const server = await startRecordingServer();
        try {
          const json = JSON.stringify(
            new SetupRunner(connector, makeClient(server)).plan(options.setupInput),
          );
          for (const secret of [...options.setupSecrets, PLATFORM.token]) {
            expect(json, 'the plan').not.toContain(secret);
          }
        } finally {
          await server.close();
        }
      });
    });

    describe('test', () => {
      const verb = connector.test;
      if (!verb) {
        const reason = options.absent?.test;
        it(`has no test verb: ${reason ?? '(options.absent.test gives no reason)'}`, () => {
          expect(reason, 'options.absent.test: why the connector has no test verb').toBeTruthy();
          expect(connector.test).toBeUndefined();
        });
        return;
      }
      it('with canary credentials fails with a clear message that does not contain the canary', async () => {
        expect(options.absent?.test, 'options.absent.test for a connector that has test').toBeUndefined();
        const canary = options.canary;
        if (!canary)
          throw new Error('the connector implements test: give options.canary credentials that must fail');
        expect(JSON.stringify(canary.params), 'the canary secret is in the canary credentials').toContain(
          canary.secret,
        );
        const credentials = connector.parseCredentials(
          authSpecName(connector, canary.specName),
          canary.params,
        );
        const result = await verb(credentials);
        expect(result.ok).toBe(false);
        expect(result.message).toBeTypeOf('string');
        expect(result.message.trim().length, 'a message a person can act on').toBeGreaterThan(10);
        expect(result.message, 'no stack trace').not.toMatch(/\n\s+at /);
        expect(JSON.stringify(result), 'the result').not.toContain(canary.secret);
        if (canary.code !== undefined) expect(result.code).toBe(canary.code);
      });
    });

    describe('read', () => {
      const verb = connector.read;
      if (!verb) {
        const reason = options.absent?.read;
        it(`has no read verb: ${reason ?? '(options.absent.read gives no reason)'}`, () => {
          expect(reason, 'options.absent.read: why the connector has no read verb').toBeTruthy();
          expect(connector.read).toBeUndefined();
        });
        return;
      }
      const need = (): ConformanceRead => {
        expect(options.absent?.read, 'options.absent.read for a connector that has read').toBeUndefined();
        if (!options.read)
          throw new Error('the connector implements read: give options.read (a source and insert)');
        return options.read;
      };
      const run = (o: ConformanceRead, state: JsonValue | undefined, limit?: number) =>
        collect(
          verb({
            credentials: connector.parseCredentials(
              authSpecName(connector, o.credentials.specName),
              o.credentials.params,
            ),
            params: connector.parseSourceParams(o.params),
            state,
            ...(limit === undefined ? {} : { limit }),
          }),
        );
      const keysOf = (o: ConformanceRead, rows: readonly Record<string, unknown>[]) =>
        rows.map((r) => {
          expect(r, `a record without the key field "${o.key}"`).toHaveProperty(o.key);
          return JSON.stringify(r[o.key]);
        });
      const lastState = (batches: RecordBatch[], what: string): JsonValue => {
        const last = batches.at(-1);
        if (!last) throw new Error(`${what} yielded no batch, so there is no state to resume from`);
        return roundTrip(last.state);
      };

      it('under a limit yields typed batches, at most limit records, whose state survives JSON', async () => {
        const o = need();
        const limit = o.limit ?? 2;
        const batches = await run(o, undefined, limit);
        batches.forEach(expectTypedBatch);
        const count = batches.reduce((n, b) => n + b.records.length, 0);
        expect(count).toBeGreaterThan(0);
        expect(count).toBeLessThanOrEqual(limit);
      });

      it('resumed from a limited read’s state (through JSON), neither loses nor repeats a row', async () => {
        const o = need();
        const limit = o.limit ?? 2;
        const full = keysOf(
          o,
          (await run(o, undefined)).flatMap((b) => b.records),
        );
        expect(full.length, 'the source needs more rows than the limit').toBeGreaterThan(limit);
        const head = await run(o, undefined, limit);
        const rest = await run(o, lastState(head, 'the limited read'));
        rest.forEach(expectTypedBatch);
        const both = keysOf(
          o,
          [...head, ...rest].flatMap((b) => b.records),
        );
        expect(new Set(both).size, 'rows read twice').toBe(both.length);
        expect(sorted(both)).toEqual(sorted(full));
      });

      it('after a full read and new rows, a read from the last state yields exactly the new rows', async () => {
        const o = need();
        expect(o.newRows.length, 'options.read.newRows').toBeGreaterThan(0);
        const first = await run(o, undefined);
        first.forEach(expectTypedBatch);
        if (o.expectedCount !== undefined) {
          expect(first.reduce((n, b) => n + b.records.length, 0)).toBe(o.expectedCount);
        }
        const state = lastState(first, 'the full read');
        await o.insert(o.newRows);
        const second = await run(o, state);
        second.forEach(expectTypedBatch);
        const got = keysOf(
          o,
          second.flatMap((b) => b.records),
        );
        expect(sorted(got)).toEqual(sorted(keysOf(o, o.newRows)));
        expect(new Set(got).size, 'rows read twice').toBe(got.length);
      });
    });
  });
}
