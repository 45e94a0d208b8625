import { type AuthSpecDefinition, defineSourceConnector, InflowValidationError, secret } from '@inflow/core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';

const SPEC_ID = '11111111-2222-4333-8444-555555555555';
const PROVIDER = '0ed90a81-07f4-4586-8190-b40eccef1c5a';
const creds = z.object({
  user: z.string().min(1),
  password: secret('Password for the user account'),
  port: z.number().int().default(21),
});

function valid() {
  return {
    id: 'ftp',
    displayName: 'FTP',
    spec: {
      id: SPEC_ID,
      name: 'ftp',
      providerId: PROVIDER,
      version: '1.0',
      description: 'FTP files',
      category: 'CloudStorage',
    },
    auth: [{ name: 'Basic Authentication', type: 'BasicAuthentication', schema: creds }] as const,
    sourceParams: z.object({ path: z.string(), token: secret().optional() }),
    setup: {
      input: z.object({ name: z.string(), credentials: creds }),
      steps: [
        {
          id: 'create',
          title: 'Create',
          request: ({
            api,
            input,
          }: {
            api: import('@inflow/core').FlowServiceRequests;
            input: { name: string };
          }) => api.connections.create({ name: input.name, connectionSpec: { id: SPEC_ID } }),
          produces: { connectionId: 'id' },
        },
      ],
    },
  };
}

describe('defineSourceConnector', () => {
  it('derives the connection spec JSON: draft-07 auth specs, secrets as password, required from the schema', () => {
    const c = defineSourceConnector(valid());
    expect(c.specificationVersion).toBe('v1');
    expect(c.connectionSpec).toMatchObject({
      id: SPEC_ID,
      name: 'ftp',
      providerId: PROVIDER,
      version: '1.0',
      attributes: { category: 'CloudStorage', isSource: true },
      authSpec: [
        {
          name: 'Basic Authentication',
          type: 'BasicAuthentication',
          spec: {
            $schema: 'http://json-schema.org/draft-07/schema#',
            type: 'object',
            description: 'defines auth params required for connecting to ftp',
            properties: {
              user: { type: 'string' },
              password: { type: 'string', format: 'password', description: 'Password for the user account' },
              port: { type: 'integer', default: 21 },
            },
            required: ['user', 'password'],
          },
        },
      ],
      sourceSpec: {
        spec: { properties: { path: { type: 'string' }, token: { format: 'password' } }, required: ['path'] },
      },
    });
  });

  it('infers the credential type and freezes what it returns', () => {
    const c = defineSourceConnector(valid());
    const parsed = c.parseCredentials('Basic Authentication', { user: 'u', password: 'p' });
    expectTypeOf(parsed.port).toEqualTypeOf<number>();
    expect(parsed).toEqual({ user: 'u', password: 'p', port: 21 });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.connectionSpec)).toBe(true);
    expect(Object.isFrozen(c.connectionSpec.authSpec?.[0]?.spec)).toBe(true);
    expect(Object.isFrozen(c.setup.steps)).toBe(true);
    expect(() => {
      (c.connectionSpec as { id: string }).id = 'x';
    }).toThrow(TypeError);
  });

  it('rejects credentials naming each bad field and never echoing a value', () => {
    const c = defineSourceConnector(valid());
    const err = (() => {
      try {
        c.parseCredentials('Basic Authentication', { user: '', password: 42, port: 'CANARY-port-9911' });
      } catch (e) {
        return e;
      }
    })() as InflowValidationError;
    expect(InflowValidationError.isInstance(err)).toBe(true);
    expect(err.issues.map((i) => i.path)).toEqual([
      'auth.params.user',
      'auth.params.password',
      'auth.params.port',
    ]);
    expect(err.message).not.toContain('CANARY-port-9911');
    expect(() => c.parseCredentials('Basic Authentication', { user: 'u' })).toThrow(
      /auth\.params\.password is required/,
    );
    expect(() => c.parseCredentials('OAuth', {})).toThrow(
      /auth.specName "OAuth" is not an auth spec of ftp: use one of "Basic Authentication"/,
    );
  });

  it('validates source connection params, redacting secrets', () => {
    const c = defineSourceConnector(valid());
    expect(c.parseSourceParams({ path: '/a' })).toEqual({ path: '/a' });
    expect(() => c.parseSourceParams({ token: 'CANARY-tok-12345' })).toThrow(/params\.path is required/);
  });

  it('lists every problem of a bad definition', () => {
    const bad = valid();
    const def = {
      ...bad,
      id: 'FTP!',
      spec: { ...bad.spec, id: 'not-a-uuid', version: '1', providerId: 'p' },
      setup: { ...bad.setup, steps: [bad.setup.steps[0], bad.setup.steps[0]] },
    };
    let caught: unknown;
    try {
      defineSourceConnector(def as unknown as ReturnType<typeof valid>);
    } catch (e) {
      caught = e;
    }
    expect(InflowValidationError.isInstance(caught)).toBe(true);
    expect((caught as InflowValidationError).issues.map((i) => i.path)).toEqual([
      'id',
      'spec.id',
      'spec.providerId',
      'spec.version',
      'setup.steps.1.id',
      'setup.steps.1.produces.connectionId',
    ]);
  });

  it("needs an auth spec unless the source says auth: 'none'", () => {
    expect(() =>
      defineSourceConnector({ ...valid(), auth: [] as unknown as readonly AuthSpecDefinition[] }),
    ).toThrow(/auth needs at least one auth spec/);
    const none = defineSourceConnector({ ...valid(), auth: 'none' });
    expect(none.connectionSpec.authSpec).toEqual([]);
    expect(none.connectionSpec.sourceSpec?.attributes).toMatchObject({ baseConnectionRequired: false });
    expect(() => none.parseCredentials('Basic Authentication', {})).toThrow(/has no base connection/);
  });

  it('rejects duplicate auth spec names and non-function verbs', () => {
    const v = valid();
    expect(() =>
      defineSourceConnector({ ...v, auth: [v.auth[0], v.auth[0]], test: 'yes' as unknown as undefined }),
    ).toThrow(/auth\.1\.name "Basic Authentication" is used twice; test must be a function/);
  });
});
