// multi-session plugin (default maximumSessions 5): one browser holds several signed-in accounts.
// Every response that creates a session also sets `<session cookie name>_multi-<lower-cased token>`
// (same signed value and attributes as the session cookie).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { multiSessionClient } from "better-auth/client/plugins";
import { api, assertError, signUp, CookieJar, SESSION_COOKIE, SIGNED_RE, hmacB64, SECRET } from "../conformance/lib.mjs";
import { uniqueEmail, browser, assertClientError, assertPluginUser, tokenOfCookie, session, multiCookieName } from "./plib.mjs";

const PASSWORD = "multi-pass-123";
const multiNames = (jar) => [...jar.map.keys()].filter((k) => k.includes("_multi-")).sort();

/** Sign up a new account in the given browser jar. */
async function addAccount(jar, name = "M") {
  const email = uniqueEmail("ms");
  const res = await api("/sign-up/email", { body: { email, password: PASSWORD, name }, jar });
  assert.equal(res.status, 200, res.text);
  return { email, token: res.json.token, user: res.json.user, res };
}

async function list(jar) {
  const res = await api("/multi-session/list-device-sessions", { jar: jar.clone() });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

describe("multi-session: the _multi- cookie", () => {
  test("sign-up sets session_token_multi-<lowercased token> with the session cookie's signed value and attributes", async () => {
    const a = await signUp();
    const sc = a.res.setCookies.find((c) => c.name === SESSION_COOKIE);
    const mc = a.res.setCookies.find((c) => c.name === multiCookieName(a.token));
    assert.ok(mc, a.res.setCookieLines.join("\n"));
    assert.equal(mc.name, `better-auth.session_token_multi-${a.token.toLowerCase()}`);
    assert.equal(mc.value, sc.value);
    assert.match(decodeURIComponent(mc.value), SIGNED_RE);
    assert.equal(tokenOfCookie(mc.value), a.token);
    assert.deepEqual(mc.attrs, { "max-age": "604800", path: "/", httponly: true, samesite: "Lax" });
    if (SECRET) assert.equal(decodeURIComponent(mc.value), `${a.token}.${hmacB64(SECRET, a.token)}`);
  });

  test("a second account in the same browser adds a second multi cookie; the active session switches", async () => {
    const jar = new CookieJar();
    const a = await addAccount(jar, "A");
    const b = await addAccount(jar, "B");
    assert.deepEqual(multiNames(jar), [multiCookieName(a.token), multiCookieName(b.token)].sort());
    assert.equal((await session(jar)).user.id, b.user.id);
  });

  test("signing in again as an account already in the browser replaces its old session (old one deleted, cookie expired)", async () => {
    const jar = new CookieJar();
    const a = await addAccount(jar, "A");
    const aOnly = jar.clone();
    await addAccount(jar, "B");
    const again = await api("/sign-in/email", { body: { email: a.email, password: PASSWORD }, jar });
    assert.equal(again.status, 200);
    const expired = again.setCookies.find((c) => c.name === multiCookieName(a.token));
    assert.ok(expired, again.setCookieLines.join("\n"));
    assert.equal(expired.value, "");
    assert.equal(expired.attrs["max-age"], "0");
    assert.ok(again.setCookies.some((c) => c.name === multiCookieName(again.json.token) && c.value !== ""));
    assert.equal(multiNames(jar).length, 2);
    assert.equal(await session(aOnly), null, "the replaced session is deleted server-side");
    const l = await list(jar);
    assert.deepEqual(l.map((x) => x.session.token).sort(), [again.json.token, ...l.filter((x) => x.user.id !== a.user.id).map((x) => x.session.token)].sort());
  });

  test("at most 5 accounts: the 6th sign-in gets a session cookie but no multi cookie", async () => {
    const jar = new CookieJar();
    for (let i = 0; i < 5; i++) await addAccount(jar, `N${i}`);
    assert.equal(multiNames(jar).length, 5);
    const sixth = await addAccount(jar, "N5");
    assert.ok(sixth.res.setCookies.some((c) => c.name === SESSION_COOKIE));
    assert.ok(!sixth.res.setCookies.some((c) => c.name.includes("_multi-")), sixth.res.setCookieLines.join("\n"));
    assert.equal(multiNames(jar).length, 5);
    assert.equal((await session(jar)).user.id, sixth.user.id);
    assert.equal((await list(jar)).length, 5);
  });
});

describe("multi-session: GET /multi-session/list-device-sessions", () => {
  test("[{session, user}] for every valid multi cookie (one entry per user)", async () => {
    const jar = new CookieJar();
    const a = await addAccount(jar, "A");
    const b = await addAccount(jar, "B");
    const l = await list(jar);
    assert.equal(l.length, 2);
    for (const item of l) {
      assert.deepEqual(Object.keys(item).sort(), ["session", "user"]);
      assertPluginUser(item.user);
      assert.equal(item.session.userId, item.user.id);
    }
    assert.deepEqual(l.map((x) => x.user.id).sort(), [a.user.id, b.user.id].sort());
    assert.deepEqual(l.map((x) => x.session.token).sort(), [a.token, b.token].sort());
  });

  test("no cookies -> 200 []; only a plain session cookie -> []; forged multi cookie ignored", async () => {
    const none = await api("/multi-session/list-device-sessions");
    assert.equal(none.status, 200);
    assert.deepEqual(none.json, []);
    const a = await signUp();
    const plain = new CookieJar();
    plain.set(SESSION_COOKIE, a.jar.get(SESSION_COOKIE));
    assert.deepEqual(await list(plain), []);
    const forged = new CookieJar();
    forged.set(multiCookieName(a.token), encodeURIComponent(`${a.token}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`));
    assert.deepEqual(await list(forged), []);
  });

  test("revoked sessions are left out", async () => {
    const jar = new CookieJar();
    const a = await addAccount(jar, "A");
    const b = await addAccount(jar, "B");
    assert.equal((await api("/revoke-session", { body: { token: a.token }, bearer: a.token })).status, 200);
    const l = await list(jar);
    assert.deepEqual(l.map((x) => x.user.id), [b.user.id]);
  });
});

describe("multi-session: POST /multi-session/set-active", () => {
  test("200 {session, user}; sets the session cookie to that account (no new session, no multi cookie)", async () => {
    const jar = new CookieJar();
    const a = await addAccount(jar, "A");
    await addAccount(jar, "B");
    const res = await api("/multi-session/set-active", { body: { sessionToken: a.token }, jar });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ["session", "user"]);
    assert.equal(res.json.session.token, a.token);
    assert.equal(res.json.user.id, a.user.id);
    assertPluginUser(res.json.user);
    assert.deepEqual(res.setCookies.map((c) => c.name), [SESSION_COOKIE]);
    assert.equal(tokenOfCookie(res.setCookies[0].value), a.token);
    assert.equal(res.setCookies[0].attrs["max-age"], "604800");
    assert.equal((await session(jar)).user.id, a.user.id);
  });

  test("token without a multi cookie in this browser -> 401 INVALID_SESSION_TOKEN (even a valid session token)", async () => {
    const jar = new CookieJar();
    await addAccount(jar, "A");
    const stranger = await signUp();
    assertError(await api("/multi-session/set-active", { body: { sessionToken: stranger.token }, jar }), 401, "INVALID_SESSION_TOKEN", "Invalid session token");
    assertError(await api("/multi-session/set-active", { body: { sessionToken: "bogus" }, jar }), 401, "INVALID_SESSION_TOKEN", "Invalid session token");
    assertError(await api("/multi-session/set-active", { body: {}, jar }), 400, "VALIDATION_ERROR", "[body.sessionToken] Invalid input: expected string, received undefined");
  });

  test("multi cookie whose session is gone -> 401 INVALID_SESSION_TOKEN and that multi cookie is expired", async () => {
    const jar = new CookieJar();
    const a = await addAccount(jar, "A");
    await addAccount(jar, "B");
    await api("/revoke-session", { body: { token: a.token }, bearer: a.token });
    const res = await api("/multi-session/set-active", { body: { sessionToken: a.token }, jar });
    assertError(res, 401, "INVALID_SESSION_TOKEN", "Invalid session token");
    const c = res.setCookies.find((x) => x.name === multiCookieName(a.token));
    assert.ok(c);
    assert.equal(c.value, "");
    assert.equal(c.attrs["max-age"], "0");
  });

  test("the token in the body may be given in any letter case (cookie name is lower-cased)", async () => {
    const jar = new CookieJar();
    const a = await addAccount(jar, "A");
    await addAccount(jar, "B");
    // the body's token only selects the cookie; the session comes from the cookie's signed value
    const res = await api("/multi-session/set-active", { body: { sessionToken: a.token.toUpperCase() }, jar });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.session.token, a.token);
  });
});

