// Shared helpers of the connectors' setup-step tests: a client of the recording server, seed and
// plan comparisons, problem bodies, per-route counting.
import { FlowServiceClient, type PlannedStep, SetupStepError } from '@inflow/core';
import { expect } from 'vitest';
import type { RecordedRequest, RecordingServer } from './recording-server.js';
import type { SeedRequest } from './seed-curl.js';

/** The Platform credentials the tests send. The token doubles as a canary: it must never show in a plan. */
export const PLATFORM = {
  token: 'CANARY-token-9b4e1d',
  apiKey: 'acme-client-id',
  orgId: '5C1328435BF324E90A49402A@AdobeOrg',
  sandboxName: 'dev-sandbox',
} as const;

/** The seeds' header placeholders (the org is spelled both `{IMS_ORG}` and `{ORG_ID}`). */
export const HEADER_VALUES: Record<string, string> = {
  ACCESS_TOKEN: PLATFORM.token,
  API_KEY: PLATFORM.apiKey,
  IMS_ORG: PLATFORM.orgId,
  ORG_ID: PLATFORM.orgId,
  SANDBOX_NAME: PLATFORM.sandboxName,
};

/** A client of the recording server. One attempt per request, so a failing step fails at once. */
export function makeClient(server: RecordingServer): FlowServiceClient {
  return new FlowServiceClient({
    endpoint: server.url,
    apiKey: PLATFORM.apiKey,
    orgId: PLATFORM.orgId,
    sandboxName: PLATFORM.sandboxName,
    token: PLATFORM.token,
    retry: { maxAttempts: 1 },
  });
}

/** The documented responses: every ```json block of a seed, parsed, in order. */
export function seedResponses(text: string): unknown[] {
  return [...text.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1] as string));
}

/** The problem body Flow Service answers a failed call with. */
export function flowProblem(status: number, detail = 'boom') {
  return {
    type: `https://ns.adobe.com/aep/errors/FLOW-1102-${status}`,
    title: 'Internal Error',
    status,
    report: { 'detailed-message': detail, 'request-id': 'r1' },
  };
}

/** `GET /data/foundation/flowservice/connections`: how requests are counted per route. */
export function route(req: Pick<RecordedRequest, 'method' | 'path'>): string {
  return `${req.method} ${req.path}`;
}

export function countByRoute(requests: readonly RecordedRequest[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const req of requests) counts[route(req)] = (counts[route(req)] ?? 0) + 1;
  return counts;
}

/** Placeholders such as `{API_KEY}` still left in a value (a filled seed request must have none). */
export function leftoverPlaceholders(value: unknown): string[] {
  return JSON.stringify(value).match(/\{[A-Z0-9_]+\}/g) ?? [];
}

/** Headers the HTTP stack adds on its own; any other header sent must be one the seed shows. */
const TRANSPORT_HEADERS = new Set(['host', 'connection', 'content-length', 'user-agent']);

/**
 * Asserts that a request the runner sent is the seed's request: method, path (only the host
 * differs), parsed query, every header the seed shows, no header beyond those (and the
 * transport's own, and `allowExtra`), and a structurally equal JSON body.
 */
export function expectSeedRequest(
  actual: RecordedRequest | undefined,
  expected: SeedRequest,
  allowExtra: readonly string[] = [],
): void {
  if (!actual) throw new Error(`nothing was sent where the seed shows ${expected.method} ${expected.path}`);
  expect(route(actual)).toBe(`${expected.method} ${expected.path}`);
  expect(actual.query).toEqual(expected.query);
  for (const [name, value] of Object.entries(expected.headers)) {
    expect(actual.headers[name], `header ${name}`).toBe(value);
  }
  const extra = Object.keys(actual.headers).filter(
    (h) => !(h in expected.headers) && !TRANSPORT_HEADERS.has(h) && !allowExtra.includes(h),
  );
  expect(extra, 'headers the seed does not show').toEqual([]);
  expect(actual.body).toEqual(expected.body);
}

/** Replaces every occurrence of each `from` by its `to`, in every string inside a value. */
export function substitute<T>(value: T, pairs: readonly (readonly [string, string])[]): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return pairs.reduce((s, [from, to]) => s.split(from).join(to), v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/**
 * Asserts that `plan()` listed what `apply()` then sent: same method, host, path, query, headers
 * and body, once the real outputs and secrets of `sent` are swapped for the plan's placeholders
 * and `[REDACTED]` (`pairs`), and with `Bearer [REDACTED]` where the token went.
 */
export function expectPlanMatchesSent(
  plan: readonly PlannedStep[],
  sent: readonly RecordedRequest[],
  pairs: readonly (readonly [string, string])[],
): void {
  expect(sent.map(route)).toHaveLength(plan.length);
  plan.forEach((step, i) => {
    const req = sent[i] as RecordedRequest;
    const url = new URL(step.request.url);
    expect(step.request.method).toBe(req.method);
    expect(url.host).toBe(req.headers.host);
    expect(decodeURIComponent(url.pathname)).toBe(substitute(req.path, pairs));
    const query: Record<string, string[]> = {};
    for (const [k, v] of url.searchParams) (query[k] ??= []).push(v);
    expect(query).toEqual(substitute(req.query, pairs));
    expect(step.request.body).toEqual(substitute(req.body, pairs));
    for (const [name, value] of Object.entries(step.request.headers)) {
      const lower = name.toLowerCase();
      if (lower === 'authorization') {
        expect(value).toBe('Bearer [REDACTED]');
        expect(req.headers[lower]).toBe(`Bearer ${PLATFORM.token}`);
      } else {
        expect(req.headers[lower], `header ${name}`).toBe(value);
      }
    }
  });
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** The error a function throws (fails the test when it returns). */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw, but the function returned');
}

export function assertSetupStepError(error: unknown): asserts error is SetupStepError {
  expect(SetupStepError.isInstance(error), `expected a SetupStepError, got ${String(error)}`).toBe(true);
}
