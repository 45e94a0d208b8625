/**
 * The service's own error shapes (reference §1.4): Flow Service problem details, the gateway's
 * `{error_code, message}`, and the RFC 7807 body for content-type problems. Routes throw these;
 * the app's error handler turns them into responses with the request id.
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

  body(requestId: string): Record<string, unknown> {
    const title = TITLES[this.code.split('-')[0] as string] ?? 'Invalid request';
    return {
      type: `https://ns.adobe.com/aep/errors/FLOW-${this.code}`,
      title,
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
