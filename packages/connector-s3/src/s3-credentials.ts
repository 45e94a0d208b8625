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
    bucketName: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
        'must be a bucket name: 3 to 63 lower-case letters, digits, dots and hyphens',
      )
      .optional()
      .describe('Restricts the connection to this bucket (for keys that may not list every bucket)'),
    folderPath: z
      .string()
      .optional()
      .describe('Restricts the connection to this folder of bucketName, e.g. campaigns/2024'),
  })
  .describe('defines auth params required for connecting to amazon-s3');

export type S3Credentials = z.output<typeof s3Credentials>;

/** The file formats `read` and `preview` parse (the source connection's `data.format`). */
export const S3_FILE_TYPES = ['delimited', 'json', 'parquet'] as const;
export type S3FileType = (typeof S3_FILE_TYPES)[number];

/** Compression of delimited and JSON files (`data.properties.compressionType`). */
export const S3_COMPRESSION_TYPES = ['none', 'gzip'] as const;

/** Text encodings of delimited files (`data.properties.encoding`). */
export const S3_ENCODINGS = ['UTF-8', 'ISO-8859-1'] as const;

/** A column delimiter: one character, or `\t` written as two characters (the reader maps it to a tab). */
export const columnDelimiter = z
  .string()
  .refine((value) => value === '\\t' || (value.length === 1 && !'"\r\n'.includes(value)), {
    message: 'must be one character (or \\t), not a quote or a line break',
  });

/**
 * A source connection's `params` (reference §3.4, cloud storage), plus the file format the
 * flow reads it with: the server copies the source connection's `data.format` into `fileType`
 * and `data.properties` (`columnDelimiter`, `compressionType`, `encoding`) beside `path`.
 */
export const s3SourceParams = z.object({
  path: z
    .string()
    .min(1)
    .describe(
      'A file or folder path starting with the bucket, e.g. /acme/summerCampaign/account.csv; * globs allowed',
    ),
  type: z.enum(['file', 'folder']).optional().describe('Whether path is a file or a folder'),
  recursive: z.boolean().optional().describe('Read sub-folders too'),
  fileType: z
    .enum(S3_FILE_TYPES)
    .optional()
    .describe(
      "delimited, json or parquet; by each file's extension when absent (.csv, .tsv, .json, .jsonl, .parquet)",
    ),
  columnDelimiter: columnDelimiter.optional().describe('The column delimiter of delimited files, default ,'),
  compressionType: z
    .enum(S3_COMPRESSION_TYPES)
    .optional()
    .describe('gzip or none; by the .gz extension when absent'),
  encoding: z.enum(S3_ENCODINGS).optional().describe('The text encoding of delimited files, default UTF-8'),
});

export type S3SourceParams = z.output<typeof s3SourceParams>;
