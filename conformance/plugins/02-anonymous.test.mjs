// anonymous plugin (default options): /sign-in/anonymous, /delete-anonymous-user, and the
// "link" hook that deletes the anonymous user once it signs in / signs up as a real user.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { anonymousClient } from "better-auth/client/plugins";
import { api, assertError, CookieJar, SESSION_COOKIE, SIGNED_RE, TOKEN_RE, signUp } from "../conformance/lib.mjs";
import { uniqueEmail, browser, assertClientError, assertPluginUser, sessionCookieOf, tokenOfCookie, session, LAST_LOGIN_COOKIE, multiCookieName, openDb, dbSkip, columns } from "./plib.mjs";

const ANON_EMAIL_RE = /^[a-z0-9]{32}@anonymous\.placeholder\.invalid$/;

async function anon(jar = new CookieJar()) {
  const res = await api("/sign-in/anonymous", { method: "POST", jar });
  assert.equal(res.status, 200, res.text);
  return { jar, res, user: res.json.user, token: res.json.token };
}

function assertClearsSession(res) {
  for (const n of ["session_token", "session_data", "dont_remember"]) {
    const c = res.setCookies.find((x) => x.name === `better-auth.${n}`);
    assert.ok(c, `${n} cleared: ${res.setCookieLines.join("\n")}`);
    assert.equal(c.value, "");
    assert.equal(c.attrs["max-age"], "0");
  }
}

describe("anonymous: POST /sign-in/anonymous", () => {
  test("200 {token, user}: a new user named 'Anonymous' with a placeholder email, isAnonymous:true", async () => {
    const { res, user, token, jar } = await anon();
    assert.deepEqual(Object.keys(res.json).sort(), ["token", "user"]);
    assert.match(token, TOKEN_RE);
    assertPluginUser(user);
    assert.equal(user.name, "Anonymous");
    assert.match(user.email, ANON_EMAIL_RE);
    assert.equal(user.emailVerified, false);
    assert.equal(user.isAnonymous, true);
    assert.equal(user.image, null);
    assert.equal(user.username, null);
    assert.equal(user.lastLoginMethod, null, "anonymous is not a tracked login method");
    const sc = sessionCookieOf(res);
    assert.match(decodeURIComponent(sc.value), SIGNED_RE);
    assert.equal(tokenOfCookie(sc.value), token);
    assert.equal(sc.attrs["max-age"], "604800");
    assert.equal(sc.attrs.httponly, true);
    assert.ok(res.setCookies.some((c) => c.name === multiCookieName(token)), "multi-session cookie");
    assert.ok(!res.setCookies.some((c) => c.name === LAST_LOGIN_COOKIE));
    const s = await session(jar);
    assert.equal(s.user.id, user.id);
    assert.equal(s.user.isAnonymous, true);
    assert.equal(s.session.token, token);
  });

  test("no body and an empty JSON body both work; every call makes a distinct user", async () => {
    const a = await anon();
    const b = await api("/sign-in/anonymous", { body: {} });
    assert.equal(b.status, 200);
    assert.notEqual(a.user.id, b.json.user.id);
    assert.notEqual(a.user.email, b.json.user.email);
  });

  test("already anonymous -> 400 ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY; session unchanged", async () => {
    const a = await anon();
    const res = await api("/sign-in/anonymous", { method: "POST", jar: a.jar.clone() });
    assertError(res, 400, "ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY", "Anonymous users cannot sign in again anonymously");
    assert.equal(res.setCookieLines.length, 0);
    assert.equal((await session(a.jar)).user.id, a.user.id);
  });

  test("signed in as a real user, anonymous sign-in still creates a new anonymous user (real user kept)", async () => {
    const real = await signUp();
    const before = real.jar.clone();
    const a = await anon(real.jar);
    assert.equal(a.user.isAnonymous, true);
    assert.notEqual(a.user.id, real.user.id);
    assert.equal((await session(before)).user.id, real.user.id);
  });

  test("GET /sign-in/anonymous -> 404", async () => {
    assert.equal((await api("/sign-in/anonymous")).status, 404);
  });
});

