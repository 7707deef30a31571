// Helpers shared by the plugin conformance tests (conformance/plugins/*.test.mjs).
// The files are copied to $WORK/plugins next to the shared suite ($WORK/conformance), so the
// shared helpers are imported from "../conformance/lib.mjs".
import fs from "node:fs";
import crypto from "node:crypto";
import assert from "node:assert/strict";
import { createAuthClient } from "better-auth/client";
import { CookieJar, jarFetch, BASE_URL, EMAIL_LOG, SQLITE_DB, COOKIE_PREFIX, SESSION_COOKIE, ID_RE, ISO_RE, api } from "../conformance/lib.mjs";

export { SQLITE_DB };

/** Cookie the last-login-method plugin sets (its name is fixed: it does not follow the secure prefix). */
export const LAST_LOGIN_COOKIE = "better-auth.last_used_login_method";
/** Name of the multi-session cookie that carries `token`. */
export const multiCookieName = (token) => `${SESSION_COOKIE}_multi-${token.toLowerCase()}`;

/** Fields every user object carries in the plugin profile, besides the core ones, by plugin. */
const USER_FIELDS_BY_PLUGIN = {
  username: ["username", "displayUsername"],
  anonymous: ["isAnonymous"],
  "phone-number": ["phoneNumber", "phoneNumberVerified"],
  "last-login-method": ["lastLoginMethod"],
};
/** The plugins the server under test has (env PLUGINS=a,b); null when unset: all of the profile. */
export const PLUGINS = process.env.PLUGINS ? process.env.PLUGINS.split(",").map((p) => p.trim()).filter(Boolean) : null;
/** Whether the server under test has `plugin` (always, when PLUGINS is unset). */
export const hasPlugin = (plugin) => PLUGINS === null || PLUGINS.includes(plugin);
/** The profile's user fields of the plugins the server has. */
export const PLUGIN_USER_FIELDS = Object.entries(USER_FIELDS_BY_PLUGIN).filter(([p]) => hasPlugin(p)).flatMap(([, f]) => f);

let n = 0;
const rnd = () => crypto.randomBytes(3).toString("hex");
/** Unique, valid default-rule username (3..30 chars of [A-Za-z0-9_.]), lower-case. */
export function uniqueUsername(tag = "u") {
  return `${tag}_${Date.now().toString(36)}${process.pid % 1000}${n++}${rnd()}`.slice(0, 30);
}
/** Unique E.164-looking phone number. */
export function uniquePhone() {
  const digits = (Date.now() % 1e7).toString().padStart(7, "0") + String(n++ % 100).padStart(2, "0") + String(crypto.randomInt(0, 1000)).padStart(3, "0");
  return `+1${digits}`;
}
export function uniqueEmail(tag = "p") {
  return `${tag}-${Date.now().toString(36)}-${process.pid}-${n++}-${rnd()}@example.com`;
}

/** All messages in EMAIL_LOG (JSON lines). */
export function readMessages() {
  if (!fs.existsSync(EMAIL_LOG)) return [];
  return fs.readFileSync(EMAIL_LOG, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}
export function countMessages(to, kind) {
  return readMessages().filter((m) => m.to === to && (!kind || m.kind === kind)).length;
}
/**
 * Wait for a message with `to` (exact) and `kind` whose position in the log is at or after `skip`
 * matching messages (use countMessages() before the request to get `skip`). Returns the newest.
 */
export async function waitForMessage(to, kind, { skip = 0, timeoutMs = 3000, where = () => true } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hits = readMessages().filter((m) => m.to === to && m.kind === kind);
    const fresh = hits.slice(skip).filter(where);
    if (fresh.length) return fresh[fresh.length - 1];
    if (Date.now() > deadline) throw new Error(`no ${kind} message for ${to} in ${EMAIL_LOG} (after ${skip})`);
    await new Promise((r) => setTimeout(r, 40));
  }
}
/** Assert that no new message arrived (waits a little). */
export async function assertNoMessage(to, kind, skip, ms = 300) {
  await new Promise((r) => setTimeout(r, ms));
  assert.equal(countMessages(to, kind), skip, `unexpected ${kind} message to ${to}`);
}

