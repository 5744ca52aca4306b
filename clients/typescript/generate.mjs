// Generates src/schema.ts from the API's OpenAPI document: `npm run generate`.
// `node generate.mjs --check` exits 1 when src/schema.ts differs from what the document
// generates (the test suite runs the same check), so the committed types never drift.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";

export const SPEC = new URL("../../specs/openapi.json", import.meta.url);
export const OUTPUT = new URL("./src/schema.ts", import.meta.url);

/**
 * The TypeScript openapi-typescript generates from the document, as `npm run generate` writes it.
 * `defaultNonNullable: false`: a field with a default (`priority`, `tags`) stays optional in a
 * request body, as the API treats it.
 */
export async function generate(spec = SPEC) {
  const ast = await openapiTS(spec, { defaultNonNullable: false });
  return COMMENT_HEADER + astToString(ast);
}

async function main() {
  const fresh = await generate();
  if (process.argv.includes("--check")) {
    const committed = await readFile(OUTPUT, "utf8").catch(() => "");
    if (committed !== fresh) {
      console.error(
        `${fileURLToPath(OUTPUT)} differs from what ${fileURLToPath(SPEC)} generates: run npm run generate`,
      );
      process.exit(1);
    }
    console.log("src/schema.ts matches specs/openapi.json");
    return;
  }
  await writeFile(OUTPUT, fresh);
  console.log(`wrote ${fileURLToPath(OUTPUT)}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main();
}
