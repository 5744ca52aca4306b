/**
 * `createTaskClient`: the typed openapi-fetch client (`raw`, every operation and both path
 * forms), and `tasks`, the calls a frontend makes, which throw `ApiError` and take the
 * task a caller holds for `If-Match`.
 */
import createClient, { type Client } from "openapi-fetch";

import { ApiError } from "./errors.js";
import { items, pages } from "./paging.js";
import type { components, paths } from "./schema.js";
import { createTransport, type TransportOptions } from "./transport.js";

export type Task = components["schemas"]["TaskOut"];
export type TaskCreate = components["schemas"]["TaskCreate"];
export type TaskPatch = components["schemas"]["TaskPatch"];
export type Me = components["schemas"]["Me"];
export type ListQuery = NonNullable<paths["/api/tasks"]["get"]["parameters"]["query"]>;
export type TrashQuery = NonNullable<paths["/api/tasks/trash"]["get"]["parameters"]["query"]>;
export type RawClient = Client<paths>;

export interface TaskClientOptions extends TransportOptions {
  /** Where `/api/...` is served: `https://api.example.com` (with a base path, `https://host/prod`). */
  baseUrl: string;
  /** Headers sent on every request. */
  headers?: Record<string, string>;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Your own key, for a write a user may repeat after a reload; default: a new one per call. */
  idempotencyKey?: string;
}

/** A task (its version becomes `If-Match`: the write fails with 412 if it changed) or an id (no condition). */
export type TaskRef = Task | number;

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

export function createTaskClient(options: TaskClientOptions) {
  const transport = createTransport(options);
  const raw: RawClient = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    fetch: transport,
    ...(options.headers ? { headers: options.headers } : {}),
  });

  const ok = async <T>(result: Result<T>): Promise<T> => {
    if (result.error !== undefined || !result.response.ok) {
      throw new ApiError(result.response.status, result.response.headers, result.error);
    }
    return result.data as T;
  };
  const init = (call: CallOptions = {}, ref?: TaskRef) => {
    const headers: Record<string, string> = {};
    if (call.idempotencyKey) headers["Idempotency-Key"] = call.idempotencyKey;
    if (ref !== undefined && typeof ref !== "number") headers["If-Match"] = `"${ref.version}"`;
    return { headers, ...(call.signal ? { signal: call.signal } : {}) };
  };
  const id = (ref: TaskRef) => ({ task_id: typeof ref === "number" ? ref : ref.id });
  const listed = async (result: Promise<Result<Task[]>>) => {
    const settled = await result;
    return { data: await ok(settled), response: settled.response };
  };

  const tasks = {
    /** Every task matching the query, over every page (`for await (const task of tasks.list())`). */
    list: (query: ListQuery = {}, call: CallOptions = {}) => items(tasks.pages(query, call)),
    /** The pages of the list, one array at a time, following `Link`. */
    pages: (query: ListQuery = {}, call: CallOptions = {}) =>
      pages(() => listed(raw.GET("/api/tasks", { params: { query }, ...init(call) })), transport, call.signal),
    get: async (taskId: number, call: CallOptions = {}) =>
      ok(await raw.GET("/api/tasks/{task_id}", { params: { path: id(taskId) }, ...init(call) })),
    /** The task as it is now: the same object when unchanged (`If-None-Match`, a 304), else the new one. */
    refresh: async (task: Task, call: CallOptions = {}) => {
      const { headers, ...rest } = init(call);
      const result = await raw.GET("/api/tasks/{task_id}", {
        params: { path: id(task) },
        headers: { ...headers, "If-None-Match": `"${task.version}"` },
        ...rest,
      });
      return result.response.status === 304 ? task : ok(result);
    },
    create: async (body: TaskCreate, call: CallOptions = {}) =>
      ok(await raw.POST("/api/tasks", { body, ...init(call) })),
    /** Change the fields given (PATCH); with a task, only if it is still at its version. */
    update: async (ref: TaskRef, body: TaskPatch, call: CallOptions = {}) =>
      ok(await raw.PATCH("/api/tasks/{task_id}", { params: { path: id(ref) }, body, ...init(call, ref) })),
    /** Set `completed`; without a value, toggle it. */
    complete: async (ref: TaskRef, completed?: boolean, call: CallOptions = {}) =>
      ok(
        await raw.PATCH("/api/tasks/{task_id}/complete", {
          params: { path: id(ref) },
          ...(completed === undefined ? {} : { body: { completed } }),
          ...init(call, ref),
        }),
      ),
    /** Move to the trash; answers the trashed task. */
    delete: async (ref: TaskRef, call: CallOptions = {}) =>
      ok(await raw.DELETE("/api/tasks/{task_id}", { params: { path: id(ref) }, ...init(call, ref) })),
    /** Every trashed task, most recently deleted first, over every page. */
    trash: (query: TrashQuery = {}, call: CallOptions = {}) =>
      items(pages(() => listed(raw.GET("/api/tasks/trash", { params: { query }, ...init(call) })), transport, call.signal)),
    restore: async (ref: TaskRef, call: CallOptions = {}) =>
      ok(await raw.POST("/api/tasks/{task_id}/restore", { params: { path: id(ref) }, ...init(call, ref) })),
    /** Delete one trashed task for good. */
    purge: async (ref: TaskRef, call: CallOptions = {}): Promise<void> => {
      await ok(await raw.DELETE("/api/tasks/trash/{task_id}", { params: { path: id(ref) }, ...init(call) }));
    },
    /** Delete every trashed task for good; answers how many. */
    emptyTrash: async (call: CallOptions = {}) =>
      (await ok(await raw.POST("/api/tasks/trash/empty", init(call)))).purged,
  };

  return {
    raw,
    tasks,
    /** The caller, as the token names them. */
    me: async (call: CallOptions = {}) => ok(await raw.GET("/api/me", init(call))),
  };
}

export type TaskClient = ReturnType<typeof createTaskClient>;
