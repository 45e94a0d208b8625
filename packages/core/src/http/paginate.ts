import { InflowError } from '../errors/inflow-error.js';
import { type ApiRequest, type PlatformTransport, SERVICE_PATHS } from './transport.js';

/** The list envelope of every Flow Service collection. */
export interface ListResponse<T> {
  items?: T[];
  _links?: { next?: { href?: string } };
  count?: number;
}

/**
 * The request for the page that `href` (from `_links.next.href`) points at. The real service
 * gives it relative to the service base (`/connections?continuationToken=…`); a full path or
 * an absolute URL is accepted too.
 */
export function nextPageRequest(transport: PlatformTransport, first: ApiRequest, href: string): ApiRequest {
  const base = new URL(transport.serviceBase(first.service));
  let url: URL;
  if (/^https?:\/\//i.test(href)) url = new URL(href);
  else if (href.startsWith(`${base.pathname}/`) || base.pathname === '') url = new URL(href, base.origin);
  else url = new URL(base.pathname + (href.startsWith('/') ? href : `/${href}`), base.origin);
  const servicePath = SERVICE_PATHS[first.service];
  const path = url.pathname.startsWith(`${servicePath}/`)
    ? url.pathname.slice(servicePath.length)
    : url.pathname;
  const query: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) (query[k] ??= []).push(v);
  return { ...first, path, query };
}

/** Every item of a collection, page after page, following `_links.next.href`. */
export async function* paginate<T>(transport: PlatformTransport, first: ApiRequest): AsyncGenerator<T> {
  let req: ApiRequest | undefined = first;
  const seen = new Set<string>();
  while (req) {
    const res = await transport.send<ListResponse<T>>(req);
    for (const item of res.body?.items ?? []) yield item;
    const href = res.body?._links?.next?.href;
    if (!href) return;
    if (seen.has(href)) {
      throw new InflowError(
        `the service returned the next-page link ${href} twice: stopping to avoid a loop`,
      );
    }
    seen.add(href);
    req = nextPageRequest(transport, first, href);
  }
}
