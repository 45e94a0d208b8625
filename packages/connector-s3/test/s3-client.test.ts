import { createServer, type Server } from 'node:http';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3_AUTH_SPEC_NAME, S3Error, s3Connector } from '@inflow/connector-s3';
import { rejectionOf } from '@inflow/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Failure } from '../src/s3-client.js';

const SECRET = 'CANARY-s3-client-secret-5b1e';

/**
 * An S3 endpoint that answers every GET of `/<bucket>/<status>/<Code>` with that status and an
 * S3 error document of that code: what S3 and S3-compatible servers send.
 */
let server: Server;
let endpoint: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    const [, , status, code] = (req.url ?? '').split('?')[0]?.split('/') ?? [];
    res.writeHead(Number(status), { 'content-type': 'application/xml', 'x-amz-request-id': 'req-1' });
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code} happened</Message><RequestId>req-1</RequestId></Error>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** What the real SDK throws for that answer, as `s3Failure` explains it. */
async function failureFor(status: number, code: string): Promise<S3Error> {
  const credentials = s3Connector.parseCredentials(S3_AUTH_SPEC_NAME, {
    s3AccessKey: 'AKIAIOSFODNN7EXAMPLE',
    s3SecretKey: SECRET,
    serviceUrl: endpoint,
  });
  // One attempt: the SDK would retry the transient ones itself before giving up the same way.
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: credentials.s3AccessKey, secretAccessKey: credentials.s3SecretKey },
  });
  try {
    const error = await rejectionOf(
      client.send(new GetObjectCommand({ Bucket: 'acme', Key: `${status}/${code}` })),
    );
    return s3Failure(error, credentials, 'reading /acme/in/a.csv');
  } finally {
    client.destroy();
  }
}

describe('s3Failure: transient S3 answers are retryable whatever their status, by error code', () => {
  it.each([
    // The AWS SDK's TRANSIENT_ERROR_CODES and THROTTLING_ERROR_CODES, with the statuses S3 uses.
    [400, 'RequestTimeout'],
    [400, 'RequestTimeoutException'],
    [400, 'IncompleteBody'],
    [503, 'SlowDown'],
    [400, 'Throttling'],
    [400, 'ThrottlingException'],
    [400, 'RequestLimitExceeded'],
    [400, 'BandwidthLimitExceeded'],
    [400, 'EC2ThrottledException'],
    [400, 'PriorRequestNotComplete'],
    [400, 'TooManyRequestsException'],
    [429, 'TooManyRequests'],
    [500, 'InternalError'],
    [503, 'ServiceUnavailable'],
  ])('HTTP %i %s → network, retryable', async (status, code) => {
    const failure = await failureFor(status, code);
    expect(S3Error.isInstance(failure)).toBe(true);
    expect(failure).toMatchObject({ code: 'network', s3Code: code, status, isRetryable: true });
    expect(failure.message).toBe(
      `${endpoint} answered HTTP ${status} (${code}) while reading /acme/in/a.csv`,
    );
  });

  it.each([
    [400, 'InvalidArgument', 'invalid'],
    [400, 'InvalidRequest', 'invalid'],
    [400, 'EntityTooLarge', 'invalid'],
    [403, 'AccessDenied', 'permission'],
    [403, 'SignatureDoesNotMatch', 'auth_failed'],
    [404, 'NoSuchBucket', 'not_found'],
    [404, 'NoSuchKey', 'not_found'],
    [416, 'InvalidRange', 'invalid'],
  ])('HTTP %i %s → %s, not retryable', async (status, code, expected) => {
    const failure = await failureFor(status, code);
    expect(failure).toMatchObject({ code: expected, s3Code: code, status, isRetryable: false });
    expect(failure.message).not.toContain(SECRET);
  });
});
