import { STREAMING_AUTH_SPEC_NAME, streamingConnector } from '@inflow/connector-streaming';
import { InflowValidationError } from '@inflow/core';
import { thrownBy } from '@inflow/testkit';
import { describe, expect, it } from 'vitest';

type ObjectSchema = {
  $schema?: string;
  properties: Record<string, { const?: unknown; enum?: unknown[]; format?: string }>;
  required?: string[];
};

const authSpec = streamingConnector.connectionSpec.authSpec?.[0];
const authSchema = authSpec?.spec as ObjectSchema;

function credentialsError(params: unknown): InflowValidationError {
  const error = thrownBy(() => streamingConnector.parseCredentials(STREAMING_AUTH_SPEC_NAME, params));
  expect(InflowValidationError.isInstance(error), String(error)).toBe(true);
  return error as InflowValidationError;
}

describe('streaming connection spec JSON', () => {
  it('carries the documented ids (seed 001)', () => {
    const spec = streamingConnector.connectionSpec;
    expect(spec.id).toBe('bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb');
    expect(spec.providerId).toBe('521eee4d-8cbe-4906-bb48-fb6bd4450033');
    expect(spec.version).toBe('1.0');
    expect(spec.authSpec).toHaveLength(1);
    expect(authSpec?.name).toBe('Streaming Connection');
  });

  it('allows only dataType "xdm", and requires it', () => {
    expect(authSchema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    const dataType = authSchema.properties.dataType;
    const allowed = dataType?.const !== undefined ? [dataType.const] : dataType?.enum;
    expect(allowed).toEqual(['xdm']);
    expect(authSchema.required).toEqual(['dataType']);
    expect(Object.keys(authSchema.properties)).toEqual(
      expect.arrayContaining(['sourceId', 'dataType', 'name', 'authenticationRequired']),
    );
  });

  it('is frozen', () => {
    expect(Object.isFrozen(streamingConnector)).toBe(true);
    expect(Object.isFrozen(streamingConnector.connectionSpec)).toBe(true);
    expect(Object.isFrozen(authSchema.properties)).toBe(true);
    expect(Reflect.set(streamingConnector.connectionSpec, 'providerId', 'changed')).toBe(false);
  });
});

describe('streaming parseCredentials', () => {
  it("accepts seed 001's auth params, authenticated or not", () => {
    const params = { sourceId: 'Sample connection', dataType: 'xdm', name: 'Sample connection' };
    expect(streamingConnector.parseCredentials(STREAMING_AUTH_SPEC_NAME, params)).toEqual(params);
    const authenticated = { ...params, authenticationRequired: true };
    expect(streamingConnector.parseCredentials(STREAMING_AUTH_SPEC_NAME, authenticated)).toEqual(
      authenticated,
    );
    expect(streamingConnector.parseCredentials(STREAMING_AUTH_SPEC_NAME, { dataType: 'xdm' })).toEqual({
      dataType: 'xdm',
    });
  });

  it('rejects dataType "raw", naming auth.params.dataType', () => {
    const error = credentialsError({ sourceId: 's', dataType: 'raw', name: 'n' });
    expect(error.message).toContain('auth.params.dataType');
    expect(error.issues.map((i) => i.path)).toEqual(['auth.params.dataType']);
  });

  it('names a missing dataType, and a non-boolean authenticationRequired', () => {
    expect(credentialsError({ sourceId: 's' }).issues.map((i) => i.path)).toEqual(['auth.params.dataType']);
    expect(
      credentialsError({ dataType: 'xdm', authenticationRequired: 'yes' }).issues.map((i) => i.path),
    ).toEqual(['auth.params.authenticationRequired']);
  });

  it('rejects an unknown auth spec name, naming auth.specName', () => {
    const error = thrownBy(() => streamingConnector.parseCredentials('Access Key', { dataType: 'xdm' }));
    expect(InflowValidationError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain('auth.specName');
  });
});
