import {
  CUSTOMERIO_CONNECTION_SPEC_ID,
  customerioConnector,
  GENERIC_STREAMING_FLOW_SPEC_ID,
} from '@inflow/connector-customerio';
import { InflowValidationError } from '@inflow/core';
import { thrownBy } from '@inflow/testkit';
import { describe, expect, it } from 'vitest';

const SIGNING_KEY = 'CANARY-cio-signing-key-3e8b50';

type ObjectSchema = {
  $schema?: string;
  properties: Record<string, Record<string, unknown>>;
  required?: string[];
};

const sourceSpec = customerioConnector.connectionSpec.sourceSpec;
const paramsSchema = sourceSpec?.spec as ObjectSchema;

describe('Customer.io connection spec JSON', () => {
  it('carries the documented ids (seed 004) and has no auth spec', () => {
    const spec = customerioConnector.connectionSpec;
    expect(spec.id).toBe('96479064-7b8a-4d69-b9ed-21c5683837ea');
    expect(CUSTOMERIO_CONNECTION_SPEC_ID).toBe(spec.id);
    expect(spec.providerId).toBe('521eee4d-8cbe-4906-bb48-fb6bd4450033');
    expect(spec.version).toBe('1.0');
    expect(spec.authSpec).toEqual([]);
    expect(sourceSpec?.attributes).toMatchObject({
      baseConnectionRequired: false,
      flowSpecIds: [GENERIC_STREAMING_FLOW_SPEC_ID],
    });
    expect(GENERIC_STREAMING_FLOW_SPEC_ID).toBe('e77fde5a-22a8-11ed-861d-0242ac120002');
  });

  it('declares webhookSigningKey as an optional password in the source spec', () => {
    expect(paramsSchema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(paramsSchema.properties.webhookSigningKey?.format).toBe('password');
    expect(paramsSchema.required ?? []).not.toContain('webhookSigningKey');
  });

  it('is frozen', () => {
    expect(Object.isFrozen(customerioConnector)).toBe(true);
    expect(Object.isFrozen(customerioConnector.connectionSpec)).toBe(true);
    expect(Object.isFrozen(paramsSchema.properties.webhookSigningKey)).toBe(true);
    expect(Reflect.set(customerioConnector.connectionSpec, 'authSpec', [{ name: 'x' }])).toBe(false);
  });
});

describe('Customer.io credentials and params', () => {
  it('has no auth spec to parse credentials against: any name is refused, naming auth.specName', () => {
    const error = thrownBy(() => customerioConnector.parseCredentials('Access Key', { key: SIGNING_KEY }));
    expect(InflowValidationError.isInstance(error), String(error)).toBe(true);
    expect((error as Error).message).toContain('auth.specName');
    expect((error as Error).message).not.toContain(SIGNING_KEY);
  });

  it('accepts source params with or without a signing key', () => {
    expect(customerioConnector.parseSourceParams({ webhookSigningKey: SIGNING_KEY })).toEqual({
      webhookSigningKey: SIGNING_KEY,
    });
    expect(customerioConnector.parseSourceParams({})).toEqual({});
    expect(customerioConnector.parseSourceParams(undefined)).toEqual({});
  });

  it.each([
    { what: 'empty', value: '' },
    { what: 'not a string', value: 42 },
  ])('names an $what webhookSigningKey', ({ value }) => {
    const error = thrownBy(() => customerioConnector.parseSourceParams({ webhookSigningKey: value }));
    expect(InflowValidationError.isInstance(error), String(error)).toBe(true);
    expect((error as InflowValidationError).issues.map((i) => i.path)).toEqual(['params.webhookSigningKey']);
  });
});
