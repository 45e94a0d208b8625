// Helpers for the tests that run against the real S3 server (radosgw) the int setup starts.
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { S3_AUTH_SPEC_NAME, type S3Credentials, s3Connector } from '@inflow/connector-s3';
import { inject } from 'vitest';

/** The test server, as the global setup provides it. */
export const s3 = () => inject('s3');

/** Connector credentials for the test user (or another secret, for failures). */
export function credentials(overrides: Partial<Record<keyof S3Credentials, string>> = {}): S3Credentials {
  const server = s3();
  return s3Connector.parseCredentials(S3_AUTH_SPEC_NAME, {
    s3AccessKey: server.accessKeyId,
    s3SecretKey: server.secretAccessKey,
    serviceUrl: server.endpoint,
    region: server.region,
    ...overrides,
  });
}

/** A plain SDK client for setting up fixtures (configured as TESTING.md says for radosgw). */
export function adminClient(): S3Client {
  const server = s3();
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A fresh bucket with a random name: the tests share the server. */
export async function createBucket(client: S3Client, stem = 'it'): Promise<string> {
  const name = `${stem}-${randomBytes(5).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

export async function put(
  client: S3Client,
  bucket: string,
  key: string,
  body: string | Uint8Array,
): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** Puts many small objects, a few at a time. */
export async function putMany(
  client: S3Client,
  bucket: string,
  objects: { key: string; body: string }[],
  concurrency = 16,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const o = objects[next++] as { key: string; body: string };
      await put(client, bucket, o.key, o.body);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Denies everyone (the owner too) listing and reading the bucket: a bucket without permission. */
export async function denyAll(client: S3Client, bucket: string): Promise<void> {
  await client.send(
    new PutBucketPolicyCommand({
      Bucket: bucket,
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Deny',
            Principal: '*',
            Action: ['s3:ListBucket', 's3:GetObject'],
            Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
          },
        ],
      }),
    }),
  );
}

/** Deletes a bucket and everything in it. */
export async function dropBucket(client: S3Client, bucket: string): Promise<void> {
  await client.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (keys.length === 0) break;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}
