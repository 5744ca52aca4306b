/** The one error shape every API error has, as the typed `ApiError` a call throws. */
import type { components } from "./schema.js";

export type ErrorBody = components["schemas"]["ErrorBody"];
export type ErrorCode = ErrorBody["code"];
export type FieldError = components["schemas"]["FieldError"];

/** The code of a status when the body is not the API's own (a gateway's 502, a proxy's 429). */
const STATUS_CODES: Record<number, ErrorCode> = {
  400: "VALIDATION_ERROR",
  401: "UNAUTHENTICATED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  409: "CONFLICT",
  410: "SYNC_EXPIRED",
  412: "PRECONDITION_FAILED",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  422: "VALIDATION_ERROR",
  429: "RATE_LIMITED",
  502: "OUTCOME_UNKNOWN",
  503: "DATABASE_UNAVAILABLE",
  504: "OUTCOME_UNKNOWN",
};

/** Thrown when the API (or a gateway in front of it) answers with an error status. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: number;
  readonly code: ErrorCode;
  readonly detail: string;
  readonly field: string | undefined;
  readonly errors: FieldError[];
  /** The response's headers: `Retry-After`, `ETag` (a 412 carries the task's current one), ... */
  readonly headers: Headers;
  /** False when the body was not the API's error shape (an edge's answer): `code` then follows the status. */
  readonly fromApi: boolean;

  constructor(status: number, headers: Headers, body: unknown) {
    const shaped = isErrorBody(body);
    const detail = shaped ? body.detail : `HTTP ${status}`;
    super(detail);
    this.status = status;
    this.headers = headers;
    this.fromApi = shaped;
    this.code = shaped ? body.code : (STATUS_CODES[status] ?? "INTERNAL_ERROR");
    this.detail = detail;
    this.field = shaped ? (body.field ?? undefined) : undefined;
    this.errors = shaped ? (body.errors ?? []) : [];
  }

  /** Seconds to wait before trying again (`Retry-After`), or undefined. */
  get retryAfter(): number | undefined {
    return retryAfterSeconds(this.headers);
  }

  /** The task's current ETag, on a 412. */
  get etag(): string | undefined {
    return this.headers.get("ETag") ?? undefined;
  }

  /** The ApiError of a response that is not OK (its body is read). */
  static async from(response: Response): Promise<ApiError> {
    const text = await response.text().catch(() => "");
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: an edge's page; the status decides the code.
    }
    return new ApiError(response.status, response.headers, body);
  }
}

export function isApiError(error: unknown, code?: ErrorCode): error is ApiError {
  return error instanceof ApiError && (code === undefined || error.code === code);
}

function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== "object" || body === null) return false;
  const { detail, code } = body as Record<string, unknown>;
  return typeof detail === "string" && typeof code === "string";
}

/** `Retry-After` in seconds: a number of seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterSeconds(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get("Retry-After")?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}
