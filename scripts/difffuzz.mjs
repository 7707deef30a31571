#!/usr/bin/env node
// Differential fuzzer: one seeded pseudo-random sequence of adversarial requests is sent to the real
// Better Auth (../shared/conformance/reference.sh) and to Palisade, each on a fresh database with the
// same secret and rate limiting off; the answers are compared by status, error `code`, top-level
// body keys and the redirect target's shape. Prints the agreement and every class of difference;
// the known differences (KNOWN below, each with its reason) are counted apart.
//
//   node scripts/difffuzz.mjs [--bin target/release/palisade] [--seed 1] [--count 5000] [--min 99]
//                             [--examples 1] [--json FILE]
//
// Exits 1 when the agreement is below --min (default 0: report only). Each logical request is
// generated before either server is asked, so the sequence depends only on the seed; per-server
// values (session tokens, challenge cookies, TOTP codes, base URLs) are filled in per server.
import { spawn } from "node:child_process";
import path from "node:path";
import fs from "node:fs";
import os from "node:os";
import net from "node:net";
import crypto from "node:crypto";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const args = parseArgs(process.argv.slice(2));
const SEED = Number(args.seed ?? 1);
const COUNT = Number(args.count ?? 5000);
const MIN = Number(args.min ?? 0);
const EXAMPLES = Number(args.examples ?? 1);
const BIN = path.resolve(args.bin ?? path.join(root, "target/release/palisade"));
const shared = path.resolve(process.env.PALISADE_SHARED ?? path.join(root, "../shared"), "conformance");
const SECRET = "difffuzz-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const SITE = "http://localhost:5173";
const PASSWORD = "correct-horse-battery-9";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-difffuzz-"));

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith("--")) continue;
    const [k, v] = argv[i].slice(2).split("=", 2);
    out[k] = v ?? (argv[i + 1] && !argv[i + 1].startsWith("--") ? argv[++i] : "1");
  }
  return out;
}

