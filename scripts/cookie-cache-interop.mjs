#!/usr/bin/env node
// Cookie cache (WIRE.md §12) against Better Auth itself, in its three strategies: a session_data
// copy minted by Better Auth is accepted by Palisade and the other way round (same secret),
// also when it is chunked (session_data.0, .1, …).
//   node scripts/cookie-cache-interop.mjs <palisade binary>
// compact: the real reference server (../shared/conformance/reference.sh, COOKIE_CACHE=1);
// jwt, jwe: Better Auth from the same install, in this process (the reference server has no
// strategy switch), configured like it plus `cookieCache.strategy`.
// Each side keeps its own database, so a session only the other side created can be answered
// by the cookie alone. Prints "N passed, N failed".
import { spawn } from "node:child_process";
import path from "node:path";
import fs from "node:fs";
import os from "node:os";
import net from "node:net";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const [bin] = process.argv.slice(2);
const shared = path.resolve(here, "../../shared/conformance");
const work = process.env.CONFORMANCE_WORKDIR || path.join(process.env.TMPDIR || "/tmp", "palisade-conformance");
const SECRET = "cookie-cache-interop-secret-0123456789-abcdefghij";
const ORIGIN = "http://localhost:5173";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-cache-interop-"));
const DATA = "better-auth.session_data";
let passed = 0, failed = 0;

function check(name, ok, detail = "") {
  if (ok) passed++; else failed++;
  console.log(`${ok ? "ok" : "not ok"} - ${name}${ok ? "" : ` ${detail}`}`);
}

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function startProcess(cmd, args, env, probe) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  for (let i = 0; i < 3000; i++) {
    try { if ((await fetch(probe)).ok) return () => stop(child); } catch {}
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  stop(child);
  throw new Error(`${cmd} did not start:\n${log}`);
}

function stop(child) {
  try { process.kill(-child.pid, "SIGTERM"); } catch {}
  return new Promise((r) => (child.exitCode !== null ? r() : child.on("exit", r)));
}

async function startPalisade(strategy) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    PALISADE_CONFIG: path.resolve(here, "../conformance/cookie-cache.toml"), PALISADE_SESSION__COOKIE_CACHE__STRATEGY: strategy,
    BETTER_AUTH_SECRET: SECRET, PALISADE_LISTEN: `127.0.0.1:${port}`, BASE_URL: base, DATABASE_URL: `sqlite://${tmp}/pal-${strategy}.db`,
    PALISADE_EMAIL_LOG: path.join(tmp, "pal.jsonl"), PALISADE_LOG: "warn",
  };
  const stopIt = await startProcess(bin, ["serve"], env, `${base}/api/auth/ok`);
  return { call: (p, opts) => httpCall(base, p, opts), stop: stopIt };
}

/** The real reference server with COOKIE_CACHE=1 (compact, 300 s). */
async function startReference() {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = { PORT: String(port), BETTER_AUTH_SECRET: SECRET, COOKIE_CACHE: "1", RATE_LIMIT: "0", RESET_DB: "1", DB: path.join(tmp, "ref.db"), EMAIL_LOG: path.join(tmp, "ref.jsonl") };
  const stopIt = await startProcess(path.join(shared, "reference.sh"), [], env, `${base}/health`);
  return { call: (p, opts) => httpCall(base, p, opts), stop: stopIt };
}

/** Better Auth in this process with `cookieCache.strategy`, on an in-memory SQLite database. */
async function inProcessBetterAuth(strategy) {
  const load = (rel) => import(pathToFileURL(path.join(work, "node_modules", rel)).href);
  const { betterAuth } = await load("better-auth/dist/index.mjs");
  const { twoFactor } = await load("better-auth/dist/plugins/index.mjs");
  const { getMigrations } = await load("better-auth/dist/db/get-migration.mjs");
  const Database = (await load("better-sqlite3/lib/index.js")).default;
  const options = {
    appName: "Better Auth Peer", baseURL: "http://127.0.0.1:4199", basePath: "/api/auth", secret: SECRET,
    database: new Database(":memory:"), trustedOrigins: [ORIGIN, "http://127.0.0.1:*"],
    emailAndPassword: { enabled: true }, plugins: [twoFactor()], telemetry: { enabled: false },
    session: { cookieCache: { enabled: true, maxAge: 300, strategy } },
  };
  const auth = betterAuth(options);
  await (await getMigrations(options)).runMigrations();
  const call = async (p, opts = {}) => respond(await auth.handler(new Request(`http://127.0.0.1:4199/api/auth${p}`, request(opts))));
  return { call, stop: async () => {} };
}

function request({ body, cookie } = {}) {
  const headers = { origin: ORIGIN };
  if (body) headers["content-type"] = "application/json";
  if (cookie) headers.cookie = cookie;
  return { method: body ? "POST" : "GET", headers, body: body ? JSON.stringify(body) : undefined };
}

async function httpCall(base, p, opts = {}) {
  return respond(await fetch(`${base}/api/auth${p}`, request(opts)));
}

async function respond(res) {
  const text = await res.text();
  const set = res.headers.getSetCookie().map((c) => c.split(";")[0]);
  const cookie = set.filter((c) => !c.endsWith("=")).join("; ");
  return { status: res.status, json: text ? JSON.parse(text) : undefined, set, cookie };
}

/** A sign-up on `from`, then get-session on `to` with only its cookies. */
async function crossCheck(label, from, to, name) {
  const email = `${label.replace(/\W+/g, "-")}-${Date.now()}@interop.example`.toLowerCase();
  const up = await from.call("/sign-up/email", { body: { email, password: "interop-pass-1", name } });
  const chunks = up.set.filter((c) => c.startsWith(`${DATA}.`) && !c.endsWith("=")).length;
  const copy = up.set.some((c) => c.startsWith(DATA) && !c.endsWith("="));
  check(`${label}: sign-up sets the copy${name.length > 4096 ? " in chunks" : ""}`, up.status === 200 && copy && (name.length <= 4096 || chunks >= 2), JSON.stringify(up.set.map((c) => c.slice(0, 40))));
  const got = await to.call("/get-session", { cookie: up.cookie });
  check(`${label}: the other side answers from the copy`, got.json?.session?.token === up.json?.token && got.json?.user?.email === email && got.json?.user?.name === name, JSON.stringify(got.json)?.slice(0, 300));
}

try {
  const ref = await startReference();
  for (const strategy of ["compact", "jwt", "jwe"]) {
    const pal = await startPalisade(strategy);
    const other = strategy === "compact" ? ref : await inProcessBetterAuth(strategy);
    const who = strategy === "compact" ? "reference server" : "Better Auth (in process)";
    try {
      await crossCheck(`[${strategy}] ${who} -> palisade`, other, pal, "Interop");
      await crossCheck(`[${strategy}] palisade -> ${who}`, pal, other, "Interop");
      await crossCheck(`[${strategy}] ${who} -> palisade, chunked`, other, pal, "N".repeat(6000));
      await crossCheck(`[${strategy}] palisade -> ${who}, chunked`, pal, other, "N".repeat(6000));
    } finally {
      await pal.stop();
    }
  }
  await ref.stop();
} catch (e) {
  failed++;
  console.log(`not ok - ${e.stack || e.message}`);
}
fs.rmSync(tmp, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
