import { maskBySchema, REDACTED, redact, secret, secretValues, toJsonSchema } from '@inflow/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

describe('secret()', () => {
  it('is a non-empty string that the JSON Schema marks format: password', () => {
    const schema = z.object({ user: z.string(), password: secret('the password') });
    expect(toJsonSchema(schema)).toMatchObject({
      properties: {
        user: { type: 'string' },
        password: { type: 'string', format: 'password', description: 'the password' },
      },
      required: ['user', 'password'],
    });
    expect(schema.safeParse({ user: 'u', password: '' }).success).toBe(false);
    expect(schema.parse({ user: 'u', password: 'p' }).password).toBe('p');
  });
});

describe('redact()', () => {
  it('masks whole values and occurrences inside text, deep in objects and arrays, without touching the input', () => {
    const input = {
      auth: { params: { key: 'AKIA', secret: 'sUp3r-s3cret' } },
      url: 'postgres://u:sUp3r-s3cret@h/db',
      list: ['sUp3r-s3cret', 1, null, { deep: 'x sUp3r-s3cret y' }],
    };
    const out = redact(input, ['sUp3r-s3cret', undefined, '']);
    expect(out).toEqual({
      auth: { params: { key: 'AKIA', secret: REDACTED } },
      url: `postgres://u:${REDACTED}@h/db`,
      list: [REDACTED, 1, null, { deep: `x ${REDACTED} y` }],
    });
    expect(input.auth.params.secret).toBe('sUp3r-s3cret');
  });

  it('masks a short secret only where it is the whole value', () => {
    expect(redact({ a: 'ab', b: 'abc ab' }, ['ab'])).toEqual({ a: REDACTED, b: 'abc ab' });
  });

  it('masks the longer of overlapping secrets first and copes with cycles and errors', () => {
    const cyclic: Record<string, unknown> = { s: 'token-1234-extra' };
    cyclic.self = cyclic;
    const out = redact(cyclic, ['token-1234', 'token-1234-extra']) as Record<string, unknown>;
    expect(out.s).toBe(REDACTED);
    expect(out.self).toBe(out);
    expect(redact(new Error('bad token-1234'), ['token-1234']).message).toBe(`bad ${REDACTED}`);
  });
});

describe('secretValues() and maskBySchema()', () => {
  const schema = toJsonSchema(
    z.object({
      name: z.string(),
      password: secret(),
      nested: z.object({ apiKey: secret().optional(), id: z.string() }).optional(),
      tokens: z.array(secret()).optional(),
    }),
  );

  it('finds every value at a format: password place', () => {
    expect(
      secretValues(schema, {
        name: 'n',
        password: 'p1',
        nested: { apiKey: 'k1', id: 'i' },
        tokens: ['t1', 't2'],
        extra: 'e',
      }),
    ).toEqual(['p1', 'k1', 't1', 't2']);
  });

  it('masks them, leaving everything else', () => {
    expect(maskBySchema(schema, { name: 'n', password: 'p1', nested: { id: 'i' } })).toEqual({
      name: 'n',
      password: REDACTED,
      nested: { id: 'i' },
    });
  });
});
