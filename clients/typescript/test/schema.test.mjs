import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

import { generate, OUTPUT } from "../generate.mjs";

test("src/schema.ts is what openapi-typescript generates from specs/openapi.json", async () => {
  const committed = await readFile(OUTPUT, "utf8");

  const fresh = await generate();

  assert.ok(committed === fresh, "src/schema.ts is stale: run `npm run generate` in clients/typescript");
});
