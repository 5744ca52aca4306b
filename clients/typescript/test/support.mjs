// What the tests share: the API's address (from tests/test_client.py), tokens, clients.
import { createHmac, randomUUID } from "node:crypto";

import { createTaskClient } from "../dist/index.js";

export const API = process.env.TASK_API_URL;
export const LIMITED_API = process.env.TASK_API_LIMITED_URL;
export const LIMITED_PER_MINUTE = Number(process.env.TASK_API_LIMITED_PER_MINUTE ?? 5);
const SECRET = process.env.TASK_API_SECRET;

/** `skip` for tests that need the API: run them through `pytest tests/test_client.py`. */
export const needsApi =
  API && LIMITED_API && SECRET ? false : "needs the API: run `pytest tests/test_client.py` from the repository root";

const base64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An HS256 token for `sub`, signed with the API's BETTER_AUTH_SECRET, as a Next.js route mints one. */
export function token(sub, { ttl = 600 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const signing = `${base64url({ alg: "HS256", typ: "JWT" })}.${base64url({ sub, iat: now - 60, exp: now + ttl })}`;
  return `${signing}.${createHmac("sha256", SECRET).update(signing).digest("base64url")}`;
}

export const newUser = () => `user-${randomUUID().slice(0, 12)}`;

/** A client for a new user of its own (tests share one database and never see each other). */
export function clientFor(options = {}) {
  const user = options.user ?? newUser();
  const client = createTaskClient({
    baseUrl: options.baseUrl ?? API,
    token: () => token(user),
    retry: { backoffMs: 10, ...options.retry },
    ...options,
  });
  return { client, user };
}

/** A fetch that records each request's method, path and Idempotency-Key, then calls `inner`. */
export function recording(inner = (request) => fetch(request)) {
  const seen = [];
  const wrapped = async (request) => {
    const url = new URL(request.url);
    seen.push({
      method: request.method,
      path: url.pathname + url.search,
      key: request.headers.get("Idempotency-Key"),
      ifMatch: request.headers.get("If-Match"),
      authorization: request.headers.get("Authorization"),
    });
    return inner(request, seen.length);
  };
  return { fetch: wrapped, seen };
}

/** A Response with the API's error shape. */
export function errorResponse(status, code, headers = {}) {
  return new Response(JSON.stringify({ detail: code.toLowerCase(), code }), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}
