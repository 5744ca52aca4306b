/** `Link` headers, and the async iterators that follow `rel="next"` over every page. */
import { ApiError } from "./errors.js";
import type { Fetch } from "./transport.js";

/** The URL of `rel="next"` in a `Link` header, or undefined on the last page. */
export function nextLink(header: string | null): string | undefined {
  for (const match of (header ?? "").matchAll(/<([^>]*)>\s*((?:;[^,;]*)*)/g)) {
    const rel = /;\s*rel\s*=\s*"?([^";]*)"?/i.exec(match[2] ?? "")?.[1] ?? "";
    if (rel.split(/\s+/).includes("next")) return match[1];
  }
  return undefined;
}

/** Yields each page of a list: the first from `first`, then every `Link` URL as is. */
export async function* pages<T>(
  first: () => Promise<{ data: T[]; response: Response }>,
  transport: Fetch,
  signal?: AbortSignal,
): AsyncGenerator<T[], void, undefined> {
  const { data, response } = await first();
  yield data;
  let next = nextLink(response.headers.get("Link"));
  while (next !== undefined) {
    const init: RequestInit = { headers: { Accept: "application/json" } };
    if (signal) init.signal = signal;
    const page = await transport(new Request(next, init));
    if (!page.ok) throw await ApiError.from(page);
    yield (await page.json()) as T[];
    next = nextLink(page.headers.get("Link"));
  }
}

/** Yields every item of every page. */
export async function* items<T>(source: AsyncIterable<T[]>): AsyncGenerator<T, void, undefined> {
  for await (const page of source) yield* page;
}