// ---------------------------------------------------------------- servers

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function start(kind) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const db = path.join(tmp, `${kind}.db`);
  const emails = path.join(tmp, `${kind}-emails.jsonl`);
  const env = kind === "ref"
    ? { ...process.env, PORT: String(port), DB: db, EMAIL_LOG: emails, BETTER_AUTH_SECRET: SECRET, RATE_LIMIT: "0", RESET_DB: "1" }
    : {
        ...process.env, PALISADE_CONFIG: path.join(root, "conformance/default.toml"), BETTER_AUTH_SECRET: SECRET,
        DATABASE_URL: `sqlite://${db}`, PALISADE_EMAIL_LOG: emails, PALISADE_LISTEN: `127.0.0.1:${port}`,
        BASE_URL: base, PALISADE_LOG: "error",
      };
  const cmd = kind === "ref" ? path.join(shared, "reference.sh") : BIN;
  const child = spawn(cmd, kind === "ref" ? [] : ["serve"], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const probe = kind === "ref" ? `${base}/health` : `${base}/api/auth/ok`;
  // The first reference start installs its npm packages (a few minutes on a fresh machine).
  for (let i = 0; i < 6000; i++) {
    try { if ((await fetch(probe)).ok) return { kind, base, child, log: () => log }; } catch {}
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

// ---------------------------------------------------------------- randomness

function mulberry32(a) {
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = mulberry32(SEED * 2654435761);
const chance = (p) => rnd() < p;
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
function weighted(pairs) {
  const total = pairs.reduce((s, [w]) => s + w, 0);
  let x = rnd() * total;
  for (const [w, v] of pairs) if ((x -= w) < 0) return v;
  return pairs[pairs.length - 1][1];
}

// ---------------------------------------------------------------- the request model

const RUN = Date.now().toString(36);
const users = {
  alice: { email: `alice-${RUN}@fuzz.test`, password: PASSWORD, name: "Alice" },
  bob: { email: `bob-${RUN}@fuzz.test`, password: PASSWORD, name: "Bob" }, // two-factor on
};

// Values a field may take. `$…` strings are per-server substitutions.
const URLS = [
  "/dashboard", "/", "http://localhost:5173/after", "http://127.0.0.1:3999/x", "https://evil.example/",
  "//evil.example", "/\\evil.example", "javascript:alert(1)", "http://localhost:5173.evil.example/", "",
  "relative/path", "https://localhost:5173/", "/ok?x=1#frag", "HTTP://LOCALHOST:5173/", "  /lead",
];
const WRONG = [42, true, null, [], {}, ["a"], { a: 1 }, 0, -1.5, false];
const EMAILS = () => [`$alice.email`, `$bob.email`, `new-${RUN}-${Math.floor(rnd() * 1e9)}@fuzz.test`, "not-an-email", "", "a@b", "UPPER-" + `${RUN}@FUZZ.TEST`];
const PASSWORDS = [PASSWORD, "wrong-password-123", "short", "x".repeat(200), "", " ".repeat(10)];
const TOKENS = ["garbage-token", "", "a".repeat(32), "$session.token", "../../etc", "tok.en.sig"];
const CODES = ["000000", "123456", "$totp", "abc", "", "1234567", "XXXXX-XXXXX"];

const string = (pool) => () => (typeof pool === "function" ? pick(pool()) : pick(pool));
const bool = () => pick([true, false]);
const F = {
  email: string(EMAILS), password: string(PASSWORDS), name: string(["Zed", "", "名前", "x".repeat(300)]),
  url: string(URLS), token: string(TOKENS), code: string(CODES), bool, image: string(["https://img.example/a.png", "", "not a url"]),
  text: string(["a", "", "x".repeat(100)]), provider: string(["github", "google", "nope", ""]),
};

// route: [method, path, body fields {name: [generator, required]}, query fields, auth kind, weight]
// auth kind: "session" (signed-in routes), "challenge" (two-factor sign-in), "any".
const ROUTES = [
  ["POST", "/sign-up/email", { name: [F.name, 1], email: [F.email, 1], password: [F.password, 1], image: [F.image, 0], callbackURL: [F.url, 0], rememberMe: [bool, 0] }, null, "any", 6],
  ["POST", "/sign-in/email", { email: [F.email, 1], password: [F.password, 1], callbackURL: [F.url, 0], rememberMe: [bool, 0] }, null, "any", 7],
  ["POST", "/sign-out", {}, null, "session", 2],
  ["GET", "/get-session", null, { disableCookieCache: [string(["true", "false"]), 0], disableRefresh: [string(["true", "x"]), 0] }, "session", 4],
  ["POST", "/get-session", {}, null, "session", 1],
  ["GET", "/list-sessions", null, {}, "session", 2],
  ["POST", "/revoke-session", { token: [F.token, 1] }, null, "session", 2],
  ["POST", "/revoke-sessions", {}, null, "session", 1],
  ["POST", "/revoke-other-sessions", {}, null, "session", 1],
  ["POST", "/update-user", { name: [F.name, 0], image: [F.image, 0], email: [F.email, 0] }, null, "session", 4],
  ["POST", "/change-password", { currentPassword: [F.password, 1], newPassword: [string([PASSWORD, "short", "x".repeat(200)]), 1], revokeOtherSessions: [bool, 0] }, null, "session", 3],
  ["POST", "/change-email", { newEmail: [F.email, 1], callbackURL: [F.url, 0] }, null, "session", 3],
  ["POST", "/delete-user", { password: [F.password, 0], callbackURL: [F.url, 0], token: [F.token, 0] }, null, "session", 2],
  ["POST", "/request-password-reset", { email: [F.email, 1], redirectTo: [F.url, 0] }, null, "any", 4],
  ["GET", "/reset-password/$pathtoken", null, { callbackURL: [F.url, 1] }, "any", 3],
  ["POST", "/reset-password", { newPassword: [F.password, 1], token: [F.token, 0] }, { token: [F.token, 0] }, "any", 3],
  ["POST", "/send-verification-email", { email: [F.email, 1], callbackURL: [F.url, 0] }, null, "any", 3],
  ["GET", "/verify-email", null, { token: [F.token, 1], callbackURL: [F.url, 0] }, "any", 3],
  ["GET", "/ok", null, {}, "any", 1],
  ["GET", "/error", null, { error: [string(["INVALID_TOKEN", "<script>", ""]), 0] }, "any", 1],
  ["POST", "/sign-in/social", { provider: [F.provider, 1], callbackURL: [F.url, 0], errorCallbackURL: [F.url, 0], newUserCallbackURL: [F.url, 0], disableRedirect: [bool, 0] }, null, "any", 4],
  ["POST", "/link-social", { provider: [F.provider, 1], callbackURL: [F.url, 0] }, null, "session", 2],
  ["GET", "/list-accounts", null, {}, "session", 2],
  ["POST", "/unlink-account", { providerId: [F.provider, 1], accountId: [F.text, 0] }, null, "session", 2],
  ["POST", "/get-access-token", { providerId: [F.provider, 1], accountId: [F.text, 0] }, null, "session", 1],
  ["POST", "/refresh-token", { providerId: [F.provider, 1], accountId: [F.text, 0] }, null, "session", 1],
  ["GET", "/account-info", null, { accountId: [F.text, 0] }, "session", 1],
  ["POST", "/two-factor/enable", { password: [F.password, 1], issuer: [F.text, 0] }, null, "session", 3],
  ["POST", "/two-factor/get-totp-uri", { password: [F.password, 1] }, null, "session", 2],
  ["POST", "/two-factor/verify-totp", { code: [F.code, 1], trustDevice: [bool, 0] }, null, "challenge", 3],
  ["POST", "/two-factor/verify-backup-code", { code: [F.code, 1], trustDevice: [bool, 0], disableSession: [bool, 0] }, null, "challenge", 2],
  ["POST", "/two-factor/generate-backup-codes", { password: [F.password, 1] }, null, "session", 2],
  ["POST", "/two-factor/disable", { password: [F.password, 1] }, null, "session", 2],
  ["POST", "/two-factor/send-otp", { trustDevice: [bool, 0] }, null, "challenge", 2],
  ["POST", "/two-factor/verify-otp", { code: [F.code, 1], trustDevice: [bool, 0] }, null, "challenge", 2],
  ["POST", "/cross-domain/one-time-token/verify", { token: [F.token, 1] }, null, "any", 2],
  ["GET", "/token", null, {}, "session", 3],
  ["GET", "/jwks", null, {}, "any", 1],
];
const UNKNOWN = ["/nope", "/sign-in", "/sign-up", "/sign-in/email/extra", "/two-factor", "/two-factor/nope", "/callback", "/admin/list-users", "/SIGN-IN/EMAIL", "/get-session/", "/ok/extra"];

const ORIGINS = [
  [4, { origin: SITE }], [3, {}], [2, { origin: "null" }], [2, { origin: "https://evil.example" }],
  [1, { origin: "http://127.0.0.1:9" }], [1, { referer: `${SITE}/page` }], [1, { referer: "https://evil.example/page" }],
  [1, { origin: "http://localhost:5173.evil.example" }], [1, { origin: "" }],
];
const FETCH_META = [
  [6, {}], [1, { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" }], [1, { "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors" }],
  [1, { "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors" }], [1, { "sec-fetch-mode": "navigate" }], [1, { "sec-fetch-site": "none" }],
];
// Credentials: cookie forms and bearer forms (abstract; filled in per server).
const CREDS = [[4, "none"], [6, "valid"], [1, "tampered"], [1, "unsigned"], [2, "bearer"], [1, "bearer-signed"], [1, "bearer-garbage"], [1, "garbage-cookie"], [1, "unknown-session"]];

function mutateBody(fields) {
  const body = {};
  for (const [k, [gen, required]] of Object.entries(fields)) {
    if (required ? chance(0.9) : chance(0.4)) body[k] = gen();
  }
  // Field-level damage: a wrong type, a URL field elsewhere, an unknown key.
  const keys = Object.keys(fields);
  if (keys.length && chance(0.3)) body[pick(keys)] = pick(WRONG);
  if (keys.length && chance(0.1)) delete body[pick(keys)];
  if (chance(0.08)) body[pick(["callbackURL", "redirectTo", "errorCallbackURL", "newUserCallbackURL"])] = chance(0.5) ? pick(URLS) : pick(WRONG);
  if (chance(0.05)) body.extra = "x";
  return body;
}

/** One abstract request, decided by the seed alone. */
function generate(i) {
  const unknown = chance(0.05);
  const [method0, path0, fields, qfields, authKind] = unknown ? [pick(["GET", "POST"]), pick(UNKNOWN), {}, null, "any"] : weighted(ROUTES.map((r) => [r[5], r]));
  let method = method0;
  if (chance(0.04)) method = pick(["PUT", "DELETE", "PATCH", method0 === "GET" ? "POST" : "GET"]);
  const req = { i, method, path: path0, headers: {}, cred: weighted(CREDS), query: {}, kind: "json" };
  if (path0.includes("$pathtoken")) req.path = path0.replace("$pathtoken", pick(["garbage", "$session.token", "a".repeat(24)]));
  if (authKind === "challenge" && chance(0.6)) req.cred = "challenge";
  if (req.cred === "bearer-garbage") req.garbage = pick(["Bearer ", "Basic Zm9vOmJhcg==", "Bearer a.b.c", "garbage"]);
  Object.assign(req.headers, weighted(ORIGINS), weighted(FETCH_META));
  if (qfields) {
    for (const [k, [gen, required]] of Object.entries(qfields)) if (required ? chance(0.85) : chance(0.4)) req.query[k] = String(gen());
  }
  if (method !== "GET") {
    req.body = fields ? mutateBody(fields) : {};
    req.kind = weighted([[20, "json"], [2, "none-ct"], [2, "bad-json"], [2, "non-object"], [1, "empty"], [1, "text/plain"], [1, "form"], [1, "multipart"], [1, "json-charset"]]);
    if (req.kind === "non-object") req.raw = pick(["[]", "1", '"s"', "null", "true", "[{}]"]);
    if (req.kind === "bad-json") req.raw = pick(["{", '{"a":', "{'a':1}", "nul", "{}}"]);
  }
  return req;
}

// ---------------------------------------------------------------- per-server state

function totp(uri, offset = 0) {
  const b32 = new URL(uri).searchParams.get("secret");
  let bits = "";
  for (const ch of b32.replace(/=+$/, "")) bits += "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".indexOf(ch.toUpperCase()).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offset));
  const h = crypto.createHmac("sha1", key).update(counter).digest();
  const o = h[19] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1e6).padStart(6, "0");
}

const COOKIE = "better-auth.session_token";

async function raw(server, method, p, { headers = {}, body } = {}) {
  const res = await fetch(`${server.base}/api/auth${p}`, { method, headers, body, redirect: "manual" });
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, text, json, headers: res.headers };
}

async function api(server, p, body, cookie) {
  const headers = { origin: SITE, "content-type": "application/json" };
  if (cookie) headers.cookie = cookie;
  const r = await raw(server, "POST", p, { headers, body: JSON.stringify(body) });
  const jar = r.headers.getSetCookie().map((c) => c.split(";")[0]).filter((c) => !c.endsWith("="));
  return { ...r, cookie: jar.join("; ") };
}

function signedFrom(cookie) {
  const m = cookie.match(new RegExp(`${COOKIE.replace(".", "\\.")}=([^;]+)`));
  return m ? decodeURIComponent(m[1]) : undefined;
}

/** Alice signed in (a session we can lose and get back), Bob with TOTP on. */
async function setup(server) {
  const s = { server };
  for (const u of Object.values(users)) {
    const up = await api(server, "/sign-up/email", u);
    if (up.status !== 200) throw new Error(`${server.kind}: sign-up failed ${up.status} ${up.text}`);
  }
  const bobIn = await api(server, "/sign-in/email", { email: users.bob.email, password: PASSWORD });
  const en = await api(server, "/two-factor/enable", { password: PASSWORD }, bobIn.cookie);
  s.totpURI = en.json?.totpURI;
  const on = await api(server, "/two-factor/verify-totp", { code: totp(s.totpURI) }, bobIn.cookie);
  if (en.status !== 200 || on.status !== 200) throw new Error(`${server.kind}: 2FA setup failed ${en.text} ${on.text}`);
  await signInAlice(s);
  return s;
}

async function signInAlice(s) {
  let r = await api(s.server, "/sign-in/email", { email: users.alice.email, password: PASSWORD });
  if (r.status !== 200) {
    // Deleted by a fuzzed delete-user: the same user again.
    await api(s.server, "/sign-up/email", users.alice);
    r = await api(s.server, "/sign-in/email", { email: users.alice.email, password: PASSWORD });
  }
  s.signed = signedFrom(r.cookie);
  s.token = r.json?.token;
}

/** A fresh two-factor challenge cookie for Bob. */
async function challenge(s) {
  const r = await api(s.server, "/sign-in/email", { email: users.bob.email, password: PASSWORD });
  return r.cookie;
}

/** After a request that may have ended Alice's session, get one again (same action on both). */
async function repair(s) {
  const r = await raw(s.server, "GET", "/get-session", { headers: { cookie: `${COOKIE}=${encodeURIComponent(s.signed)}` } });
  if (!r.json?.session) await signInAlice(s);
}

function substitute(v, s) {
  if (typeof v === "string") {
    return v.replaceAll("$alice.email", users.alice.email).replaceAll("$bob.email", users.bob.email)
      .replaceAll("$session.token", s.token ?? "").replaceAll("$totp", s.totpURI ? totp(s.totpURI) : "000000");
  }
  if (Array.isArray(v)) return v.map((x) => substitute(x, s));
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, s)]));
  return v;
}

