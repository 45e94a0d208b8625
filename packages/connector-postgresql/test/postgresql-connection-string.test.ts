import {
  type ParseResult,
  POSTGRESQL_AUTH_SPEC_NAME,
  type PostgresConnectionSettings,
  parseConnectionString,
  postgresqlConnector,
} from '@inflow/connector-postgresql';
import { InflowValidationError } from '@inflow/core';
import { thrownBy } from '@inflow/testkit';
import { describe, expect, it } from 'vitest';

const BASE = 'Server=pg.acme.test;Database=crm;UID=inflow_reader';

function parsed(input: string): PostgresConnectionSettings {
  const result: ParseResult = parseConnectionString(input);
  if (!result.ok) throw new Error(`expected ${JSON.stringify(input)} to parse, got: ${result.error}`);
  return result.value;
}

function failure(input: string): string {
  const result = parseConnectionString(input);
  if (result.ok)
    throw new Error(`expected ${JSON.stringify(input)} to be rejected, got ${JSON.stringify(result.value)}`);
  return result.error;
}

describe('parseConnectionString: what parses', () => {
  it('parses the documented pattern (seed 002)', () => {
    expect(parsed('Server=pg.acme.test;Database=crm;Port=6543;UID=inflow_reader;Password=s3cret')).toEqual({
      server: 'pg.acme.test',
      database: 'crm',
      port: 6543,
      user: 'inflow_reader',
      password: 's3cret',
    });
  });

  it('reads keys in any case', () => {
    expect(parsed('server=h;DATABASE=d;uid=u;PassWord=p;pORT=5433')).toEqual({
      server: 'h',
      database: 'd',
      port: 5433,
      user: 'u',
      password: 'p',
    });
  });

  it('defaults Port to 5432', () => {
    expect(parsed(`${BASE};Password=p`).port).toBe(5432);
  });

  it.each([
    { quoted: '"a;b"', password: 'a;b' },
    { quoted: "'a;b'", password: 'a;b' },
    { quoted: '"say ""hi"";x"', password: 'say "hi";x' },
    { quoted: "'it''s;ok'", password: "it's;ok" },
  ])('reads the quoted value $quoted as $password', ({ quoted, password }) => {
    const value = parsed(`${BASE};Password=${quoted};Port=5433`);
    expect(value.password).toBe(password);
    // What follows the closing quote is still read.
    expect(value.port).toBe(5433);
  });

  it('reads SSLMode, in any case', () => {
    expect(parsed(`${BASE};Password=p;SSLMode=require`).sslMode).toBe('require');
    expect(parsed(`${BASE};Password=p;sslmode=Verify-Full`).sslMode).toBe('verify-full');
    expect(parsed(`${BASE};Password=p`).sslMode).toBeUndefined();
  });

  it("maps Adobe's EncryptionMethod=1;ValidateServerCertificate=0 to require", () => {
    expect(parsed(`${BASE};Password=p;EncryptionMethod=1;ValidateServerCertificate=0`).sslMode).toBe(
      'require',
    );
    expect(parsed(`${BASE};Password=p;EncryptionMethod=1;ValidateServerCertificate=1`).sslMode).toBe(
      'verify-full',
    );
    expect(parsed(`${BASE};Password=p;EncryptionMethod=0`).sslMode).toBe('disable');
  });
});

describe('parseConnectionString: what is rejected', () => {
  it('checks every TLS key and refuses conflicting or dangling ones', () => {
    const pw = ';Password=pw';
    expect(failure(`${BASE}${pw};SSLMode=require;EncryptionMethod=banana`)).toBe(
      'give either SSLMode or EncryptionMethod/ValidateServerCertificate, not both',
    );
    expect(failure(`${BASE}${pw};SSLMode=disable;EncryptionMethod=1;ValidateServerCertificate=1`)).toMatch(
      /not both/,
    );
    expect(failure(`${BASE}${pw};ValidateServerCertificate=7`)).toBe(
      'ValidateServerCertificate must be 0 or 1',
    );
    expect(failure(`${BASE}${pw};ValidateServerCertificate=1`)).toBe(
      'ValidateServerCertificate applies only with EncryptionMethod=1',
    );
    expect(failure(`${BASE}${pw};EncryptionMethod=2`)).toMatch(/^EncryptionMethod must be 0/);
    expect(parsed(`${BASE}${pw};EncryptionMethod=0`).sslMode).toBe('disable');
    expect(parsed(`${BASE}${pw};EncryptionMethod=6`).sslMode).toBe('prefer');
    expect(parsed(`${BASE}${pw};EncryptionMethod=1`).sslMode).toBe('verify-full');
  });

  it('hints at quoting when a key repeats after an unquoted password, without echoing it', () => {
    const error = failure(`${BASE};Password=pa55;Server=x`);
    expect(error).toBe('Server is given twice (quote a Password that holds ";": Password="a;b")');
    expect(error).not.toContain('pa55');
  });

  it('rejects an unknown SSLMode, naming SSLMode', () => {
    expect(failure(`${BASE};Password=p;SSLMode=sometimes`)).toContain('SSLMode');
  });

  it.each([
    { key: 'Server', input: 'Database=d;Port=5432;UID=u;Password=p' },
    { key: 'Database', input: 'Server=h;Port=5432;UID=u;Password=p' },
    { key: 'UID', input: 'Server=h;Database=d;Port=5432;Password=p' },
    { key: 'Password', input: 'Server=h;Database=d;Port=5432;UID=u' },
  ])('names a missing $key', ({ key, input }) => {
    expect(failure(input)).toContain(`missing ${key}=`);
  });

  it.each(['abc', '70000', '0', '-1'])('rejects Port=%s, naming Port', (port) => {
    expect(failure(`${BASE};Password=p;Port=${port}`)).toContain('Port must be a number');
  });

  it.each([
    { password: 'pa55;Tail=rest', parts: ['pa55', 'Tail', 'rest'] },
    { password: 'pa55;Extra Key=rest', parts: ['pa55', 'Extra', 'rest'] },
    { password: 'pa55;Tail', parts: ['pa55', 'Tail'] },
    { password: 'pa55;Port=xyzzy', parts: ['pa55', 'xyzzy'] },
    { password: 'pa55;Server=elsewhere', parts: ['pa55', 'elsewhere'] },
  ])('never echoes the unquoted password $password', ({ password, parts }) => {
    for (const input of [
      `${BASE};Password=${password}`,
      `Password=${password};${BASE}`,
      `${BASE};pwd=${password}`,
    ]) {
      const error = failure(input);
      for (const part of parts) expect(error, input).not.toContain(part);
    }
  });

  it('through parseCredentials: names auth.params.connectionString and hides the password', () => {
    const password = 'CANARY-pg-pass-41d2';
    const error = thrownBy(() =>
      postgresqlConnector.parseCredentials(POSTGRESQL_AUTH_SPEC_NAME, {
        connectionString: `${BASE};Port=99999;Password=${password}`,
      }),
    );
    expect(InflowValidationError.isInstance(error), String(error)).toBe(true);
    const message = (error as InflowValidationError).message;
    expect(message).toContain('auth.params.connectionString');
    expect(message).toContain('Port');
    expect(message).not.toContain(password);
  });
});
