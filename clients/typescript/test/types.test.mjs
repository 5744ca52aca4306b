import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { test } from "node:test";
import { promisify } from "node:util";

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

test("the type-level tests compile: bodies, queries, paths and error codes are checked", async () => {
  const cwd = new URL("..", import.meta.url);

  const run = promisify(execFile)(process.execPath, [tsc, "-p", "tsconfig.test.json"], { cwd });

  await run.catch((error) => assert.fail(`tsc -p tsconfig.test.json:\n${error.stdout}${error.stderr}`));
});