async function materialize(req, s) {
  const headers = { ...req.headers };
  const cookies = [];
  const signed = s.signed;
  switch (req.cred) {
    case "valid": cookies.push(`${COOKIE}=${encodeURIComponent(signed)}`); break;
    case "tampered": cookies.push(`${COOKIE}=${encodeURIComponent(signed.slice(0, -3) + (signed.endsWith("AAA") ? "BBB" : "AAA"))}`); break;
    case "unsigned": cookies.push(`${COOKIE}=${s.token}`); break;
    case "bearer": headers.authorization = `Bearer ${s.token}`; break;
    case "bearer-signed": headers.authorization = `Bearer ${encodeURIComponent(signed)}`; break;
    case "bearer-garbage": headers.authorization = req.garbage; break;
    case "garbage-cookie": cookies.push(`${COOKIE}=%%%garbage`); break;
    case "unknown-session": cookies.push(`${COOKIE}=${encodeURIComponent("nosuchsession." + "A".repeat(43) + "=")}`); break;
    case "challenge": cookies.push(await challenge(s)); break;
  }
  if (cookies.length) headers.cookie = cookies.join("; ");
  const query = new URLSearchParams(substitute(req.query, s)).toString();
  const p = substitute(req.path, s) + (query ? `?${query}` : "");
  let body;
  if (req.method !== "GET" && req.method !== "HEAD") {
    const b = substitute(req.body, s);
    switch (req.kind) {
      case "json": headers["content-type"] = "application/json"; body = JSON.stringify(b); break;
      case "json-charset": headers["content-type"] = "application/json; charset=utf-8"; body = JSON.stringify(b); break;
      case "none-ct": body = Buffer.from(JSON.stringify(b)); break;
      case "bad-json": case "non-object": headers["content-type"] = "application/json"; body = req.raw; break;
      case "empty": headers["content-type"] = "application/json"; break;
      case "text/plain": headers["content-type"] = "text/plain"; body = JSON.stringify(b); break;
      case "form": headers["content-type"] = "application/x-www-form-urlencoded"; body = new URLSearchParams(Object.entries(b).filter(([, v]) => typeof v === "string")).toString(); break;
      case "multipart": headers["content-type"] = "multipart/form-data; boundary=x"; body = "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--\r\n"; break;
    }
  }
  return { method: req.method, path: p, headers, body };
}

