// Type-level tests, checked by `tsc -p tsconfig.test.json` (test/types.test.mjs): each
// `@ts-expect-error` must be an error, and everything else must compile.
import { createTaskClient, isApiError, type ErrorCode, type Task } from "../src/index.js";

const api = createTaskClient({ baseUrl: "http://127.0.0.1:8000", token: async () => "token" });
declare const task: Task;

export async function bodiesAreTyped(): Promise<void> {
  await api.tasks.create({ title: "Buy milk", priority: "high", tags: ["home"] });
  // @ts-expect-error a title is required
  await api.tasks.create({ priority: "high" });
  // @ts-expect-error priority is low, medium or high
  await api.tasks.create({ title: "x", priority: "urgent" });
  // @ts-expect-error read-only fields are not part of a patch
  await api.tasks.update(task, { version: 3 });
  await api.tasks.update(task, { description: null, due_at: null });
}

export async function queriesAndPathsAreTyped(): Promise<void> {
  for await (const found of api.tasks.list({ status: "pending", tag: ["home"], sort: "due_at", order: "asc" })) {
    const title: string = found.title;
    void title;
  }
  // @ts-expect-error status is all, pending or completed
  api.tasks.list({ status: "done" });
  await api.raw.GET("/api/{user_id}/tasks/{task_id}", { params: { path: { user_id: "alice", task_id: 1 } } });
  // @ts-expect-error the user path form needs user_id
  await api.raw.GET("/api/{user_id}/tasks/{task_id}", { params: { path: { task_id: 1 } } });
  // @ts-expect-error no such route
  await api.raw.GET("/api/task");
  const purged: number = await api.tasks.emptyTrash();
  void purged;
}

export async function errorsAreTheOneShape(): Promise<void> {
  const { error } = await api.raw.POST("/api/tasks", { body: { title: "x" } });
  if (error) {
    const code: ErrorCode = error.code;
    // @ts-expect-error codes are the API's, not any string
    const other: typeof error.code = "TEAPOT";
    void code, other;
  }
  try {
    await api.tasks.get(1);
  } catch (caught) {
    if (isApiError(caught, "PRECONDITION_FAILED")) {
      const etag: string | undefined = caught.etag;
      void etag;
    }
    if (isApiError(caught)) {
      // @ts-expect-error not one of the codes
      if (caught.code === "NOT_A_CODE") return;
    }
  }
}
