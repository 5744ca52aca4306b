// Test harness: runs the REAL Better Auth library (jwt plugin, memory adapter)
// on 127.0.0.1 so pytest can verify the JWTs it issues. Used by
// tests/better_auth.py; run by hand with `node server.mjs` (Ctrl-D to stop).
//
// When ready it prints exactly ONE JSON line to stdout (all logs go to stderr):
// {
//   "base_url":   "http://127.0.0.1:<port>",           EdDSA instance origin
//   "issuer":     same as base_url,                    `iss` of its tokens
//   "audience":   same as base_url,                    `aud` of its tokens
//   "jwks_url":   "<base_url>/api/auth/jwks",
//   "rotate_url": "<base_url>/test/rotate",            POST: see below
//   "users": [{"id", "email", "name", "token"}, ...],  user A, user B (EdDSA)
//   "expired_token": "...",   user A, same key/iss/aud, `exp` 5 minutes ago
//   "rs256": {"base_url", "issuer", "audience", "jwks_url",
//             "user_id", "email", "name", "token"}    separate RS256 instance
// }
// POST <rotate_url> makes Better Auth mint a new EdDSA signing key (its own
// `createJwk`, as its error messages suggest for explicit rotation; old keys
// stay in the JWKS) and answers {"token": <new token for user A>, "kid": <new kid>}.
//
// How the tokens are obtained, exactly as a frontend would: POST
// /api/auth/sign-up/email, keep the session cookie, then GET /api/auth/token.
// The expired token comes from a second instance sharing the EdDSA instance's
// database, secret and origin, configured with `jwt.expirationTime: "-5m"`
// (the plugin computes exp = iat - 5 minutes), mounted at /api/auth-expired.
//
// Stops (exit 0) when stdin closes or on SIGTERM/SIGINT.
import http from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { createJwk, jwt } from "better-auth/plugins";

// stdout carries only the ready line; send any library chatter to stderr.
console.log = console.info = console.debug = console.error;
process.env.BETTER_AUTH_TELEMETRY = "0";

const SECRET = "interop-test-secret-not-for-production-0123456789";
const PASSWORD = "correct-horse-battery-staple";
const USERS = [
  { email: "alice@example.test", name: "Alice Example" },
  { email: "bob@example.test", name: "Bob Example" },
];

const emptyDb = () => ({ user: [], session: [], account: [], verification: [], jwks: [] });

function makeAuth({ origin, db, basePath = "/api/auth", jwtOptions = {} }) {
  return betterAuth({
    baseURL: origin,
    basePath,
    secret: SECRET,
    database: memoryAdapter(db),
    emailAndPassword: { enabled: true },
    telemetry: { enabled: false },
    plugins: [jwt(jwtOptions)],
  });
}

// A node:http server that hands each request to `auth.handler(new Request(...))`,
// as a Next.js route handler does. `routes` maps a path prefix to a handler.
async function serve(routes) {
  const server = http.createServer(async (req, res) => {
    try {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const url = new URL(req.url, `http://${req.headers.host}`);
      const prefix = Object.keys(routes).find((p) => url.pathname.startsWith(p));
      if (!prefix) return void res.writeHead(404).end();
      const request = new Request(url, {
        method: req.method,
        headers: req.headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      const response = await routes[prefix](request);
      const headers = Object.fromEntries(
        [...response.headers].filter(([k]) => k !== "set-cookie"),
      );
      const cookies = response.headers.getSetCookie();
      if (cookies.length) headers["set-cookie"] = cookies;
      res.writeHead(response.status, headers);
      res.end(Buffer.from(await response.arrayBuffer()));
    } catch (err) {
      console.error(err);
      res.writeHead(500).end(String(err));
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${server.address().port}`;
}

// Like a frontend: sign up, keep the session cookie, fetch a JWT with it.
async function signUp(origin, { email, name }) {
  const res = await fetch(`${origin}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin },
    body: JSON.stringify({ email, name, password: PASSWORD }),
  });
  if (!res.ok) throw new Error(`sign-up ${email}: ${res.status} ${await res.text()}`);
  const { user } = await res.json();
  const cookie = res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  return { id: user.id, email, name, cookie };
}

async function getToken(origin, cookie, basePath = "/api/auth") {
  const res = await fetch(`${origin}${basePath}/token`, { headers: { cookie, origin } });
  if (!res.ok) throw new Error(`token: ${res.status} ${await res.text()}`);
  return (await res.json()).token;
}

const json = (status, body) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

// --- EdDSA (default) instance, plus the expired-token instance on the same origin.
const routes = {};
const origin = await serve(routes);
const db = emptyDb();
const jwtOptions = {}; // defaults: EdDSA/Ed25519 keys, 15-minute tokens
const auth = makeAuth({ origin, db, jwtOptions });
const expiredAuth = makeAuth({
  origin,
  db,
  basePath: "/api/auth-expired",
  jwtOptions: { jwt: { expirationTime: "-5m" } },
});
let alice; // set below; used by /test/rotate
routes["/api/auth-expired/"] = (req) => expiredAuth.handler(req);
routes["/api/auth/"] = (req) => auth.handler(req);
routes["/test/rotate"] = async (req) => {
  if (req.method !== "POST") return json(405, { error: "POST only" });
  // createJwk only reads ctx.context (adapter, secret); the newest key signs next.
  const key = await createJwk({ context: await auth.$context }, jwtOptions);
  return json(200, { token: await getToken(origin, alice.cookie), kid: key.id });
};

const users = [];
for (const u of USERS) {
  const user = await signUp(origin, u);
  users.push({ ...user, token: await getToken(origin, user.cookie) });
}
alice = users[0];
const expiredToken = await getToken(origin, alice.cookie, "/api/auth-expired");

// --- RS256 instance: its own database and its own origin (port).
const rsRoutes = {};
const rsOrigin = await serve(rsRoutes);
const rsAuth = makeAuth({
  origin: rsOrigin,
  db: emptyDb(),
  jwtOptions: { jwks: { keyPairConfig: { alg: "RS256" } } },
});
rsRoutes["/api/auth/"] = (req) => rsAuth.handler(req);
const carol = await signUp(rsOrigin, { email: "carol@example.test", name: "Carol Example" });

process.stdout.write(
  JSON.stringify({
    base_url: origin,
    issuer: origin,
    audience: origin,
    jwks_url: `${origin}/api/auth/jwks`,
    rotate_url: `${origin}/test/rotate`,
    users: users.map(({ id, email, name, token }) => ({ id, email, name, token })),
    expired_token: expiredToken,
    rs256: {
      base_url: rsOrigin,
      issuer: rsOrigin,
      audience: rsOrigin,
      jwks_url: `${rsOrigin}/api/auth/jwks`,
      user_id: carol.id,
      email: carol.email,
      name: carol.name,
      token: await getToken(rsOrigin, carol.cookie),
    },
  }) + "\n",
);

const stop = () => process.exit(0);
process.stdin.on("end", stop).on("close", stop).resume();
process.on("SIGTERM", stop).on("SIGINT", stop);