describe("multi-session: POST /multi-session/revoke", () => {
  test("revoking an inactive account: {status:true}, its multi cookie expired, its session deleted; active one kept", async () => {
    const jar = new CookieJar();
    const a = await addAccount(jar, "A");
    const b = await addAccount(jar, "B");
    const res = await api("/multi-session/revoke", { body: { sessionToken: a.token }, jar });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { status: true });
    assert.deepEqual(res.setCookies.map((c) => [c.name, c.value, c.attrs["max-age"]]), [[multiCookieName(a.token), "", "0"]]);
    assert.equal((await session(jar)).user.id, b.user.id);
    assert.deepEqual((await list(jar)).map((x) => x.user.id), [b.user.id]);
    assert.equal((await api("/get-session", { bearer: a.token })).json, null);
  });

  test("revoking the active account switches the session cookie to another account of the browser", async () => {
    const jar = new CookieJar();
    const a = await addAccount(jar, "A");
    const b = await addAccount(jar, "B");
    const res = await api("/multi-session/revoke", { body: { sessionToken: b.token }, jar });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: true });
    const names = res.setCookies.map((c) => c.name);
    assert.ok(names.includes(multiCookieName(b.token)));
    const sc = res.setCookies.find((c) => c.name === SESSION_COOKIE);
    assert.equal(tokenOfCookie(sc.value), a.token);
    assert.equal((await session(jar)).user.id, a.user.id);
  });

  test("revoking the last account clears the session cookies", async () => {
    const jar = new CookieJar();
    const a = await addAccount(jar, "A");
    const res = await api("/multi-session/revoke", { body: { sessionToken: a.token }, jar });
    assert.equal(res.status, 200);
    for (const n of [multiCookieName(a.token), SESSION_COOKIE, "better-auth.session_data", "better-auth.dont_remember"]) {
      const c = res.setCookies.find((x) => x.name === n);
      assert.ok(c, `${n}: ${res.setCookieLines.join("\n")}`);
      assert.equal(c.attrs["max-age"], "0");
    }
    assert.equal(await session(jar), null);
  });

  test("no session -> 401 UNAUTHORIZED; token not in this browser -> 401 INVALID_SESSION_TOKEN (session survives)", async () => {
    const a = await signUp();
    assertError(await api("/multi-session/revoke", { body: { sessionToken: a.token } }), 401, "UNAUTHORIZED", "Unauthorized");
    const other = await signUp();
    assertError(await api("/multi-session/revoke", { body: { sessionToken: a.token }, jar: other.jar }), 401, "INVALID_SESSION_TOKEN", "Invalid session token");
    assert.equal((await session(a.jar)).user.id, a.user.id);
    assertError(await api("/multi-session/revoke", { body: {}, jar: other.jar }), 400, "VALIDATION_ERROR");
  });
});

