// last-login-method plugin (storeInDatabase: true): a readable cookie
// `better-auth.last_used_login_method=<method>` (30 days) on every response that sets the session
// cookie from a recognised sign-in route, and user.lastLoginMethod kept up to date in the database.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { lastLoginMethodClient, usernameClient } from "better-auth/client/plugins";
import { api, assertError, signUp, signIn, CookieJar } from "../conformance/lib.mjs";
import { uniqueEmail, uniqueUsername, browser, session, LAST_LOGIN_COOKIE, requestEmailOtp, requestMagicLink, openDb, dbSkip, columns, needs } from "./plib.mjs";

function lastCookie(res) {
  return res.setCookies.find((c) => c.name === LAST_LOGIN_COOKIE);
}
function assertLastCookie(res, method) {
  const c = lastCookie(res);
  assert.ok(c, `expected ${LAST_LOGIN_COOKIE}: ${res.setCookieLines.join("\n")}`);
  assert.equal(c.value, method);
  assert.deepEqual(c.attrs, { "max-age": "2592000", path: "/", samesite: "Lax" }, "not HttpOnly, 30 days");
}

describe("last-login-method: cookie per sign-in method", () => {
  test("sign-up/email -> 'email'; user.lastLoginMethod 'email' in the response and get-session", async () => {
    const a = await signUp();
    assertLastCookie(a.res, "email");
    assert.equal(a.user.lastLoginMethod, "email");
    assert.equal((await session(a.jar)).user.lastLoginMethod, "email");
  });

  test("sign-in/email -> 'email'; failed sign-in sets no cookie", async () => {
    const a = await signUp();
    const ok = await signIn(a.email, a.password);
    assertLastCookie(ok.res, "email");
    const bad = await signIn(a.email, "wrong-pass-1");
    assert.equal(bad.res.status, 401);
    assert.equal(lastCookie(bad.res), undefined);
  });

  test("sign-in/email-otp -> 'email-otp' (cookie and stored value), for a new and an existing user", needs("email-otp"), async () => {
    const email = uniqueEmail("llm-otp");
    const code = await requestEmailOtp(email);
    const res = await api("/sign-in/email-otp", { body: { email, otp: code } });
    assert.equal(res.status, 200, res.text);
    assertLastCookie(res, "email-otp");
    assert.equal(res.json.user.lastLoginMethod, "email-otp", "new user created with the method");
    const a = await signUp();
    const res2 = await api("/sign-in/email-otp", { body: { email: a.email, otp: await requestEmailOtp(a.email) } });
    assert.equal(res2.status, 200, res2.text);
    assertLastCookie(res2, "email-otp");
    const jar = new CookieJar();
    jar.absorb(res2.setCookieLines);
    assert.equal((await session(jar)).user.lastLoginMethod, "email-otp");
  });

  test("magic-link/verify -> 'magic-link'", needs("magic-link"), async () => {
    const a = await signUp();
    const m = await requestMagicLink(a.email);
    const jar = new CookieJar();
    const res = await api(`/magic-link/verify?token=${encodeURIComponent(m.token)}`, { jar });
    assert.equal(res.status, 200, res.text);
    assertLastCookie(res, "magic-link");
    assert.equal((await session(jar)).user.lastLoginMethod, "magic-link");
  });

  test("sign-in/username, sign-in/anonymous: no cookie and the stored method is not changed", async () => {
    const name = uniqueUsername("llm");
    const a = await signUp({ extra: { username: name } });
    const u = await api("/sign-in/username", { body: { username: name, password: a.password } });
    assert.equal(u.status, 200);
    assert.equal(lastCookie(u), undefined);
    assert.equal((await session(a.jar)).user.lastLoginMethod, "email");
    const anon = await api("/sign-in/anonymous", { method: "POST" });
    assert.equal(anon.status, 200);
    assert.equal(lastCookie(anon), undefined);
    assert.equal(anon.json.user.lastLoginMethod, null);
  });

  test("the stored method follows the latest recognised sign-in (email -> email-otp -> email)", needs("email-otp", "magic-link"), async () => {
    const a = await signUp();
    // verify the email first so the OTP sign-in does not strip the password (see email-otp tests)
    await api("/sign-in/email-otp", { body: { email: a.email, otp: await requestEmailOtp(a.email) } });
    assert.equal((await api("/get-session", { bearer: a.token })).json, null, "unverified user: old sessions revoked by the OTP sign-in");
    const m = await requestMagicLink(a.email);
    const ml = await api(`/magic-link/verify?token=${encodeURIComponent(m.token)}`);
    assert.equal(ml.json.user.lastLoginMethod, "email-otp", "the user in the response is read before the update");
    const s = await api("/get-session", { bearer: ml.json.token });
    assert.equal(s.json.user.lastLoginMethod, "magic-link");
  });

  test("get-session, update-user and sign-out set no last-login cookie", async () => {
    const a = await signUp();
    assert.equal(lastCookie(await api("/get-session", { jar: a.jar })), undefined);
    assert.equal(lastCookie(await api("/update-user", { body: { name: "Renamed" }, jar: a.jar })), undefined);
    assert.equal(lastCookie(await api("/sign-out", { body: {}, jar: a.jar })), undefined);
  });

  test("lastLoginMethod is not an input field: sign-up or update-user with it -> 400 FIELD_NOT_ALLOWED", async () => {
    assertError(await api("/sign-up/email", { body: { email: uniqueEmail(), password: "llm-pass-123", name: "x", lastLoginMethod: "hack" } }), 400, "FIELD_NOT_ALLOWED", "lastLoginMethod is not allowed to be set");
    const a = await signUp();
    assertError(await api("/update-user", { body: { lastLoginMethod: "hack" }, jar: a.jar }), 400, "FIELD_NOT_ALLOWED", "lastLoginMethod is not allowed to be set");
  });
});

describe("last-login-method: official client (lastLoginMethodClient)", () => {
  test("no document in Node: getLastUsedLoginMethod() is null and the cookie still arrives in the jar", async () => {
    const b = browser([lastLoginMethodClient(), usernameClient()]);
    const r = await b.client.signUp.email({ email: uniqueEmail("llmc"), password: "llm-pass-123", name: "C" });
    assert.equal(r.error, null);
    assert.equal(r.data.user.lastLoginMethod, "email");
    assert.equal(b.jar.get(LAST_LOGIN_COOKIE), "email");
    assert.equal(b.client.getLastUsedLoginMethod(), null);
    assert.equal(b.client.isLastUsedLoginMethod("email"), false);
  });
});

describe("last-login-method: storage", { skip: dbSkip }, () => {
  test("user.lastLoginMethod text nullable; written on user creation and on each recognised sign-in", needs("magic-link", "anonymous"), async () => {
    const db = await openDb();
    try {
      assert.deepEqual(columns(db, "user", ["lastLoginMethod"]), [["lastLoginMethod", "text", 0, 0]]);
      const a = await signUp();
      const get = () => db.prepare('select lastLoginMethod from "user" where id=?').get(a.user.id).lastLoginMethod;
      assert.equal(get(), "email");
      const m = await requestMagicLink(a.email);
      await api(`/magic-link/verify?token=${encodeURIComponent(m.token)}`);
      assert.equal(get(), "magic-link");
      const anon = await api("/sign-in/anonymous", { method: "POST" });
      assert.equal(db.prepare('select lastLoginMethod from "user" where id=?').get(anon.json.user.id).lastLoginMethod, null);
    } finally { db.close(); }
  });
});
