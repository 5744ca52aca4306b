/**
 * The fetch every call goes through: the bearer token from a callback, an `Idempotency-Key`
 * on every write (kept across that write's retries), and retries only where they are safe.
 *
 * Retry rules:
 * - A request is retriable when it is safe (GET, HEAD, OPTIONS) or carries an
 *   `Idempotency-Key`: the API then replays the first outcome instead of writing again.
 * - A lost connection, 502, 503 (`DATABASE_UNAVAILABLE`, `AUTH_UNAVAILABLE`,
 *   `OUTCOME_UNKNOWN`), 504 and 409 `CONFLICT` (the same key still running) are retried
 *   only when the request is retriable, with the same key.
 * - 429 `RATE_LIMITED` did nothing, so it is retried whatever the request.
 * - `Retry-After` is waited out when present; longer than `maxRetryAfterMs`, the answer is
 *   returned (and thrown as an `ApiError`) instead of waiting. Without it, exponential
 *   backoff with full jitter.
 * - 401 `TOKEN_EXPIRED` asks the token callback again, once, with `{expired: true}`.
 * - Nothing else is retried: a 4xx is the request's fault, a 500 is a bug.
 */
import { retryAfterSeconds } from "./errors.js";

export type Fetch = (request: Request) => Promise<Response>;
export type Token = string | null | undefined;
export interface TokenContext {
  /** True when the API has just answered `TOKEN_EXPIRED` to the previous token: fetch a new one. */
  expired: boolean;
}
/** A token, or a function that returns one (Better Auth: `async () => (await authClient.token()).data?.token`). */
export type TokenSource = Token | ((context: TokenContext) => Token | Promise<Token>);

export interface RetryOptions {
  /** Retries after the first attempt (default 3); 0 turns retrying off. */
  retries?: number;
  /** The longest `Retry-After` waited out, in milliseconds (default 30 000). */
  maxRetryAfterMs?: number;
  /** The first backoff without `Retry-After`, doubled per retry with full jitter (default 250 ms, at most 5 s). */
  backoffMs?: number;
}

export interface RetryEvent {
  attempt: number;
  delayMs: number;
  reason: string;
  request: Request;
}

export interface TransportOptions {
  /** The bearer token, or a callback asked before every attempt. */
  token?: TokenSource;
  /** The underlying fetch (default `globalThis.fetch`). */
  fetch?: Fetch;
  retry?: RetryOptions;
  /** Send an `Idempotency-Key` on every POST, PUT, PATCH and DELETE (default true). */
  idempotency?: boolean;
  /** Makes a new key (default `randomKey`: `crypto.randomUUID()` where there is one). */
  newIdempotencyKey?: () => string;
  /** Called before each retry: for logs and metrics. */
  onRetry?: (event: RetryEvent) => void;
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const RETRIED_WHEN_RETRIABLE = new Set([409, 502, 503, 504]);
const BACKOFF_CAP_MS = 5000;

export function createTransport(options: TransportOptions = {}): Fetch {
  const send: Fetch = options.fetch ?? ((request) => globalThis.fetch(request));
  const retries = options.retry?.retries ?? 3;
  const maxRetryAfterMs = options.retry?.maxRetryAfterMs ?? 30_000;
  const backoffMs = options.retry?.backoffMs ?? 250;
  const newKey = options.newIdempotencyKey ?? randomKey;
  const keyed = options.idempotency ?? true;

  return async function transport(input: Request): Promise<Response> {
    const headers = new Headers(input.headers);
    if (keyed && !SAFE.has(input.method) && !headers.has("Idempotency-Key")) {
      headers.set("Idempotency-Key", newKey());
    }
    const base = new Request(input, { headers });
    const retriable = SAFE.has(base.method) || headers.has("Idempotency-Key");
    let askedAgain = false;
    let expired = false;
    for (let attempt = 1; ; attempt++) {
      const request = base.clone();
      const token = await resolve(options.token, { expired });
      if (token) request.headers.set("Authorization", `Bearer ${token}`);
      const left = attempt <= retries;
      let response: Response;
      try {
        response = await send(request);
      } catch (error) {
        if (!retriable || !left || base.signal.aborted) throw error;
        await pause(base, attempt, backoff(backoffMs, attempt), "connection lost", options);
        continue;
      }
      if (response.status === 401 && !askedAgain && typeof options.token === "function") {
        askedAgain = true;
        if ((await codeOf(response)) === "TOKEN_EXPIRED") {
          expired = true;
          await discard(response);
          continue;
        }
      }
      const retried = response.status === 429 || (retriable && RETRIED_WHEN_RETRIABLE.has(response.status));
      if (!retried || !left) return response;
      if (response.status === 409 && !response.headers.has("Retry-After")) return response;
      const after = retryAfterSeconds(response.headers);
      const delayMs = after === undefined ? backoff(backoffMs, attempt) : after * 1000;
      if (delayMs > maxRetryAfterMs) return response;
      await discard(response);
      await pause(base, attempt, delayMs, `HTTP ${response.status}`, options);
    }
  };
}

/**
 * A version 4 UUID. Node 18 has no global `crypto` (it is behind a flag there), so the last
 * resort is Math.random: a key only has to differ from this user's other keys of the day.
 */
export function randomKey(): string {
  const webCrypto = (globalThis as { crypto?: Partial<Crypto> }).crypto;
  if (webCrypto?.randomUUID) return webCrypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (webCrypto?.getRandomValues) webCrypto.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function resolve(source: TokenSource, context: TokenContext): Promise<Token> {
  return typeof source === "function" ? await source(context) : source;
}

async function codeOf(response: Response): Promise<unknown> {
  const body: unknown = await response
    .clone()
    .json()
    .catch(() => null);
  return typeof body === "object" && body !== null ? (body as { code?: unknown }).code : undefined;
}

async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

function backoff(baseMs: number, attempt: number): number {
  return Math.random() * Math.min(BACKOFF_CAP_MS, baseMs * 2 ** (attempt - 1));
}

async function pause(
  request: Request,
  attempt: number,
  delayMs: number,
  reason: string,
  options: TransportOptions,
): Promise<void> {
  options.onRetry?.({ attempt, delayMs, reason, request });
  await sleep(delayMs, request.signal);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done, fail) => {
    if (signal.aborted) return fail(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", abort);
      done();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      fail(signal.reason);
    };
    signal.addEventListener("abort", abort, { once: true });
  });
}
