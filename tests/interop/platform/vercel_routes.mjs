// Where Vercel sends each path given on the command line, by vercel.json (argv[2]):
// its rewrites compiled by Vercel's own @vercel/routing-utils, matched as its router does
// (the first route whose `src` matches). Prints {"<path>": "<destination>" | null, ...}.
import { readFileSync } from "node:fs";
import { getTransformedRoutes } from "@vercel/routing-utils";

const [config, ...paths] = process.argv.slice(2);
const { routes, error } = getTransformedRoutes(JSON.parse(readFileSync(config, "utf8")));
if (error) {
  console.error(JSON.stringify(error));
  process.exit(1);
}
const destinations = {};
for (const path of paths) {
  const route = routes.find((r) => r.src && new RegExp(r.src).test(path));
  destinations[path] = route ? path.replace(new RegExp(route.src), route.dest) : null;
}
console.log(JSON.stringify(destinations));
