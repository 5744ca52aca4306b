/** A typed client for the task API. */
export { createTaskClient } from "./client.js";
export type {
  CallOptions,
  ListQuery,
  Me,
  RawClient,
  Task,
  TaskClient,
  TaskClientOptions,
  TaskCreate,
  TaskPatch,
  TaskRef,
  TrashQuery,
} from "./client.js";
export { ApiError, isApiError, retryAfterSeconds } from "./errors.js";
export type { ErrorBody, ErrorCode, FieldError } from "./errors.js";
export { items, nextLink, pages } from "./paging.js";
export { cachedToken, expiresAt } from "./token.js";
export type { CachedTokenOptions } from "./token.js";
export { createTransport, randomKey } from "./transport.js";
export type { Fetch, RetryEvent, RetryOptions, Token, TokenContext, TokenSource, TransportOptions } from "./transport.js";
export type { components, operations, paths } from "./schema.js";
