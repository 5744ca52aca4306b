/** `cachedToken`: one token reused until shortly before its `exp`, instead of one fetch per request. */
import type { Token, TokenContext } from "./transport.js";

export interface CachedTokenOptions {
  /** Fetch a new token this long before `exp` (default 30 000 ms). */
  earlyMs?: number;
  now?: () => number;
}

/**
 * Wraps a token fetcher (Better Auth: `async () => (await authClient.token()).data?.token`)
 * so concurrent calls share one fetch and the token is reused until `earlyMs` before its
 * `exp`; after the API answers `TOKEN_EXPIRED`, the next call fetches a new one. A token
 * without a readable `exp` is not reused.
 */
export function cachedToken(
  fetchToken: () => Token | Promise<Token>,
  options: CachedTokenOptions = {},
): (context?: TokenContext) => Promise<Token> {
  const earlyMs = options.earlyMs ?? 30_000;
  const now = options.now ?? Date.now;
  let cached: { token: Promise<Token>; until: number } | undefined;
  return async (context) => {
    if (!cached || context?.expired || now() >= cached.until) {
      const token = Promise.resolve(fetchToken());
      const entry = { token, until: Number.POSITIVE_INFINITY };
      cached = entry;
      token.then(
        (value) => {
          entry.until = (expiresAt(value) ?? 0) - earlyMs;
        },
        () => {
          if (cached === entry) cached = undefined;
        },
      );
    }
    return cached.token;
  };
}

/** The `exp` of a JWT in milliseconds, read without verifying (the API verifies). */
export function expiresAt(token: Token): number | undefined {
  const payload = token?.split(".")[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const exp: unknown = JSON.parse(json).exp;
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
