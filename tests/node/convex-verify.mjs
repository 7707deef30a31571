#!/usr/bin/env node
// Verifies Palisade's Convex tokens exactly as Convex does, with the `jose` package:
//   1. OIDC provider (auth.config.ts `{ domain, applicationID: "convex" }`): fetch
//      `${domain}/.well-known/openid-configuration` (following the root redirect), check its
//      issuer, fetch `jwks_uri`, verify RS256 with issuer = domain and audience "convex";
//   2. customJwt provider with a `data:` URI JWKS from `palisade keys export-jwks --convex --data-uri`;
//   3. customJwt provider with the JWKS URL (`/convex/jwks`);
// and the JWT plugin's /token through its own discovery document.
//
//   node tests/node/convex-verify.mjs <palisade binary> [jose module path]
// Starts its own server (SQLite, temporary folder). Prints "N passed, N failed".
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { pathToFileURL } from "node:url";

const [bin, joseArg] = process.argv.slice(2);
const josePath = joseArg || process.env.JOSE_MODULE ||
  path.join(process.env.CONFORMANCE_WORKDIR || path.join(os.tmpdir(), "palisade-conformance"), "node_modules/jose/dist/webapi/index.js");
const jose = await import(pathToFileURL(josePath).href);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-convex-"));
let passed = 0, failed = 0;
async function check(name, fn) {
  try { await fn(); passed++; console.log(`ok - ${name}`); }
  catch (e) { failed++; console.log(`not ok - ${name}: ${e?.message ?? e}`); }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }

const port = await new Promise((resolve) => {
  const srv = net.createServer().listen(0, "127.0.0.1", () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
});
const base = `http://127.0.0.1:${port}`;
const env = {
  ...process.env,
  PALISADE_LISTEN: `127.0.0.1:${port}`, BASE_URL: base, BETTER_AUTH_SECRET: "convex-verify-secret-0123456789-abcdefghij",
  DATABASE_URL: `sqlite://${path.join(tmp, "p.db")}`, PALISADE_EMAIL_LOG: path.join(tmp, "mail.jsonl"),
  PALISADE_PLUGINS__CONVEX__ENABLED: "true", PALISADE_LOG: "warn",
};
delete env.PALISADE_CONFIG;
const child = spawn(bin, ["serve"], { env, stdio: ["ignore", "inherit", "inherit"] });
try {
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/api/auth/ok`)).ok) break; } catch {}
    if (i > 300 || child.exitCode !== null) throw new Error("server did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  const up = await fetch(`${base}/api/auth/sign-up/email`, {
    method: "POST", headers: { "content-type": "application/json", origin: base },
    body: JSON.stringify({ email: "convex@verify.example", password: "password-123", name: "Convex" }),
  });
  assert(up.status === 200, `sign-up ${up.status}`);
  const user = (await up.json()).user;
  const cookie = up.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const tokenRes = await fetch(`${base}/api/auth/convex/token`, { headers: { cookie } });
  const { token } = await tokenRes.json();
  const domain = base; // the site URL defaults to the base URL
  const expect = (payload) => {
    assert(payload.sub === user.id, "sub is the user id");
    assert(payload.email === user.email && payload.id === undefined && payload.image === undefined, "user fields minus id/image");
    assert(typeof payload.sessionId === "string", "sessionId");
    assert(payload.exp - payload.iat === 900, "15-minute expiry");
  };

  await check("OIDC discovery: root redirect -> document -> jwks_uri -> RS256 verify (iss=domain, aud=convex)", async () => {
    const res = await fetch(`${domain}/.well-known/openid-configuration`); // follows the 302
    assert(res.ok, `discovery ${res.status}`);
    assert(res.url === `${domain}/api/auth/convex/.well-known/openid-configuration`, `redirected to ${res.url}`);
    const doc = await res.json();
    assert(doc.issuer === domain, `issuer ${doc.issuer}`);
    assert(doc.id_token_signing_alg_values_supported.includes("RS256"), "RS256 advertised");
    const JWKS = jose.createRemoteJWKSet(new URL(doc.jwks_uri));
    const { payload, protectedHeader } = await jose.jwtVerify(token, JWKS, { issuer: domain, audience: "convex", algorithms: ["RS256"] });
    assert(protectedHeader.alg === "RS256" && protectedHeader.kid, "RS256 header with kid");
    expect(payload);
  });

  await check("customJwt with the data: URI of `palisade keys export-jwks --convex --data-uri`", async () => {
    const uri = execFileSync(bin, ["keys", "export-jwks", "--convex", "--data-uri"], { env, encoding: "utf8" }).trim();
    const prefix = "data:text/plain;charset=utf-8;base64,";
    assert(uri.startsWith(prefix), uri.slice(0, 60));
    const jwks = JSON.parse(Buffer.from(uri.slice(prefix.length), "base64").toString("utf8"));
    assert(jwks.keys.every((k) => k.alg === "RS256" && k.kty === "RSA" && !("d" in k)), "public RS256 keys only");
    const { payload } = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks), { issuer: domain, audience: "convex", algorithms: ["RS256"] });
    expect(payload);
  });

  await check("customJwt with the JWKS URL", async () => {
    const JWKS = jose.createRemoteJWKSet(new URL(`${domain}/api/auth/convex/jwks`));
    expect((await jose.jwtVerify(token, JWKS, { issuer: domain, audience: "convex", algorithms: ["RS256"] })).payload);
  });

  await check("convex_jwt cookie holds a token that verifies", async () => {
    const set = tokenRes.headers.getSetCookie().find((c) => c.startsWith("better-auth.convex_jwt="));
    assert(set && set.includes("Max-Age=900"), `cookie ${set}`);
    const value = set.split(";")[0].split("=")[1];
    const JWKS = jose.createRemoteJWKSet(new URL(`${domain}/api/auth/convex/jwks`));
    await jose.jwtVerify(value, JWKS, { issuer: domain, audience: "convex" });
  });

  await check("JWT plugin: /token verifies through /.well-known/openid-configuration (EdDSA)", async () => {
    const doc = await (await fetch(`${base}/api/auth/.well-known/openid-configuration`)).json();
    const { token: t } = await (await fetch(`${base}/api/auth/token`, { headers: { cookie } })).json();
    const { payload, protectedHeader } = await jose.jwtVerify(t, jose.createRemoteJWKSet(new URL(doc.jwks_uri)), { issuer: doc.issuer, audience: base });
    assert(protectedHeader.alg === "EdDSA" && payload.sub === user.id, "EdDSA token of the user");
  });
} finally {
  child.kill("SIGTERM");
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
