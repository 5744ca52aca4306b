// Every operation through the client against the real API (started by tests/test_client.py).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { ApiError, createTaskClient } from "../dist/index.js";
import { LIMITED_API, LIMITED_PER_MINUTE, clientFor, needsApi, newUser, recording, token } from "./support.mjs";

const collect = async (iterable) => {
  const all = [];
  for await (const item of iterable) all.push(item);
  return all;
};
const failure = (promise) => promise.then(
  () => assert.fail("expected an ApiError"),
  (error) => {
    assert.ok(error instanceof ApiError, String(error));
    return error;
  },
);

describe("every operation", { skip: needsApi }, () => {
  test("health, me, and a task's life: create, read, edit, complete, trash, restore, purge", async () => {
    const { client: api, user } = clientFor();
    const { tasks, raw } = api;

    assert.deepEqual((await raw.GET("/api/health")).data, { status: "ok" });
    assert.deepEqual((await raw.GET("/api/health/db")).data, { status: "ok" });
    assert.equal((await api.me()).user_id, user);

    const created = await tasks.create({ title: "Buy milk", priority: "high", tags: ["Home"] });
    assert.deepEqual([created.title, created.priority, created.tags, created.version], ["Buy milk", "high", ["home"], 1]);
    assert.deepEqual(await tasks.get(created.id), created);
    assert.equal(await tasks.refresh(created), created, "a 304 keeps the task the caller holds");

    const patched = await tasks.update(created, { description: "2 litres" });
    assert.deepEqual([patched.description, patched.version], ["2 litres", 2]);
    assert.deepEqual(await tasks.refresh(created), patched);
    const put = await raw.PUT("/api/tasks/{task_id}", {
      params: { path: { task_id: created.id } },
      headers: { "If-Match": `"${patched.version}"` },
      body: { title: "Buy oat milk" },
    });
    assert.deepEqual([put.data.title, put.data.description, put.response.headers.get("ETag")], ["Buy oat milk", "2 litres", '"3"']);

    const toggled = await tasks.complete(put.data);
    assert.equal(toggled.completed, true);
    const reopened = await tasks.complete(toggled.id, false);
    assert.equal(reopened.completed, false);

    const trashed = await tasks.delete(reopened);
    assert.notEqual(trashed.deleted_at, null);
    assert.equal((await failure(tasks.get(created.id))).code, "NOT_FOUND");
    assert.deepEqual((await collect(tasks.trash())).map((t) => t.id), [created.id]);
    const restored = await tasks.restore(trashed);
    assert.equal(restored.deleted_at, null);
    assert.deepEqual((await collect(tasks.list())).map((t) => t.id), [created.id]);

    await tasks.purge((await tasks.delete(restored.id)).id);
    assert.deepEqual(await collect(tasks.trash()), []);
    await tasks.delete((await tasks.create({ title: "One" })).id);
    await tasks.delete((await tasks.create({ title: "Two" })).id);
    assert.equal(await tasks.emptyTrash(), 2);
    assert.deepEqual(await collect(tasks.list()), []);
  });

  test("the /api/{user_id}/tasks form serves the same operations, and another user's id is 403", async () => {
    const { client: { raw }, user } = clientFor();
    const path = (task_id) => ({ path: { user_id: user, task_id } });

    const created = (await raw.POST("/api/{user_id}/tasks", { params: { path: { user_id: user } }, body: { title: "Path form" } })).data;
    assert.equal((await raw.GET("/api/{user_id}/tasks/{task_id}", { params: path(created.id) })).data.title, "Path form");
    assert.equal((await raw.PUT("/api/{user_id}/tasks/{task_id}", { params: path(created.id), body: { title: "Put" } })).data.title, "Put");
    assert.equal((await raw.PATCH("/api/{user_id}/tasks/{task_id}", { params: path(created.id), body: { tags: ["x"] } })).data.version, 3);
    assert.equal((await raw.PATCH("/api/{user_id}/tasks/{task_id}/complete", { params: path(created.id) })).data.completed, true);
    const listed = await raw.GET("/api/{user_id}/tasks", { params: { path: { user_id: user }, query: { status: "completed" } } });
    assert.deepEqual(listed.data.map((t) => t.id), [created.id]);
    assert.notEqual((await raw.DELETE("/api/{user_id}/tasks/{task_id}", { params: path(created.id) })).data.deleted_at, null);
    assert.equal((await raw.GET("/api/{user_id}/tasks/trash", { params: { path: { user_id: user } } })).data.length, 1);
    assert.equal((await raw.POST("/api/{user_id}/tasks/{task_id}/restore", { params: path(created.id) })).data.deleted_at, null);
    await raw.DELETE("/api/{user_id}/tasks/{task_id}", { params: path(created.id) });
    assert.equal((await raw.DELETE("/api/{user_id}/tasks/trash/{task_id}", { params: path(created.id) })).response.status, 204);
    assert.deepEqual((await raw.POST("/api/{user_id}/tasks/trash/empty", { params: { path: { user_id: user } } })).data, { purged: 0 });

    const { error, response } = await raw.GET("/api/{user_id}/tasks", { params: { path: { user_id: newUser() } } });
    assert.equal(response.status, 403);
    assert.equal(error.code, "FORBIDDEN");
  });

  test("errors are ApiErrors in the one shape", async () => {
    const { client: { tasks } } = clientFor();

    const invalid = await failure(tasks.create({ title: "   " }));
    const unauthenticated = await failure(createTaskClient({ baseUrl: process.env.TASK_API_URL }).me());

    assert.deepEqual([invalid.status, invalid.code, invalid.field, invalid.fromApi], [422, "VALIDATION_ERROR", "title", true]);
    assert.ok(invalid.errors.length >= 1);
    assert.deepEqual([unauthenticated.status, unauthenticated.code], [401, "UNAUTHENTICATED"]);
  });
});

