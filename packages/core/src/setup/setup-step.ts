import type { FlowServiceRequests } from '../client/requests.js';
import type { ApiRequest } from '../http/transport.js';

/** What a setup step sees when it builds its request. */
export interface SetupContext<TInput> {
  /** The validated setup input (names, credentials, ids the user supplied). */
  input: TInput;
  /**
   * What earlier steps produced, by output name. While planning these are placeholders such as
   * `{CONNECTION_ID}`; while applying, the real values.
   */
  outputs: Readonly<Record<string, string>>;
  /** Builders for every request the typed client knows. */
  api: FlowServiceRequests;
}

/** Where to find one output in a step's response body, and what to say when it is missing. */
export interface OutputSource {
  /** A path into the response body: `id`, `items[0].id`, `items[0].auth.params.inletUrl`. */
  path: string;
  /** Why it may be missing, said to the user (e.g. `the service has no "amazon-s3" connection spec`). */
  missing?: string;
}

/**
 * One step of a source's documented tutorial ("look up the spec", "create the base connection",
 * "read the inlet URL"): one request, and the outputs taken from its response.
 */
export interface SetupStepV1<TInput> {
  /** Stable and unique within the connector, e.g. `createConnection`. Saved in resume state. */
  id: string;
  /** One line for people, e.g. `Create the S3 base connection`. */
  title: string;
  /** Builds the request from the input and earlier outputs. Must not send anything itself. */
  request: (ctx: SetupContext<TInput>) => ApiRequest;
  /**
   * Output name → where it is in the response. Names are unique across the connector's steps;
   * later steps read them from `ctx.outputs`, and `apply()` returns them all.
   */
  produces: Readonly<Record<string, string | OutputSource>>;
}
