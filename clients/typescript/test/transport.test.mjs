// The retry rules, against a scripted fetch: what is retried, with which key, after how long.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { ApiError, createTaskClient, createTransport, randomKey } from "../dist/index.js";
import { errorResponse, recording } from "./support.mjs";

const URL_ = "http://api.test/api/tasks";
const created = () => new Response(JSON.stringify({ id: 1, version: 1 }), { status: 201 });
const post = () => new Request(URL_, { method: "POST", body: JSON.stringify({ title: "x" }) });
const lost = () => {
  throw new TypeError("fetch failed");
};

/** A transport whose fetch answers with `script[n]` on the n-th attempt (a function may throw). */
function scripted(script, options = {}) {
  const { fetch, seen } = recording(async (request, n) => {
    const step = script[n - 1];
    assert.ok(step, `attempt ${n} was not expected`);
    return step(request);
  });
  return { transport: createTransport({ fetch, retry: { backoffMs: 1 }, ...options }), seen };
}

describe("idempotency keys", () => {
  test("every write gets a key, and its retries keep it", async () => {
    const { transport, seen } = scripted([lost, () => errorResponse(503, "OUTCOME_UNKNOWN", { "Retry-After": "0" }), created]);

    const response = await transport(post());

    assert.equal(response.status, 201);
    assert.equal(seen.length, 3);
    assert.match(seen[0].key, /^[0-9a-f-]{36}$/);
    assert.deepEqual(new Set(seen.map((s) => s.key)).size, 1);
  });

  test("two writes get two keys", async () => {
    const { transport, seen } = scripted([created, created]);

    await transport(post());
    await transport(post());

    assert.notEqual(seen[0].key, seen[1].key);
  });

  test("a key the caller gives is kept", async () => {
    const { transport, seen } = scripted([created]);

    await transport(new Request(URL_, { method: "PATCH", headers: { "Idempotency-Key": "mine" }, body: "{}" }));

    assert.equal(seen[0].key, "mine");
  });

  test("a GET carries no key", async () => {
    const { transport, seen } = scripted([() => new Response("[]")]);

    await transport(new Request(URL_));

    assert.equal(seen[0].key, null);
  });
});

describe("what is retried", () => {
  for (const [name, step] of [
    ["a lost connection", lost],
    ["502", () => new Response("Bad Gateway", { status: 502 })],
    ["503 DATABASE_UNAVAILABLE", () => errorResponse(503, "DATABASE_UNAVAILABLE", { "Retry-After": "0" })],
    ["503 OUTCOME_UNKNOWN", () => errorResponse(503, "OUTCOME_UNKNOWN", { "Retry-After": "0" })],
    ["409 CONFLICT with Retry-After", () => errorResponse(409, "CONFLICT", { "Retry-After": "0" })],
    ["429 RATE_LIMITED", () => errorResponse(429, "RATE_LIMITED", { "Retry-After": "0" })],
  ]) {
    test(`a keyed write after ${name}`, async () => {
      const { transport, seen } = scripted([step, created]);

      const response = await transport(post());

      assert.equal(response.status, 201);
      assert.equal(seen.length, 2);
    });
  }

  test("a GET after a lost connection", async () => {
    const { transport, seen } = scripted([lost, () => new Response("[]")]);

    assert.equal((await transport(new Request(URL_))).status, 200);
    assert.equal(seen.length, 2);
  });

  test("a write without a key is not retried after a lost connection or OUTCOME_UNKNOWN", async () => {
    const unknown = () => errorResponse(503, "OUTCOME_UNKNOWN", { "Retry-After": "0" });
    const first = scripted([lost], { idempotency: false });
    const second = scripted([unknown], { idempotency: false });

    await assert.rejects(first.transport(post()), TypeError);
    assert.equal((await second.transport(post())).status, 503);
    assert.equal(first.seen.length + second.seen.length, 2);
  });

  test("a write without a key is retried after 429, which did nothing", async () => {
    const { transport, seen } = scripted([() => errorResponse(429, "RATE_LIMITED", { "Retry-After": "0" }), created], {
      idempotency: false,
    });

    assert.equal((await transport(post())).status, 201);
    assert.equal(seen[0].key, null);
  });

  for (const [status, code] of [
    [400, "VALIDATION_ERROR"],
    [404, "NOT_FOUND"],
    [409, "CONFLICT"],
    [412, "PRECONDITION_FAILED"],
    [422, "IDEMPOTENCY_KEY_REUSED"],
    [500, "INTERNAL_ERROR"],
  ]) {
    test(`${status} ${code} is answered at once`, async () => {
      const { transport, seen } = scripted([() => errorResponse(status, code)]);

      assert.equal((await transport(post())).status, status);
      assert.equal(seen.length, 1);
    });
  }

  test("retries stop after `retries`, answering the last response", async () => {
    const unavailable = () => errorResponse(503, "DATABASE_UNAVAILABLE", { "Retry-After": "0" });
    const { transport, seen } = scripted([unavailable, unavailable, unavailable], { retry: { retries: 2, backoffMs: 1 } });

    assert.equal((await transport(new Request(URL_))).status, 503);
    assert.equal(seen.length, 3);
  });

  test("an aborted request is not retried", async () => {
    const controller = new AbortController();
    const { transport, seen } = scripted([
      () => {
        controller.abort();
        throw new DOMException("aborted", "AbortError");
      },
    ]);

    await assert.rejects(transport(new Request(URL_, { signal: controller.signal })), { name: "AbortError" });
    assert.equal(seen.length, 1);
  });
});

