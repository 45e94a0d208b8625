import { secret } from '@inflow/core';
import { z } from 'zod';

/**
 * The S3 base connection's `auth.params` (seed 000: `s3AccessKey`, `s3SecretKey`; the real
 * service's `required` lists these two, whatever the seed's typo says). `serviceUrl` and
 * `region` reach S3-compatible stores (path-style addressing).
 */
export const s3Credentials = z
  .object({
    s3AccessKey: z.string().min(1, 'must not be empty').describe('access key id'),
    s3SecretKey: secret('Secret access key for the user account'),
    s3SessionToken: secret('Session token of temporary credentials (STS)').optional(),
    serviceUrl: z
      .url({
        protocol: /^https?$/,
        error: 'must be an http(s) URL such as https://s3.eu-west-1.amazonaws.com',
      })
      .optional()
      .describe(
        'Endpoint of an S3-compatible store, e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:7480',
      ),
    region: z
      .string()
      .regex(/^[a-z0-9-]+$/, 'must be a region name such as us-east-1')
      .optional()
      .describe('Signing region, default us-east-1'),
  })
  .describe('defines auth params required for connecting to amazon-s3');

export type S3Credentials = z.output<typeof s3Credentials>;

/** A source connection's `params`: what to read (reference §3.4, cloud storage). */
export const s3SourceParams = z.object({
  path: z
    .string()
    .min(1)
    .describe(
      'A file or folder path starting with the bucket, e.g. /acme/summerCampaign/account.csv; * globs allowed',
    ),
  type: z.enum(['file', 'folder']).optional().describe('Whether path is a file or a folder'),
  recursive: z.boolean().optional().describe('Read sub-folders too'),
});

export type S3SourceParams = z.output<typeof s3SourceParams>;
