// Helpers of the interop scripts: start the reference or Palisade on one database, call routes.
import { spawn } from "node:child_process";
import path from "node:path";
import fs from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import net from "node:net";

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = path.resolve(here, "../../shared/conformance");
export const SECRET = "interop-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
export const ORIGIN = "http://localhost:5173";

/** A run against one backend: counts checks, starts servers on its database. */
export function interop({ bin, backend, db, palConfig = "default.toml", refEnv = {} }) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-interop-"));
  const run = { passed: 0, failed: 0 };
  run.check = (name, ok, detail = "") => {
    if (ok) run.passed++; else run.failed++;
    console.log(`${ok ? "ok" : "not ok"} - [${backend}] ${name}${ok ? "" : ` ${detail}`}`);
  };
  run.start = (kind) => start({ kind, bin, backend, db, tmp, palConfig, refEnv });
  run.finish = (e) => {
    if (e) { run.failed++; console.log(`not ok - [${backend}] ${e.message}`); }
    fs.rmSync(tmp, { recursive: true, force: true });
    console.log(`${run.passed} passed, ${run.failed} failed`);
    process.exit(run.failed ? 1 : 0);
  };
  return run;
}

/** A port nobody listens on now (so concurrent runs do not meet). */
function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function start({ kind, bin, backend, db, tmp, palConfig, refEnv }) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dbEnv = backend === "sqlite" ? (kind === "ref" ? { DB: db } : { DATABASE_URL: `sqlite://${db}` }) : { DATABASE_URL: db };
  const env = kind === "ref"
    ? { ...process.env, PORT: String(port), BETTER_AUTH_SECRET: SECRET, EMAIL_LOG: path.join(tmp, "ref.jsonl"), RATE_LIMIT: "0", ...refEnv, ...dbEnv }
    : { ...process.env, PALISADE_CONFIG: path.resolve(here, "../conformance", palConfig), BETTER_AUTH_SECRET: SECRET, PALISADE_LISTEN: `127.0.0.1:${port}`, BASE_URL: base, PALISADE_EMAIL_LOG: path.join(tmp, "pal.jsonl"), PALISADE_LOG: "warn", ...dbEnv };
  const cmd = kind === "ref" ? path.join(shared, "reference.sh") : bin;
  const args = kind === "ref" ? [] : ["serve"];
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const probe = kind === "ref" ? `${base}/health` : `${base}/api/auth/ok`;
  for (let i = 0; i < 1200; i++) {
    try { if ((await fetch(probe)).ok) return { base, stop: () => stop(child) }; } catch {}
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  stop(child);
  throw new Error(`${kind} did not start:\n${log}`);
}

function stop(child) {
  try { process.kill(-child.pid, "SIGTERM"); } catch {}
  return new Promise((r) => (child.exitCode !== null ? r() : child.on("exit", r)));
}

export async function call(base, p, { body, cookie } = {}) {
  const headers = { origin: ORIGIN };
  if (body) headers["content-type"] = "application/json";
  if (cookie) headers.cookie = cookie;
  const res = await fetch(`${base}/api/auth${p}`, { method: body ? "POST" : "GET", headers, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  const cookies = res.headers.getSetCookie().map((c) => c.split(";")[0]).filter((c) => !c.endsWith("="));
  return { status: res.status, json: text ? JSON.parse(text) : undefined, cookie: cookies.join("; ") };
}