describe("paging", { skip: needsApi }, () => {
  test("list follows Link over every page, keeping the query", async () => {
    const { fetch, seen } = recording();
    const { client: { tasks } } = clientFor({ fetch });
    for (const n of [1, 2, 3, 4, 5, 6, 7]) await tasks.create({ title: `Task ${n}`, tags: n % 2 ? ["odd"] : [] });
    seen.length = 0;

    const all = await collect(tasks.list({ tag: ["odd"], sort: "title", order: "asc", limit: 2 }));
    const pages = await collect(tasks.pages({ limit: 3 }));

    assert.deepEqual(all.map((t) => t.title), ["Task 1", "Task 3", "Task 5", "Task 7"]);
    assert.deepEqual(seen.slice(0, 2).map((s) => s.path.includes("tag=odd")), [true, true]);
    assert.deepEqual(pages.map((page) => page.length), [3, 3, 1]);
    assert.equal(new Set(pages.flat().map((t) => t.id)).size, 7);
  });
});

describe("retries", { skip: needsApi }, () => {
  test("a create whose answer is lost is retried with its key and makes one task", async () => {
    const replayed = [];
    const { fetch, seen } = recording(async (request, n) => {
      const response = await globalThis.fetch(request);
      replayed.push(response.headers.get("Idempotent-Replayed"));
      if (n === 1) throw new TypeError("fetch failed: the connection dropped after the write");
      return response;
    });
    const { client: { tasks } } = clientFor({ fetch });

    const task = await tasks.create({ title: "Exactly once" });

    assert.equal(seen.length, 2);
    assert.equal(seen[0].key, seen[1].key);
    assert.deepEqual(replayed, [null, "true"]);
    assert.deepEqual((await collect(tasks.list())).map((t) => t.id), [task.id]);
  });

  test("OUTCOME_UNKNOWN is retried with the same key and makes one change", async () => {
    const { fetch, seen } = recording(async (request, n) => {
      const response = await globalThis.fetch(request);
      if (request.method !== "PATCH" || seen.filter((s) => s.method === "PATCH").length > 1) return response;
      const body = { detail: "The outcome is unknown", code: "OUTCOME_UNKNOWN" };
      return new Response(JSON.stringify(body), { status: 503, headers: { "Retry-After": "0" } });
    });
    const { client: { tasks } } = clientFor({ fetch });
    const task = await tasks.create({ title: "Before" });

    const changed = await tasks.update(task, { title: "After" });

    const patches = seen.filter((s) => s.method === "PATCH");
    assert.equal(patches.length, 2);
    assert.equal(patches[0].key, patches[1].key);
    assert.deepEqual(patches.map((s) => s.ifMatch), ['"1"', '"1"']);
    assert.deepEqual([changed.title, changed.version], ["After", 2], "the replay, not a 412 from a second write");
  });

  test("two concurrent creates with one key make one task", async () => {
    const { client: { tasks } } = clientFor();
    const key = `double-click-${newUser()}`;

    const [first, second] = await Promise.all([
      tasks.create({ title: "Clicked twice" }, { idempotencyKey: key }),
      tasks.create({ title: "Clicked twice" }, { idempotencyKey: key }),
    ]);

    assert.equal(first.id, second.id);
    assert.deepEqual((await collect(tasks.list())).map((t) => t.id), [first.id]);
  });

  test("the same key with another body is IDEMPOTENCY_KEY_REUSED", async () => {
    const { client: { tasks } } = clientFor();
    await tasks.create({ title: "First" }, { idempotencyKey: "reload-safe-key" });

    const again = await tasks.create({ title: "First" }, { idempotencyKey: "reload-safe-key" });
    const reused = await failure(tasks.create({ title: "Other" }, { idempotencyKey: "reload-safe-key" }));

    assert.equal(again.title, "First");
    assert.deepEqual([reused.status, reused.code, reused.field], [422, "IDEMPOTENCY_KEY_REUSED", "Idempotency-Key"]);
    assert.equal((await collect(tasks.list())).length, 1);
  });

  test("an expired token is followed by a fresh one from the callback", async () => {
    const user = newUser();
    const tokens = [token(user, { ttl: -120 }), token(user)];
    const api = createTaskClient({ baseUrl: process.env.TASK_API_URL, token: () => tokens.shift() });

    assert.equal((await api.me()).user_id, user);
    assert.deepEqual(tokens, []);
  });
});

