import assert from "node:assert/strict";
import { test } from "node:test";

import { nextLink } from "../dist/index.js";

test("nextLink finds rel=next among links and parameters", () => {
  const url = "http://h/api/tasks?limit=1&cursor=abc";

  assert.equal(nextLink(`<${url}>; rel="next"`), url);
  assert.equal(nextLink(`<http://h/first>; rel="first", <${url}>; title="x"; rel="next"`), url);
  assert.equal(nextLink(`<${url}>; rel=next`), url);
  assert.equal(nextLink(`<${url}>; rel="prev next"`), url);
  assert.equal(nextLink(`<${url}>; rel="prev"`), undefined);
  assert.equal(nextLink(null), undefined);
});