describe("Retry-After", () => {
  test("is waited out", async () => {
    const { transport } = scripted([() => errorResponse(429, "RATE_LIMITED", { "Retry-After": "1" }), created]);
    const started = performance.now();

    await transport(post());

    assert.ok(performance.now() - started >= 950);
  });

  test("longer than maxRetryAfterMs is answered at once, as an ApiError with retryAfter", async () => {
    const { fetch, seen } = recording(async () => errorResponse(429, "RATE_LIMITED", { "Retry-After": "60" }));
    const api = createTaskClient({ baseUrl: "http://api.test", fetch, retry: { maxRetryAfterMs: 5000 } });

    const error = await api.tasks.create({ title: "x" }).catch((caught) => caught);

    assert.ok(error instanceof ApiError);
    assert.equal(error.code, "RATE_LIMITED");
    assert.equal(error.retryAfter, 60);
    assert.equal(seen.length, 1);
  });
});

describe("the token", () => {
  test("comes from the callback on every attempt", async () => {
    let n = 0;
    const { transport, seen } = scripted([lost, () => new Response("[]")], { token: async () => `t${++n}` });

    await transport(new Request(URL_));

    assert.deepEqual(seen.map((s) => s.authorization), ["Bearer t1", "Bearer t2"]);
  });

  test("is asked for again once after TOKEN_EXPIRED", async () => {
    let n = 0;
    const expired = () => errorResponse(401, "TOKEN_EXPIRED");
    const { transport, seen } = scripted([expired, created], { token: () => `t${++n}` });

    assert.equal((await transport(post())).status, 201);
    assert.deepEqual(seen.map((s) => s.authorization), ["Bearer t1", "Bearer t2"]);
  });

  test("a fixed token is not retried after TOKEN_EXPIRED", async () => {
    const { transport, seen } = scripted([() => errorResponse(401, "TOKEN_EXPIRED")], { token: "fixed" });

    assert.equal((await transport(post())).status, 401);
    assert.equal(seen.length, 1);
  });
});

describe("ApiError", () => {
  test("carries the error shape", async () => {
    const body = { detail: "title: too long", code: "VALIDATION_ERROR", field: "title", errors: [{ field: "title", message: "too long" }] };

    const error = await ApiError.from(new Response(JSON.stringify(body), { status: 422 }));

    assert.equal(error.message, "title: too long");
    assert.deepEqual([error.status, error.code, error.field, error.errors, error.fromApi], [422, "VALIDATION_ERROR", "title", body.errors, true]);
  });

  test("of a gateway's page takes its code from the status", async () => {
    const error = await ApiError.from(new Response("<html>Gateway Timeout</html>", { status: 504 }));

    assert.deepEqual([error.code, error.fromApi, error.detail], ["OUTCOME_UNKNOWN", false, "HTTP 504"]);
  });
});

test("randomKey makes version 4 UUIDs, with or without a global crypto", () => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  const withCrypto = randomKey();
  Object.defineProperty(globalThis, "crypto", { value: undefined, configurable: true });
  let without;
  try {
    without = [randomKey(), randomKey()];
  } finally {
    Object.defineProperty(globalThis, "crypto", saved);
  }

  for (const key of [withCrypto, ...without]) assert.match(key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(without[0], without[1]);
});