describe("conditions and limits", { skip: needsApi }, () => {
  test("a write from a stale task is 412 with the current ETag, and changes nothing", async () => {
    const { client: { tasks } } = clientFor();
    const held = await tasks.create({ title: "Mine" });
    await tasks.update(held.id, { title: "Theirs" });

    const stale = await failure(tasks.update(held, { title: "Lost update" }));
    const staleDelete = await failure(tasks.delete(held));

    assert.deepEqual([stale.status, stale.code, stale.etag], [412, "PRECONDITION_FAILED", '"2"']);
    assert.equal(staleDelete.code, "PRECONDITION_FAILED");
    const now = await tasks.get(held.id);
    assert.deepEqual([now.title, now.version, now.deleted_at], ["Theirs", 2, null]);
  });

  test("over the rate limit is 429 RATE_LIMITED with Retry-After, not waited out past maxRetryAfterMs", async () => {
    const { fetch, seen } = recording();
    const { client: { tasks } } = clientFor({ baseUrl: LIMITED_API, fetch, retry: { maxRetryAfterMs: 1000 } });
    for (let n = 0; n < LIMITED_PER_MINUTE; n++) await collect(tasks.list());

    const limited = await failure(collect(tasks.list()));

    assert.deepEqual([limited.status, limited.code], [429, "RATE_LIMITED"]);
    assert.ok(limited.retryAfter > 1, `Retry-After: ${limited.retryAfter}`);
    assert.equal(seen.length, LIMITED_PER_MINUTE + 1, "a long Retry-After is answered, not retried");
  });
});
