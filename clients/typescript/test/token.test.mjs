import assert from "node:assert/strict";
import { test } from "node:test";

import { cachedToken, createTransport, expiresAt } from "../dist/index.js";
import { errorResponse, recording } from "./support.mjs";

const jwt = (claims) => `e30.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;

test("expiresAt reads exp from a JWT, in milliseconds", () => {
  assert.equal(expiresAt(jwt({ sub: "a", exp: 2000 })), 2_000_000);
  assert.equal(expiresAt(jwt({ sub: "a" })), undefined);
  assert.equal(expiresAt("not a token"), undefined);
  assert.equal(expiresAt(undefined), undefined);
});

test("cachedToken shares one fetch and reuses the token until shortly before exp", async () => {
  let clock = 1_000_000;
  let fetched = 0;
  const token = cachedToken(async () => jwt({ n: ++fetched, exp: 1100 }), { earlyMs: 30_000, now: () => clock });

  const [first, second] = await Promise.all([token(), token()]);
  clock = 1_069_999;
  const reused = await token();
  clock = 1_070_000;
  const renewed = await token();

  assert.equal(first, second);
  assert.equal(reused, first);
  assert.notEqual(renewed, first);
  assert.equal(fetched, 2);
});

test("cachedToken fetches anew after TOKEN_EXPIRED, and after a failed fetch", async () => {
  let fetched = 0;
  const token = cachedToken(async () => {
    fetched += 1;
    if (fetched === 2) throw new Error("auth server down");
    return jwt({ n: fetched, exp: 4_000_000_000 });
  });

  await token();
  await assert.rejects(token({ expired: true }), /auth server down/);
  await token();

  assert.equal(fetched, 3);
});

test("the transport tells the callback the token expired", async () => {
  const contexts = [];
  const { fetch } = recording(async (_request, n) => (n === 1 ? errorResponse(401, "TOKEN_EXPIRED") : new Response("[]")));
  const transport = createTransport({ fetch, token: (context) => (contexts.push(context.expired), "t") });

  await transport(new Request("http://api.test/api/tasks"));

  assert.deepEqual(contexts, [false, true]);
});
