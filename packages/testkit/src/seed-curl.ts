import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One `curl` request from a seed tutorial. */
export interface SeedRequest {
  method: string;
  /** The URL as written (host and all). */
  url: string;
  path: string;
  query: Record<string, string[]>;
  /** Header name (lower-case) → value, as written (placeholders included). */
  headers: Record<string, string>;
  /** The `-d` body parsed as JSON, if any. */
  body: unknown;
}

function findSeedsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'fixtures', 'seeds');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error('fixtures/seeds not found above the testkit: run tests inside the repository');
    dir = parent;
  }
}

/** The repository's copy of the seed tutorials (`fixtures/seeds`). */
export const SEEDS_DIR: string = findSeedsDir();

/** The text of the seed whose file name starts with `prefix` (`000`, `001`, …). */
export function readSeed(prefix: string): string {
  const file = readdirSync(SEEDS_DIR).find((f) => f.startsWith(prefix));
  if (!file) throw new Error(`no seed ${prefix}* in ${SEEDS_DIR}`);
  return readFileSync(join(SEEDS_DIR, file), 'utf8');
}

function unquote(token: string): string {
  const t = token.trim();
  if ((t.startsWith("'") && t.endsWith("'")) || (t.startsWith('"') && t.endsWith('"'))) return t.slice(1, -1);
  return t;
}

/**
 * Every `curl` in a seed's ```shell blocks, parsed: method (-X), URL, headers (-H) and the JSON
 * body (-d). Handles both spellings the seeds use (one-line URL after -X, or on its own line).
 */
export function parseSeedCurls(text: string): SeedRequest[] {
  const blocks = [...text.matchAll(/```shell\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  const out: SeedRequest[] = [];
  for (const block of blocks) {
    if (!block.trimStart().startsWith('curl')) continue;
    const method = block.match(/-X\s+([A-Z]+)/)?.[1] ?? 'GET';
    const url = unquote(block.match(/-X\s+[A-Z]+\s+\\?\s*('[^']+'|"[^"]+"|\S+)/)?.[1] ?? '');
    const headers: Record<string, string> = {};
    for (const m of block.matchAll(/-H\s+'([^:]+):\s*([^']*)'/g))
      headers[(m[1] as string).toLowerCase()] = (m[2] as string).trim();
    const dataMatch = block.match(/-d\s+'([\s\S]*?)'?\s*$/);
    let body: unknown;
    if (dataMatch) {
      const raw = (dataMatch[1] as string).trim().replace(/'$/, '');
      body = JSON.parse(raw);
    }
    const parsed = new URL(url);
    const query: Record<string, string[]> = {};
    for (const [k, v] of parsed.searchParams) (query[k] ??= []).push(v);
    out.push({ method, url, path: decodeURIComponent(parsed.pathname), query, headers, body });
  }
  return out;
}

/** Replaces `{PLACEHOLDER}`s everywhere in a value (strings inside objects too). */
export function fillPlaceholders<T>(value: T, values: Record<string, string>): T {
  const fill = (s: string) => s.replace(/\{([A-Z0-9_]+)\}/g, (m, name: string) => values[name] ?? m);
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return fill(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}