describe("multi-session: POST /sign-out", () => {
  test("expires every multi cookie and deletes all of the browser's sessions", async () => {
    const jar = new CookieJar();
    const a = await addAccount(jar, "A");
    const b = await addAccount(jar, "B");
    const res = await api("/sign-out", { body: {}, jar });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { success: true });
    for (const t of [a.token, b.token]) {
      const c = res.setCookies.find((x) => x.name === multiCookieName(t));
      assert.ok(c, res.setCookieLines.join("\n"));
      assert.equal(c.value, "");
      assert.equal(c.attrs["max-age"], "0");
    }
    assert.equal((await api("/get-session", { bearer: a.token })).json, null);
    assert.equal((await api("/get-session", { bearer: b.token })).json, null);
    assert.deepEqual(multiNames(jar), []);
  });
});

describe("multi-session: official client (multiSessionClient)", () => {
  test("listDeviceSessions, setActive, revoke", async () => {
    const br = browser([multiSessionClient()]);
    const a = await br.client.signUp.email({ email: uniqueEmail("msc"), password: PASSWORD, name: "CA" });
    const b = await br.client.signUp.email({ email: uniqueEmail("msc"), password: PASSWORD, name: "CB" });
    assert.equal(a.error, null);
    const l = await br.client.multiSession.listDeviceSessions();
    assert.equal(l.error, null);
    assert.equal(br.log.at(-1).method, "GET");
    assert.deepEqual(l.data.map((x) => x.user.name).sort(), ["CA", "CB"]);
    assert.ok(l.data[0].session.expiresAt instanceof Date);
    const s = await br.client.multiSession.setActive({ sessionToken: a.data.token });
    assert.equal(s.error, null);
    assert.equal(s.data.user.id, a.data.user.id);
    assert.deepEqual(JSON.parse(br.log.at(-1).body), { sessionToken: a.data.token });
    assert.equal((await br.client.getSession()).data.user.id, a.data.user.id);
    const r = await br.client.multiSession.revoke({ sessionToken: b.data.token });
    assert.equal(r.error, null);
    assert.deepEqual(r.data, { status: true });
    assertClientError(await br.client.multiSession.setActive({ sessionToken: b.data.token }), 401, "INVALID_SESSION_TOKEN", "Invalid session token");
  });
});
