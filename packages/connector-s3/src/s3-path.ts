import { InflowValidationError } from '@inflow/core';
import type { S3Credentials } from './s3-credentials.js';

/** A path split into its bucket and key: `/acme/in/a.csv` → `{bucket: 'acme', key: 'in/a.csv'}`. */
export interface S3Path {
  bucket: string;
  /** The key or key prefix, without a leading slash; `''` for the bucket itself; ends with `/` for a folder. */
  key: string;
}

const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;
/** S3's limit on a key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;

function invalid(field: string, message: string): InflowValidationError {
  return new InflowValidationError(`${field} ${message}`, [{ path: field, message }]);
}

/**
 * Parses a path that starts with the bucket (`/acme/in/`, `acme/in/a.csv`; the leading slash is
 * optional). Rejects what could escape the path or that no S3 key holds: `.` and `..`
 * segments, empty segments (`a//b`), control characters, a key over 1,024 bytes. `field` names
 * the input in the error (`object`, `params.path`).
 */
export function parsePath(text: string, field: string): S3Path {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) throw invalid(field, 'must not contain control characters');
  }
  const trimmed = text.replace(/^\/+/, '');
  if (trimmed === '') throw invalid(field, 'must start with a bucket, e.g. /acme/campaigns/');
  const folder = trimmed.endsWith('/');
  const segments = (folder ? trimmed.slice(0, -1) : trimmed).split('/');
  for (const segment of segments) {
    if (segment === '') throw invalid(field, 'must not contain empty segments (//)');
    if (segment === '.' || segment === '..') throw invalid(field, 'must not contain "." or ".." segments');
  }
  const [bucket = '', ...rest] = segments;
  if (!BUCKET.test(bucket)) {
    throw invalid(field, `starts with "${bucket}", which is not a bucket name`);
  }
  const key = rest.length === 0 ? '' : `${rest.join('/')}${folder ? '/' : ''}`;
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw invalid(field, 'names a key longer than 1,024 bytes');
  return { bucket, key };
}

/** `/bucket/key` as explore and messages show it. */
export function displayPath(bucket: string, key: string): string {
  return `/${bucket}/${key}`;
}

/**
 * Checks that a path lies inside the connection's `bucketName` and `folderPath`, when it names
 * them: a connection scoped to a folder never reads beside it.
 */
export function checkScope(path: S3Path, credentials: S3Credentials, field: string): void {
  if (!credentials.bucketName) return;
  const folder = scopeFolder(credentials);
  if (path.bucket !== credentials.bucketName || !path.key.startsWith(folder)) {
    throw invalid(
      field,
      `is outside this connection's bucket and folder (/${credentials.bucketName}/${folder}): the connection is scoped by bucketName${folder ? ' and folderPath' : ''}`,
    );
  }
}

/** `folderPath` as a key prefix: `campaigns/2024/`, or `''`. */
export function scopeFolder(credentials: S3Credentials): string {
  const folder = (credentials.folderPath ?? '').replace(/^\/+|\/+$/g, '');
  return folder ? `${folder}/` : '';
}

/** Whether a path holds a glob (`*` or `?`). */
export function hasGlob(key: string): boolean {
  return /[*?]/.test(key);
}

/**
 * The listing prefix and matcher of a glob key: `*` and `?` match within one segment, `**`
 * across segments. `in/*.csv` lists `in/` and keeps `in/a.csv`, not `in/sub/b.csv`.
 */
export function globMatcher(key: string): { prefix: string; test: (candidate: string) => boolean } {
  const first = key.search(/[*?]/);
  const prefix = key.slice(0, first);
  let source = '';
  for (let i = 0; i < key.length; i++) {
    const c = key[i] as string;
    if (c === '*' && key[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  const re = new RegExp(`^${source}$`);
  return { prefix, test: (candidate) => re.test(candidate) };
}
