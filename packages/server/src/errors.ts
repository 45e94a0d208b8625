import { XDM_ERRORS, XdmProblem } from './xdm/schema-registry.js';

/**
 * The service's own error shapes (reference §1.4): Flow Service problem details, the gateway's
 * `{error_code, message}`, and the RFC 7807 body for content-type problems. Routes throw these;
 * the app's error handler turns them into responses with the request id, in the shape of the API
 * family of the route the request matched, or else of its percent-decoded path (decision 0006).
 */

/** Titles of the Flow Service codes Inflow uses (reference §1.4 catalogue). */
const TITLES: Record<string, string> = {
  '1100': 'Invalid request',
  '1101': 'Resource not found',
  '1102': 'Internal Error',
  '1401': 'Invalid request',
  '1403': 'Header is missing',
  '1404': 'Version not matching',
  '1405': 'Invalid request',
  '1410': 'Invalid request',
  '1413': 'Invalid request',
  '1414': 'Invalid request',
  '1415': 'Invalid request',
  '1418': 'Invalid request',
  '1422': 'Invalid request',
  '1432': 'Invalid request',
  '1433': 'Invalid request',
  '1434': 'Invalid request',
  '1439': 'Resource not found',
  '1440': 'Invalid request',
  '1443': 'Invalid request',
  '1448': 'Invalid request',
  '1449': 'Invalid request',
  '1450': 'Invalid request',
  '1451': 'Invalid request',
  '1452': 'Invalid request',
  '1453': 'Invalid request',
  '1455': 'Invalid request',
  '1460': 'Invalid request',
  '1461': 'Payload too large',
  '1462': 'Unsupported media type',
  '1463': 'Request timeout',
  '2000': 'Invalid authorization token',
  '2100': 'Sandbox not found',
  '2105': 'Header is missing',
};

/**
 * A Flow Service problem. `code` is `NNNN-SSS` (e.g. `1404-412`); the HTTP status is its tail.
 * Inflow's own codes start at 1460 (1460-400: a field failed validation; the message names it).
 */
export class FlowProblem extends Error {
  readonly code: string;
  readonly status: number;
  readonly extra: Record<string, unknown>;

  constructor(code: string, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.code = code;
    this.status = Number(code.split('-')[1]);
    this.extra = extra;
  }

  /** The catalogue title of the code. */
  get title(): string {
    return TITLES[this.code.split('-')[0] as string] ?? 'Invalid request';
  }

  body(requestId: string): Record<string, unknown> {
    return {
      type: `https://ns.adobe.com/aep/errors/FLOW-${this.code}`,
      title: this.title,
      status: this.status,
      report: { 'detailed-message': this.message, 'request-id': requestId, ...this.extra },
      errorMessage: this.message,
      errorDetails: this.message,
    };
  }
}

/** An API gateway error (`{error_code, message}`), as for missing or bad credentials headers. */
export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }

  body(): Record<string, unknown> {
    return { error_code: this.errorCode, message: this.message };
  }
}

/** The 404 of a resource that does not exist in this org and sandbox (or was deleted). */
export function notFound(kind: string, id: string): FlowProblem {
  return new FlowProblem(
    '1439-404',
    `The requested ${kind} resource ${id} is not found. Verify the resource ID before trying again.`,
    { id, type: kind },
  );
}

/** A field that failed validation: 400 naming the field. */
export function invalid(path: string, message: string): FlowProblem {
  return new FlowProblem('1460-400', `${path} ${message}`, { field: path });
}

/** The reference's body for a missing or invalid Content-Type on a POST/PUT/PATCH with a body (§1.4). */
export const CONTENT_TYPE_PROBLEM = {
  type: '/placeholder/type/uri',
  status: 400,
  title: 'BadRequestError',
  detail: 'A valid content-type must be specified',
} as const;

/**
 * The registry's codes for request-level problems where it has one: a body that fails validation
 * (not JSON, empty, nested too deep, a field the route refuses) and a path that names nothing.
 */
const REGISTRY_CODES: Record<string, { code: string; title: string }> = {
  '1405-400': XDM_ERRORS.invalidSchema,
  '1460-400': XDM_ERRORS.invalidSchema,
  '1101-404': XDM_ERRORS.notFound,
};

/**
 * A request-level Flow Service problem as the Schema Registry words it: the registry's code for
 * the case where it has one (`REGISTRY_CODES`, or `code` when given), else Inflow's Flow Service
 * code with the `XDM-` prefix (`XDM-1461-413`, `XDM-2105-400`, `XDM-1102-500`, …), so one case
 * keeps one number in both families.
 */
export function asRegistryProblem(problem: FlowProblem, code?: { code: string; title: string }): XdmProblem {
  const error = code ?? REGISTRY_CODES[problem.code] ?? { code: `XDM-${problem.code}`, title: problem.title };
  return new XdmProblem(error, problem.message);
}

/**
 * A request-level problem as IMS words its errors (`{error, error_description}`, the OAuth 2.0
 * shape, reference §8): `invalid_request` for a request it cannot take, `server_error` for a fault.
 */
export function imsErrorBody(status: number, description: string): Record<string, string> {
  return { error: status >= 500 ? 'server_error' : 'invalid_request', error_description: description };
}

/** A PostgreSQL data exception (SQLSTATE class 22): a value it cannot store, such as NUL or a lone surrogate. */
export function isDataException(error: unknown): boolean {
  const sqlState = (error as { code?: unknown } | undefined)?.code;
  return typeof sqlState === 'string' && /^22[0-9A-Z]{3}$/.test(sqlState);
}

/** What a request is told when a value in it hit `isDataException`. */
export const UNSTORABLE_VALUE =
  'a value in the request cannot be stored (it holds NUL or an unpaired surrogate character)';
