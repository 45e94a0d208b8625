import { s3Connector } from '@inflow/connector-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, createBucket, credentials, denyAll, dropBucket, put } from './s3-fixture.js';

const test = s3Connector.test as NonNullable<typeof s3Connector.test>;
const WRONG_SECRET = 'CANARY-wrong-secret-1b7e40f2';

const client = adminClient();
let bucket: string;
let denied: string;
beforeAll(async () => {
  bucket = await createBucket(client, 'test-ok');
  await put(client, bucket, 'in/a.csv', 'id\n1\n');
  denied = await createBucket(client, 'test-denied');
  await denyAll(client, denied);
});
afterAll(async () => {
  await dropBucket(client, bucket);
  await dropBucket(client, denied);
  client.destroy();
});

/** No stack trace, and the secret nowhere. */
function expectClean(result: unknown, secret: string): void {
  const text = JSON.stringify(result);
  expect(text).not.toContain(secret);
  expect(text).not.toMatch(/\\n\s+at /);
}

describe('S3 test against radosgw', () => {
  it('accepts the key pair and counts the buckets', async () => {
    const result = await test(credentials());
    expect(result.ok).toBe(true);
    expect(result.message).toMatch(
      /the key pair was accepted by http:\/\/127\.0\.0\.1:\d+: it sees \d+ buckets?/,
    );
  });

  it('a wrong secret: auth_failed, saying the key pair was rejected, never echoing the secret', async () => {
    const result = await test(credentials({ s3SecretKey: WRONG_SECRET }));
    expect(result).toMatchObject({ ok: false, code: 'auth_failed' });
    expect(result.message).toContain('rejected the key pair (SignatureDoesNotMatch)');
    expect(result.message).toContain('check s3AccessKey and s3SecretKey');
    expectClean(result, WRONG_SECRET);
  });

  it('an unknown access key: auth_failed', async () => {
    const result = await test(credentials({ s3AccessKey: 'AKIANOSUCHKEY0000000' }));
    expect(result).toMatchObject({ ok: false, code: 'auth_failed' });
    expect(result.message).toContain('rejected the key pair (InvalidAccessKeyId)');
  });

  it('an endpoint nothing listens on: network, naming the host', async () => {
    const result = await test(credentials({ serviceUrl: 'http://127.0.0.1:9' }));
    expect(result).toMatchObject({ ok: false, code: 'network' });
    expect(result.message).toContain('cannot reach 127.0.0.1:9');
    expect(result.message).toContain('ECONNREFUSED');
    expectClean(result, credentials().s3SecretKey);
  });

  it('a host that does not resolve: network, naming the host', async () => {
    const result = await test(credentials({ serviceUrl: 'http://s3.nowhere.invalid:7480' }));
    expect(result).toMatchObject({ ok: false, code: 'network' });
    expect(result.message).toContain('cannot resolve host "s3.nowhere.invalid:7480"');
  });

  it('bucketName the key may list: ok', async () => {
    const result = await test(credentials({ bucketName: bucket, folderPath: 'in' }));
    expect(result).toMatchObject({ ok: true });
    expect(result.message).toContain(`may list bucket "${bucket}"`);
  });

  it('a bucket without permission: permission, saying so', async () => {
    const result = await test(credentials({ bucketName: denied }));
    expect(result).toMatchObject({ ok: false, code: 'permission' });
    expect(result.message).toContain(`has no permission to list bucket "${denied}" (AccessDenied)`);
  });

  it('a bucket that does not exist: not_found', async () => {
    const result = await test(credentials({ bucketName: `${bucket}-gone` }));
    expect(result).toMatchObject({ ok: false, code: 'not_found' });
    expect(result.message).toContain('NoSuchBucket');
  });
});
