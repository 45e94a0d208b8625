import { ApiCallError, InflowError, InflowValidationError, parseProblem } from '@inflow/core';
import { describe, expect, it } from 'vitest';

describe('parseProblem reads every real error shape', () => {
  it('Flow Service problem details (reference §1.4 b)', () => {
    expect(
      parseProblem({
        type: 'https://ns.adobe.com/aep/errors/FLOW-1439-404',
        title: 'Resource not found',
        status: 404,
        report: { 'detailed-message': 'The requested flows resource x is not found.', 'request-id': 'R1' },
        errorMessage: 'The requested flows resource x is not found.',
      }),
    ).toEqual({
      kind: 'flow-service',
      code: '1439-404',
      title: 'Resource not found',
      detail: 'The requested flows resource x is not found.',
      requestId: 'R1',
    });
  });

  it('gateway errors', () => {
    expect(parseProblem({ error_code: '403010', message: 'Oauth token is missing.' })).toEqual({
      kind: 'gateway',
      code: '403010',
      title: undefined,
      detail: 'Oauth token is missing.',
      requestId: undefined,
    });
  });

  it('streaming (DCS) errors, whose status is a string', () => {
    expect(
      parseProblem({
        type: 'https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization',
        status: '401',
        title: 'Authorization',
        report: { message: '[id] Ims service token is empty' },
      }),
    ).toMatchObject({ kind: 'streaming', title: 'Authorization', detail: '[id] Ims service token is empty' });
  });

  it('RFC 7807 content-type errors, IMS OAuth errors, bare messages and text', () => {
    expect(
      parseProblem({
        type: '/placeholder/type/uri',
        status: 400,
        title: 'BadRequestError',
        detail: 'A valid content-type must be specified',
      }),
    ).toMatchObject({
      kind: 'problem',
      title: 'BadRequestError',
      detail: 'A valid content-type must be specified',
    });
    expect(
      parseProblem({ error: 'invalid_client', error_description: 'invalid client_id parameter' }),
    ).toMatchObject({
      kind: 'oauth',
      code: 'invalid_client',
      detail: 'invalid client_id parameter',
    });
    expect(parseProblem({ errorMessage: 'Supplied version=[x] does not match' })).toMatchObject({
      kind: 'message',
      detail: 'Supplied version=[x] does not match',
    });
    expect(parseProblem('<html>502 Bad Gateway</html>')).toMatchObject({
      kind: 'unknown',
      detail: '<html>502 Bad Gateway</html>',
    });
    expect(parseProblem(undefined)).toMatchObject({ kind: 'unknown', detail: undefined });
  });
});

describe('ApiCallError', () => {
  it('says what to fix for the common gateway and Flow Service codes', () => {
    const cases: [number, unknown, RegExp][] = [
      [403, { error_code: '403010', message: 'Oauth token is missing.' }, /send an Authorization: Bearer/],
      [403, { error_code: '403000', message: 'Api Key is required' }, /set x-api-key/],
      [400, { error_code: '400003', message: 'Missing header' }, /x-gw-ims-org-id/],
      [
        400,
        {
          type: 'https://ns.adobe.com/aep/errors/FLOW-1403-400',
          title: 'Header is missing',
          report: { 'detailed-message': "The header 'If-Match' is missing" },
        },
        /If-Match/,
      ],
      [
        404,
        {
          type: 'https://ns.adobe.com/aep/errors/FLOW-2100-404',
          title: 'Sandbox not found',
          report: { 'detailed-message': "The sandbox 'dev' could not be found" },
        },
        /sandbox does not exist/,
      ],
      [404, {}, /verify the resource id/],
      [429, { error_code: '429050', message: 'Too many requests' }, /slow down/],
    ];
    for (const [status, body, hint] of cases) {
      const e = new ApiCallError({
        method: 'GET',
        url: 'https://platform.adobe.io/data/foundation/flowservice/flows',
        status,
        body,
        requestId: undefined,
      });
      expect(e.message).toMatch(hint);
      expect(e.message.startsWith(`GET /data/foundation/flowservice/flows failed with HTTP ${status}`)).toBe(
        true,
      );
    }
  });

  it('puts one full stop between a detail that ends a sentence and the hint', () => {
    const e = new ApiCallError({
      method: 'GET',
      url: 'http://x/data/foundation/flowservice/flows/f1',
      status: 404,
      body: {
        type: 'https://ns.adobe.com/aep/errors/FLOW-1439-404',
        title: 'Resource not found',
        report: {
          'detailed-message': 'The requested flows resource f1 is not found. Verify the resource ID.',
        },
      },
      requestId: undefined,
    });
    expect(e.message).toContain('Verify the resource ID. Fix: ');
    expect(e.message).not.toContain('..');
    const bare = new ApiCallError({
      method: 'GET',
      url: 'http://x/',
      status: 404,
      body: {},
      requestId: undefined,
    });
    expect(bare.message).toMatch(/failed with HTTP 404\. Fix: /);
  });

  it('is retryable exactly for 429, 502, 503 and 504', () => {
    const retryable = [200, 400, 401, 403, 404, 409, 412, 429, 500, 501, 502, 503, 504].filter(
      (status) =>
        new ApiCallError({ method: 'GET', url: 'http://x/', status, body: undefined, requestId: undefined })
          .isRetryable,
    );
    expect(retryable).toEqual([429, 502, 503, 504]);
  });
});

describe('the error family', () => {
  it('recognises its members across copies of the package through the Symbol.for marker', () => {
    const e = new InflowValidationError('bad', [{ path: 'a', message: 'is required' }], {
      cause: new Error('root'),
    });
    expect(InflowError.isInstance(e)).toBe(true);
    expect(InflowValidationError.isInstance(e)).toBe(true);
    expect(ApiCallError.isInstance(e)).toBe(false);
    expect((e.cause as Error).message).toBe('root');
    const foreign = Object.assign(new Error('from another copy'), { [Symbol.for('inflow.error')]: true });
    expect(InflowError.isInstance(foreign)).toBe(true);
    expect(InflowError.isInstance(new Error('plain'))).toBe(false);
    expect(InflowError.isInstance(null)).toBe(false);
  });
});