/** An official Better Auth client with the given client plugins and a cookie jar. */
export function browser(plugins = []) {
  const jar = new CookieJar();
  const log = [];
  const client = createAuthClient({ baseURL: BASE_URL, plugins, fetchOptions: { customFetchImpl: jarFetch(jar, { log }) } });
  return { client, jar, log };
}

export function assertClientError(r, status, code, message) {
  assert.equal(r.data, null, `expected an error, got data ${JSON.stringify(r.data)}`);
  assert.ok(r.error, "error present");
  assert.equal(r.error.status, status, JSON.stringify(r.error));
  if (code) assert.equal(r.error.code, code);
  if (message) assert.equal(r.error.message, message);
}

/** Core + plugin-profile user shape (JSON over the wire: dates are ISO strings). */
export function assertPluginUser(u) {
  assert.match(u.id, ID_RE);
  assert.equal(typeof u.email, "string");
  assert.equal(typeof u.name, "string");
  assert.equal(typeof u.emailVerified, "boolean");
  assert.match(u.createdAt, ISO_RE);
  assert.match(u.updatedAt, ISO_RE);
  for (const f of PLUGIN_USER_FIELDS) assert.ok(f in u, `user.${f} present: ${JSON.stringify(u)}`);
  if (hasPlugin("username")) {
    assert.ok(u.username === null || typeof u.username === "string");
    assert.ok(u.displayUsername === null || typeof u.displayUsername === "string");
  }
  if (hasPlugin("anonymous")) assert.equal(typeof u.isAnonymous, "boolean");
  if (hasPlugin("phone-number")) {
    assert.ok(u.phoneNumber === null || typeof u.phoneNumber === "string");
    assert.ok(u.phoneNumberVerified === null || typeof u.phoneNumberVerified === "boolean");
  }
  if (hasPlugin("last-login-method")) assert.ok(u.lastLoginMethod === null || typeof u.lastLoginMethod === "string");
  assert.ok(!("password" in u));
}

/** Session cookie (signed "token.sig", URL-encoded) as the server set it. */
export function sessionCookieOf(res) {
  return res.setCookies.find((c) => c.name === SESSION_COOKIE);
}
/** The unsigned token inside a (URL-encoded) signed cookie value. */
export const tokenOfCookie = (v) => decodeURIComponent(v).split(".")[0];

/** get-session with a jar; returns the JSON (null when signed out). */
export async function session(jar) {
  const r = await api("/get-session", { jar: jar.clone() });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

/** Opens the server's SQLite DB read-only (only when SQLITE_DB is set). */
export async function openDb() {
  const { default: Database } = await import("better-sqlite3");
  return new Database(SQLITE_DB, { readonly: true, fileMustExist: true });
}
export const dbSkip = !SQLITE_DB && "set SQLITE_DB=<path to the server's sqlite file>";
/** PRAGMA table_info rows as [name, declared type (lower), notnull, pk] for the given columns. */
export function columns(db, table, names) {
  const all = db.prepare(`PRAGMA table_info("${table}")`).all();
  return names.map((nm) => {
    const c = all.find((x) => x.name === nm);
    return c ? [c.name, c.type.toLowerCase(), c.notnull, c.pk] : [nm, "(missing)"];
  });
}

export { COOKIE_PREFIX, SESSION_COOKIE, CookieJar, BASE_URL };

/** Ask for a sign-in email OTP and return the code the server sent. */
export async function requestEmailOtp(email, type = "sign-in") {
  const skip = countMessages(email.toLowerCase(), "email-otp");
  const res = await api("/email-otp/send-verification-otp", { body: { email, type } });
  assert.equal(res.status, 200, res.text);
  const m = await waitForMessage(email.toLowerCase(), "email-otp", { skip, where: (x) => x.type === type });
  return m.otp;
}
/** Ask for a magic link; returns the message {url, token}. */
export async function requestMagicLink(email, body = {}) {
  const skip = countMessages(email, "magic-link"); // magic links go to the address as typed
  const res = await api("/sign-in/magic-link", { body: { email, ...body } });
  assert.equal(res.status, 200, res.text);
  return waitForMessage(email, "magic-link", { skip });
}