describe("anonymous: linking deletes the anonymous user", () => {
  test("sign-up/email from an anonymous session: new real user; the anonymous user and its sessions are gone", async () => {
    const a = await anon();
    const old = a.jar.clone();
    const email = uniqueEmail("link");
    const res = await api("/sign-up/email", { body: { email, password: "link-pass-123", name: "Linked" }, jar: a.jar });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.user.isAnonymous, false);
    assert.notEqual(res.json.user.id, a.user.id);
    assert.equal((await session(a.jar)).user.email, email);
    const gone = await api("/get-session", { jar: old });
    assert.equal(gone.json, null, "anonymous session deleted with its user");
  });

  test("sign-in/email from an anonymous session deletes the anonymous user; a failed sign-in does not", async () => {
    const real = await signUp();
    const a = await anon();
    const old = a.jar.clone();
    assertError(await api("/sign-in/email", { body: { email: real.email, password: "wrong-pass-1" }, jar: a.jar }), 401, "INVALID_EMAIL_OR_PASSWORD");
    assert.equal((await session(old)).user.id, a.user.id, "still there after a failed sign-in");
    const ok = await api("/sign-in/email", { body: { email: real.email, password: real.password }, jar: a.jar });
    assert.equal(ok.status, 200);
    assert.equal((await session(a.jar)).user.id, real.user.id);
    assert.equal((await api("/get-session", { jar: old })).json, null);
  });
});

describe("anonymous: POST /delete-anonymous-user", () => {
  test("200 {success:true}, clears the session cookies; the user and its sessions are deleted", async () => {
    const a = await anon();
    const second = await api("/get-session", { jar: a.jar.clone() });
    assert.equal(second.json.user.id, a.user.id);
    const old = a.jar.clone();
    const res = await api("/delete-anonymous-user", { body: {}, jar: a.jar });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { success: true });
    assertClearsSession(res);
    assert.equal((await api("/get-session", { jar: old })).json, null);
  });

  test("a real (non-anonymous) user -> 403 USER_IS_NOT_ANONYMOUS; no session -> 401 UNAUTHORIZED; GET -> 404", async () => {
    const real = await signUp();
    assertError(await api("/delete-anonymous-user", { body: {}, jar: real.jar }), 403, "USER_IS_NOT_ANONYMOUS", "User is not anonymous");
    assert.equal((await session(real.jar)).user.id, real.user.id);
    assertError(await api("/delete-anonymous-user", { body: {} }), 401, "UNAUTHORIZED", "Unauthorized");
    const a = await anon();
    assert.equal((await api("/delete-anonymous-user", { jar: a.jar })).status, 404);
  });

  test("the core /delete-user also works for an anonymous user", async () => {
    const a = await anon();
    const res = await api("/delete-user", { body: {}, jar: a.jar });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { success: true, message: "User deleted" });
    assert.equal((await session(a.jar)), null);
  });
});

describe("anonymous: official client (anonymousClient)", () => {
  test("signIn.anonymous -> data {token, user}; second call -> error 400; deleteAnonymousUser", async () => {
    const b = browser([anonymousClient()]);
    const r = await b.client.signIn.anonymous();
    assert.equal(r.error, null);
    assert.match(r.data.token, TOKEN_RE);
    assert.equal(r.data.user.isAnonymous, true);
    assert.ok(r.data.user.createdAt instanceof Date);
    assert.equal(tokenOfCookie(b.jar.get(SESSION_COOKIE)), r.data.token);
    const req = b.log.at(-1);
    assert.equal(req.method, "POST");
    assert.ok(req.url.endsWith("/api/auth/sign-in/anonymous"));
    assertClientError(await b.client.signIn.anonymous(), 400, "ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY", "Anonymous users cannot sign in again anonymously");
    const s = await b.client.getSession();
    assert.equal(s.data.user.id, r.data.user.id);
    const d = await b.client.deleteAnonymousUser();
    assert.equal(d.error, null);
    assert.deepEqual(d.data, { success: true });
    assert.equal(b.log.at(-1).method, "POST");
    assert.ok(!b.jar.has(SESSION_COOKIE));
    assert.equal((await b.client.getSession()).data, null);
  });
});

describe("anonymous: storage", { skip: dbSkip }, () => {
  test("user.isAnonymous integer nullable (0/1); linked anonymous user row deleted", async () => {
    const db = await openDb();
    try {
      assert.deepEqual(columns(db, "user", ["isAnonymous"]), [["isAnonymous", "integer", 0, 0]]);
      const a = await anon();
      assert.equal(db.prepare('select isAnonymous from "user" where id=?').get(a.user.id).isAnonymous, 1);
      const real = await signUp();
      assert.equal(db.prepare('select isAnonymous from "user" where id=?').get(real.user.id).isAnonymous, 0);
      await api("/sign-up/email", { body: { email: uniqueEmail("lnk"), password: "link-pass-123", name: "L" }, jar: a.jar });
      assert.equal(db.prepare('select count(*) n from "user" where id=?').get(a.user.id).n, 0);
      assert.equal(db.prepare('select count(*) n from "session" where userId=?').get(a.user.id).n, 0);
    } finally { db.close(); }
  });
});