/** What is compared: status, code, top-level keys, and where a redirect goes (shape only). */
function summarize(r, server) {
  const j = r.json;
  let shape;
  if (r.text === "") shape = "empty";
  else if (j === undefined) shape = "text";
  else if (j === null) shape = "null";
  else if (Array.isArray(j)) shape = "array";
  else if (typeof j === "object") shape = Object.keys(j).sort().join(",");
  else shape = typeof j;
  const code = j && typeof j === "object" && !Array.isArray(j) ? j.code ?? "-" : "-";
  let location = r.headers.get("location");
  if (location) {
    location = location.replaceAll(server.base, "BASE");
    try {
      const u = new URL(location, "http://rel.invalid");
      location = `${u.origin === "http://rel.invalid" ? "" : u.origin}${u.pathname.replace(/\/reset-password\/[^/]+$/, "/reset-password/:t")}?${[...u.searchParams.keys()].sort().join("&")}`;
    } catch {}
  }
  return { status: r.status, code, shape, location: location ?? "" };
}

// Differences that are understood and kept, each with its reason. They are printed apart and
// left out of the agreement figure that --min judges (the raw figure is printed too).
const KNOWN = [
  ["config: the reference profile has no two-factor OTP sender", (q, a) => a.code === "OTP_NOT_CONFIGURED"],
  ["stricter: Palisade refuses `Origin: null` even with `Sec-Fetch-Site: same-origin`",
    (q, a, b) => b.code === "MISSING_OR_NULL_ORIGIN" && q.headers.origin === "null" && q.headers["sec-fetch-site"] === "same-origin"],
  ["stricter: update-user refuses a non-string name/image (the reference stores it)",
    (q, a, b) => q.path === "/update-user" && b.code === "VALIDATION_ERROR" && a.status === 200],
  ["reference 500s", (q, a) => a.status >= 500],
];

