#!/usr/bin/env node
// `jwks` rows are shared with the real Better Auth both ways, for every algorithm:
//   A. Better Auth (jwt plugin with keyPairConfig.alg = X) creates the key; Palisade, configured
//      with the same alg and secret on the same SQLite file, signs /token with that very key.
//   B. Palisade creates the key; Better Auth signs /token with Palisade's key.
// Tokens of both are verified with jose against either server's /jwks.
//
//   node tests/node/jwks-interop.mjs <palisade binary>
// Run from a folder whose node_modules holds better-auth, better-sqlite3 and jose (the
// conformance work folder: scripts/test.sh copies this file there). Prints "N passed, N failed".
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { jwt, bearer } from "better-auth/plugins";
import * as jose from "jose";

const [bin] = process.argv.slice(2);
const SECRET = "jwks-interop-secret-0123456789-abcdefghijkl";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-jwks-interop-"));
let passed = 0, failed = 0;
const ok = (name, cond, detail = "") => {
  cond ? passed++ : failed++;
  console.log(`${cond ? "ok" : "not ok"} - ${name}${cond ? "" : ` ${detail}`}`);
};

const freePort = () => new Promise((resolve) => {
  const srv = net.createServer().listen(0, "127.0.0.1", () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
});

/** Better Auth in this process on `file`, answering Request objects. */
async function reference(file, alg, base) {
  const options = {
    baseURL: base, basePath: "/api/auth", secret: SECRET, database: new Database(file),
    emailAndPassword: { enabled: true }, telemetry: { enabled: false }, trustedOrigins: [base],
    plugins: [jwt({ jwks: { keyPairConfig: { alg } } }), bearer()],
  };
  const auth = betterAuth(options);
  const { runMigrations } = await getMigrations(options);
  await runMigrations();
  return async (method, p, body, cookie) => {
    const headers = { origin: base, ...(body ? { "content-type": "application/json" } : {}), ...(cookie ? { cookie } : {}) };
    return auth.handler(new Request(`${base}/api/auth${p}`, { method, headers, body: body && JSON.stringify(body) }));
  };
}

/** Palisade on `file` with the same secret and alg. */
async function palisade(file, alg) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env, PALISADE_LISTEN: `127.0.0.1:${port}`, BASE_URL: base, BETTER_AUTH_SECRET: SECRET,
    DATABASE_URL: `sqlite://${file}`, PALISADE_PLUGINS__JWT__ALG: alg, PALISADE_LOG: "warn",
    PALISADE_PLUGINS__TWO_FACTOR__ENABLED: "false",
  };
  delete env.PALISADE_CONFIG;
  const child = spawn(bin, ["serve"], { env, stdio: ["ignore", "inherit", "inherit"] });
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/api/auth/ok`)).ok) break; } catch {}
    if (i > 300 || child.exitCode !== null) throw new Error("palisade did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  const call = (method, p, body, cookie) => fetch(`${base}/api/auth${p}`, {
    method, headers: { origin: base, ...(body ? { "content-type": "application/json" } : {}), ...(cookie ? { cookie } : {}) },
    body: body && JSON.stringify(body),
  });
  return { base, call, stop: () => new Promise((r) => { child.on("exit", r); child.kill("SIGTERM"); }) };
}

const cookieOf = (res) => res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");

async function tokenOf(call, email) {
  let res = await call("POST", "/sign-in/email", { email, password: "password-123" });
  if (res.status !== 200) res = await call("POST", "/sign-up/email", { email, password: "password-123", name: "I" });
  const cookie = cookieOf(res);
  const t = await call("GET", "/token", undefined, cookie);
  return (await t.json()).token;
}

async function verifies(token, jwksJson, iss) {
  await jose.jwtVerify(token, jose.createLocalJWKSet(jwksJson), { issuer: iss, audience: iss });
  return true;
}

for (const alg of ["EdDSA", "RS256", "ES256", "PS256"]) {
  // A. The reference creates the key.
  {
    const file = path.join(tmp, `a-${alg}.db`);
    const refBase = "http://127.0.0.1:4999";
    const ref = await reference(file, alg, refBase);
    const refToken = await tokenOf(ref, `a-${alg.toLowerCase()}@interop.example`);
    const refKid = jose.decodeProtectedHeader(refToken).kid;
    const pal = await palisade(file, alg);
    try {
      const palToken = await tokenOf(pal.call, `a-${alg.toLowerCase()}@interop.example`);
      const header = jose.decodeProtectedHeader(palToken);
      ok(`[${alg}] a key created by Better Auth signs in Palisade`, header.kid === refKid && header.alg === alg, JSON.stringify(header));
      const palJwks = await (await pal.call("GET", "/jwks")).json();
      ok(`[${alg}] Palisade's /jwks verifies Better Auth's token`,
        await verifies(refToken, palJwks, refBase).catch((e) => e.message) === true);
      ok(`[${alg}] Palisade's token verifies`, await verifies(palToken, palJwks, pal.base).catch((e) => e.message) === true);
    } finally { await pal.stop(); }
  }
  // B. Palisade creates the key.
  {
    const file = path.join(tmp, `b-${alg}.db`);
    const pal = await palisade(file, alg);
    let palToken, palJwks;
    try {
      palToken = await tokenOf(pal.call, `b-${alg.toLowerCase()}@interop.example`);
      palJwks = await (await pal.call("GET", "/jwks")).json();
    } finally { await pal.stop(); }
    const refBase = "http://127.0.0.1:4998";
    const ref = await reference(file, alg, refBase);
    const refToken = await tokenOf(ref, `b-${alg.toLowerCase()}@interop.example`);
    const header = jose.decodeProtectedHeader(refToken);
    ok(`[${alg}] a key created by Palisade signs in Better Auth`, header.kid === jose.decodeProtectedHeader(palToken).kid && header.alg === alg, JSON.stringify(header));
    const refJwks = await (await ref("GET", "/jwks")).json();
    ok(`[${alg}] Better Auth's /jwks verifies Palisade's token`, await verifies(palToken, refJwks, pal.base).catch((e) => e.message) === true);
    ok(`[${alg}] the two /jwks agree`, JSON.stringify(refJwks) === JSON.stringify(palJwks), `${JSON.stringify(refJwks)} vs ${JSON.stringify(palJwks)}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
