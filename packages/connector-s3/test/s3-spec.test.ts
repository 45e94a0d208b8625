import { S3_AUTH_SPEC_NAME, S3_CONNECTION_SPEC_ID, s3Connector } from '@inflow/connector-s3';
import { InflowValidationError } from '@inflow/core';
import { thrownBy } from '@inflow/testkit';
import { describe, expect, it } from 'vitest';

const SECRET = 'CANARY-s3-secret-7f3a9c';
const GOOD = { s3AccessKey: 'AKIAIOSFODNN7EXAMPLE', s3SecretKey: SECRET };

type ObjectSchema = {
  $schema?: string;
  type?: string;
  properties: Record<string, Record<string, unknown>>;
  required?: string[];
};

const authSpec = s3Connector.connectionSpec.authSpec?.[0];
const authSchema = authSpec?.spec as ObjectSchema;

/** The validation error `parseCredentials` throws for `params`. */
function credentialsError(params: unknown): InflowValidationError {
  const error = thrownBy(() => s3Connector.parseCredentials(S3_AUTH_SPEC_NAME, params));
  expect(InflowValidationError.isInstance(error), String(error)).toBe(true);
  return error as InflowValidationError;
}

describe('S3 connection spec JSON', () => {
  it('carries the documented ids (seed 000)', () => {
    const spec = s3Connector.connectionSpec;
    expect(spec.id).toBe('ecadc60c-7455-4d87-84dc-2a0e293d997b');
    expect(S3_CONNECTION_SPEC_ID).toBe(spec.id);
    expect(spec.name).toBe('amazon-s3');
    expect(spec.providerId).toBe('0ed90a81-07f4-4586-8190-b40eccef1c5a');
    expect(spec.version).toBe('1.0');
    expect(spec.authSpec).toHaveLength(1);
    expect(authSpec?.name).toBe('Access Key');
  });

  it('derives a draft-07 auth schema with s3SecretKey as a password', () => {
    expect(authSchema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(authSchema.type).toBe('object');
    expect(Object.keys(authSchema.properties)).toEqual(
      expect.arrayContaining(['s3AccessKey', 's3SecretKey']),
    );
    expect(authSchema.properties.s3SecretKey?.format).toBe('password');
    expect(authSchema.properties.s3AccessKey?.format).toBeUndefined();
    expect(authSchema.required).toEqual(['s3AccessKey', 's3SecretKey']);
  });

  it('is frozen, deep down', () => {
    expect(Object.isFrozen(s3Connector)).toBe(true);
    expect(Object.isFrozen(s3Connector.connectionSpec)).toBe(true);
    expect(Object.isFrozen(authSchema.properties.s3SecretKey)).toBe(true);
    expect(Reflect.set(s3Connector.connectionSpec, 'id', 'changed')).toBe(false);
    expect(Reflect.set(s3Connector, 'id', 'changed')).toBe(false);
    expect(s3Connector.connectionSpec.id).toBe('ecadc60c-7455-4d87-84dc-2a0e293d997b');
  });
});

describe('S3 parseCredentials', () => {
  it('accepts the documented key pair, and the optional S3-compatible fields', () => {
    expect(s3Connector.parseCredentials(S3_AUTH_SPEC_NAME, GOOD)).toEqual(GOOD);
    const full = { ...GOOD, serviceUrl: 'http://127.0.0.1:7480', region: 'eu-west-1', s3SessionToken: 'tok' };
    expect(s3Connector.parseCredentials(S3_AUTH_SPEC_NAME, full)).toEqual(full);
  });

  it('names a missing s3SecretKey', () => {
    const error = credentialsError({ s3AccessKey: GOOD.s3AccessKey });
    expect(error.message).toContain('auth.params.s3SecretKey');
    expect(error.issues.map((i) => i.path)).toEqual(['auth.params.s3SecretKey']);
  });

  it('names an empty s3SecretKey', () => {
    const error = credentialsError({ s3AccessKey: GOOD.s3AccessKey, s3SecretKey: '' });
    expect(error.message).toContain('auth.params.s3SecretKey');
    expect(error.issues.map((i) => i.path)).toEqual(['auth.params.s3SecretKey']);
  });

  it.each([
    { field: 's3AccessKey', params: { ...GOOD, s3AccessKey: '' } },
    { field: 'region', params: { ...GOOD, region: 'Not A Region' } },
    { field: 'serviceUrl', params: { ...GOOD, serviceUrl: 'ftp://example.com' } },
  ])('names a bad $field and never echoes the secret passed beside it', ({ field, params }) => {
    const error = credentialsError(params);
    expect(error.issues.map((i) => i.path)).toEqual([`auth.params.${field}`]);
    expect(error.message).toContain(`auth.params.${field}`);
    expect(error.message).not.toContain(SECRET);
    expect(JSON.stringify(error.issues)).not.toContain(SECRET);
  });

  it('rejects an unknown auth spec name, naming auth.specName', () => {
    const error = thrownBy(() => s3Connector.parseCredentials('Basic', GOOD));
    expect(InflowValidationError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain('auth.specName');
    expect((error as Error).message).not.toContain(SECRET);
  });
});
