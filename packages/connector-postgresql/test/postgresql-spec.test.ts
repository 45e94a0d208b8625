import {
  POSTGRESQL_AUTH_SPEC_NAME,
  POSTGRESQL_CONNECTION_SPEC_ID,
  postgresqlConnector,
} from '@inflow/connector-postgresql';
import { InflowValidationError } from '@inflow/core';
import { thrownBy } from '@inflow/testkit';
import { describe, expect, it } from 'vitest';

const PASSWORD = 'CANARY-pg-pass-41d2';
const GOOD = `Server=pg.acme.test;Database=crm;Port=5432;UID=inflow_reader;Password=${PASSWORD}`;

type ObjectSchema = {
  $schema?: string;
  properties: Record<string, Record<string, unknown>>;
  required?: string[];
};

const authSpec = postgresqlConnector.connectionSpec.authSpec?.[0];
const authSchema = authSpec?.spec as ObjectSchema;

function credentialsError(params: unknown): InflowValidationError {
  const error = thrownBy(() => postgresqlConnector.parseCredentials(POSTGRESQL_AUTH_SPEC_NAME, params));
  expect(InflowValidationError.isInstance(error), String(error)).toBe(true);
  return error as InflowValidationError;
}

describe('PostgreSQL connection spec JSON', () => {
  it('carries the documented ids (seed 002)', () => {
    const spec = postgresqlConnector.connectionSpec;
    expect(spec.id).toBe('74a1c565-4e59-48d7-9d67-7c03b8a13137');
    expect(POSTGRESQL_CONNECTION_SPEC_ID).toBe(spec.id);
    expect(spec.version).toBe('1.0');
    expect(spec.authSpec).toHaveLength(1);
    expect(authSpec?.name).toBe('Connection String Based Authentication');
  });

  it('derives a draft-07 auth schema whose connectionString is a required password', () => {
    expect(authSchema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(Object.keys(authSchema.properties)).toEqual(['connectionString']);
    expect(authSchema.properties.connectionString?.format).toBe('password');
    expect(authSchema.required).toEqual(['connectionString']);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(postgresqlConnector)).toBe(true);
    expect(Object.isFrozen(postgresqlConnector.connectionSpec)).toBe(true);
    expect(Object.isFrozen(authSchema.properties.connectionString)).toBe(true);
    expect(Reflect.set(postgresqlConnector.connectionSpec, 'id', 'changed')).toBe(false);
  });
});

describe('PostgreSQL parseCredentials', () => {
  it('accepts the documented connection string', () => {
    expect(
      postgresqlConnector.parseCredentials(POSTGRESQL_AUTH_SPEC_NAME, { connectionString: GOOD }),
    ).toEqual({
      connectionString: GOOD,
    });
  });

  it.each([
    { what: 'missing', params: {} },
    { what: 'empty', params: { connectionString: '' } },
    { what: 'not a string', params: { connectionString: 42 } },
  ])('names a $what connectionString', ({ params }) => {
    const error = credentialsError(params);
    expect(error.message).toContain('auth.params.connectionString');
    expect(error.issues.every((i) => i.path === 'auth.params.connectionString')).toBe(true);
  });

  it.each([
    { what: 'a bad port', value: GOOD.replace('Port=5432', 'Port=abc'), says: 'Port' },
    { what: 'no UID', value: `Server=h;Database=d;Password=${PASSWORD}`, says: 'UID' },
    { what: 'a bad SSLMode', value: `${GOOD};SSLMode=sometimes`, says: 'SSLMode' },
    { what: 'an unquoted ";" in the password', value: `${GOOD};tail=x`, says: 'quote a Password' },
  ])('rejects a string with $what, naming the field but not the password', ({ value, says }) => {
    const error = credentialsError({ connectionString: value });
    expect(error.message).toContain('auth.params.connectionString');
    expect(error.message).toContain(says);
    expect(error.message).not.toContain(PASSWORD);
    expect(JSON.stringify(error.issues)).not.toContain(PASSWORD);
  });
});
