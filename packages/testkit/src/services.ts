// What the integration tier's global setup (scripts/services/vitest-global-setup.ts) provides.
// Loads vitest's types, so that `ProvidedContext` can be augmented below.
import type {} from 'vitest';

/** What `inject('postgres')` returns in an integration or conformance test. */
export interface TestPostgres {
  host: string;
  port: number;
  /** A database created for this run, owned by `user`. */
  database: string;
  /** A login role (not a superuser) with `password`. */
  user: string;
  password: string;
  /** A superuser URL, for what the test role may not do (e.g. a role without rights). */
  adminUrl: string;
}

/**
 * What `inject('s3')` returns: a real S3 server (radosgw, which verifies SigV4) and the key pair
 * of a user on it. Clients must use path-style addressing (`forcePathStyle: true`).
 */
export interface TestS3 {
  /** `http://127.0.0.1:PORT`. */
  endpoint: string;
  /** The signing region, `us-east-1`. */
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: TestPostgres;
    s3: TestS3;
  }
}