const same = (a, b) => a.status === b.status && a.code === b.code && a.shape === b.shape && a.location === b.location;

function describe(req) {
  const h = Object.entries(req.headers).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ");
  const q = Object.keys(req.query).length ? `?${new URLSearchParams(req.query)}` : "";
  const b = req.method === "GET" ? "" : ` ${req.kind}:${req.raw ?? JSON.stringify(req.body)}`;
  return `#${req.i} ${req.method} ${req.path}${q} cred=${req.cred} ${h}${b}`;
}

const MUTATING = /sign-out|revoke|delete-user|change-password|two-factor\/(disable|enable)|update-user/;

async function main() {
  const servers = await Promise.all([start("ref"), start("pal")]);
  try {
    const states = await Promise.all(servers.map(setup));
    const classes = new Map();
    let agree = 0;
    const known = new Map();
    for (let i = 0; i < COUNT; i++) {
      const req = generate(i);
      const answers = await Promise.all(states.map(async (s) => {
        const m = await materialize(req, s);
        const r = await raw(s.server, m.method, m.path, { headers: m.headers, body: m.body });
        return summarize(r, s.server);
      }));
      const [a, b] = answers;
      const reason = same(a, b) ? undefined : KNOWN.find(([, f]) => f(req, a, b))?.[0];
      if (same(a, b)) agree++;
      else if (reason) known.set(reason, (known.get(reason) ?? 0) + 1);
      else {
        const route = UNKNOWN.includes(req.path) ? "(unknown route)" : req.path.replace(/\/reset-password\/.+/, "/reset-password/:token");
        const what = [];
        if (a.status !== b.status) what.push(`status ${a.status}/${b.status}`);
        if (a.code !== b.code) what.push(`code ${a.code}/${b.code}`);
        if (a.shape !== b.shape) what.push(`keys [${a.shape}]/[${b.shape}]`);
        if (a.location !== b.location) what.push(`location ${a.location}/${b.location}`);
        const key = `${req.method} ${route}: ${what.join(", ")}`;
        const c = classes.get(key) ?? { n: 0, examples: [] };
        c.n++;
        if (c.examples.length < EXAMPLES) c.examples.push(describe(req));
        classes.set(key, c);
      }
      if ((req.cred === "valid" || req.cred.startsWith("bearer")) && MUTATING.test(req.path)) await Promise.all(states.map(repair));
    }
    const knownN = [...known.values()].reduce((x, y) => x + y, 0);
    const pct = (100 * agree) / (COUNT - knownN);
    const sorted = [...classes.entries()].sort((x, y) => y[1].n - x[1].n);
    console.log(`# differing classes (reference/palisade), seed ${SEED}`);
    for (const [k, c] of sorted) {
      console.log(`${String(c.n).padStart(5)}  ${k}`);
      for (const e of c.examples) console.log(`         e.g. ${e}`);
    }
    console.log("# known differences (left out of the figure)");
    for (const [k, n] of known) console.log(`${String(n).padStart(5)}  ${k}`);
    if (args.json) fs.writeFileSync(args.json, JSON.stringify({ seed: SEED, count: COUNT, agree, classes: Object.fromEntries(sorted) }, null, 2));
    console.log(`difffuzz seed ${SEED}: ${agree}/${COUNT - knownN} agree (${pct.toFixed(2)}%), ${sorted.length} differing classes; ` +
      `${knownN} known differences; raw ${agree}/${COUNT} (${((100 * agree) / COUNT).toFixed(2)}%)`);
    process.exitCode = pct + 1e-9 >= MIN ? 0 : 1;
  } finally {
    await Promise.all(servers.map((s) => stop(s.child)));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(2); });
