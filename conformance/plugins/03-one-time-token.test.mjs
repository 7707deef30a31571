// one-time-token plugin (default options: 3-minute tokens stored in plain text, cookie set on verify).
//
// In the reference's plugin profile the cross-domain plugin is also on, and its endpoint shares the
// one-time-token plugin's endpoint key, so Better Auth routes only /cross-domain/one-time-token/verify
// (the same verification, tokens from /one-time-token/generate included); /one-time-token/verify is
// not routed. With EXPECT_CROSS_DOMAIN=0 (reference started with CROSS_DOMAIN=0) the verify tests run
// against /one-time-token/verify instead. Both variants are calibrated on the reference.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { oneTimeTokenClient } from "better-auth/client/plugins";
import { api, assertError, signUp, CookieJar, SESSION_COOKIE, SIGNED_RE, EXPECT, ISO_RE, TOKEN_RE } from "../conformance/lib.mjs";
import { browser, assertPluginUser, sessionCookieOf, tokenOfCookie, session, multiCookieName, LAST_LOGIN_COOKIE, openDb, dbSkip } from "./plib.mjs";

const OTT_RE = /^[A-Za-z0-9_-]{32}$/;
const VERIFY = EXPECT.crossDomain ? "/cross-domain/one-time-token/verify" : "/one-time-token/verify";

async function generate(jar) {
  const res = await api("/one-time-token/generate", { jar });
  assert.equal(res.status, 200, res.text);
  return res.json.token;
}

describe("one-time-token: GET /one-time-token/generate", () => {
  test("200 {token} (32 chars of [A-Za-z0-9_-]); no cookies; every call a new token", async () => {
    const a = await signUp();
    const res = await api("/one-time-token/generate", { jar: a.jar });
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.json), ["token"]);
    assert.match(res.json.token, OTT_RE);
    assert.equal(res.setCookieLines.length, 0);
    assert.notEqual(await generate(a.jar), res.json.token);
  });

  test("without a session -> 401 UNAUTHORIZED; POST -> 404", async () => {
    assertError(await api("/one-time-token/generate"), 401, "UNAUTHORIZED", "Unauthorized");
    const a = await signUp();
    assert.equal((await api("/one-time-token/generate", { body: {}, jar: a.jar })).status, 404);
  });

  test("works with a bearer token as well as the cookie", async () => {
    const a = await signUp();
    const res = await api("/one-time-token/generate", { bearer: a.token });
    assert.equal(res.status, 200);
    assert.match(res.json.token, OTT_RE);
  });
});

describe(`one-time-token: POST ${VERIFY}`, () => {
  test("200 {session, user} of the generating session; sets that session's cookies in the new browser", async () => {
    const a = await signUp();
    const token = await generate(a.jar);
    const jar = new CookieJar();
    const res = await api(VERIFY, { body: { token }, jar });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ["session", "user"]);
    assert.equal(res.json.session.token, a.token, "the same session, not a new one");
    assert.equal(res.json.session.userId, a.user.id);
    assert.match(res.json.session.expiresAt, ISO_RE);
    assertPluginUser(res.json.user);
    assert.equal(res.json.user.id, a.user.id);
    const sc = sessionCookieOf(res);
    assert.match(decodeURIComponent(sc.value), SIGNED_RE);
    assert.equal(tokenOfCookie(sc.value), a.token);
    assert.equal(sc.attrs["max-age"], "604800");
    assert.ok(res.setCookies.some((c) => c.name === multiCookieName(a.token)));
    assert.ok(!res.setCookies.some((c) => c.name === LAST_LOGIN_COOKIE));
    const s = await session(jar);
    assert.equal(s.session.token, a.token);
    assert.equal(s.user.id, a.user.id);
  });

  test("single use: the second verification -> 400 {message:'Invalid token'} (no code)", async () => {
    const a = await signUp();
    const token = await generate(a.jar);
    assert.equal((await api(VERIFY, { body: { token } })).status, 200);
    const res = await api(VERIFY, { body: { token } });
    assertError(res, 400, undefined, "Invalid token");
    assert.deepEqual(res.json, { message: "Invalid token" });
    assert.equal(res.setCookieLines.length, 0);
  });

  test("unknown token -> 400 {message:'Invalid token'}; missing token -> 400 VALIDATION_ERROR", async () => {
    const res = await api(VERIFY, { body: { token: "not-a-real-token-0123456789abcdef" } });
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, { message: "Invalid token" });
    assertError(await api(VERIFY, { body: {} }), 400, "VALIDATION_ERROR", "[body.token] Invalid input: expected string, received undefined");
  });

  test("session signed out after generation -> 400 {message:'Session not found'}; token consumed anyway", async () => {
    const a = await signUp();
    const token = await generate(a.jar);
    assert.equal((await api("/sign-out", { body: {}, jar: a.jar.clone() })).status, 200);
    const res = await api(VERIFY, { body: { token } });
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, { message: "Session not found" });
    assert.deepEqual((await api(VERIFY, { body: { token } })).json, { message: "Invalid token" });
  });

  test("a token is bound to its session, not to a user: two sessions -> two different tokens", async () => {
    const a = await signUp();
    const b = await api("/sign-in/email", { body: { email: a.email, password: a.password } });
    const tA = await generate(a.jar);
    const tB = (await api("/one-time-token/generate", { bearer: b.json.token })).json.token;
    assert.equal((await api(VERIFY, { body: { token: tB } })).json.session.token, b.json.token);
    assert.equal((await api(VERIFY, { body: { token: tA } })).json.session.token, a.token);
  });
});

describe("one-time-token: official client (oneTimeTokenClient)", () => {
  test("oneTimeToken.generate (GET) and verify", async () => {
    const a = browser([oneTimeTokenClient()]);
    const up = await a.client.signUp.email({ email: `ott-${Date.now()}-${process.pid}@example.com`, password: "ott-pass-123", name: "OTT" });
    assert.equal(up.error, null);
    const g = await a.client.oneTimeToken.generate();
    assert.equal(g.error, null);
    assert.match(g.data.token, OTT_RE);
    assert.equal(a.log.at(-1).method, "GET");
    assert.ok(a.log.at(-1).url.endsWith("/api/auth/one-time-token/generate"));
    if (!EXPECT.crossDomain) {
      const b = browser([oneTimeTokenClient()]);
      const v = await b.client.oneTimeToken.verify({ token: g.data.token });
      assert.equal(v.error, null);
      assert.equal(v.data.session.token, up.data.token);
      assert.ok(v.data.session.expiresAt instanceof Date);
      assert.equal(tokenOfCookie(b.jar.get(SESSION_COOKIE)), up.data.token);
      const again = await b.client.oneTimeToken.verify({ token: g.data.token });
      assert.equal(again.error.status, 400);
      assert.equal(again.error.message, "Invalid token");
    } else {
      const res = await api(VERIFY, { body: { token: g.data.token } });
      assert.equal(res.json.session.token, up.data.token);
    }
  });
});

describe("one-time-token: storage", { skip: dbSkip }, () => {
  test("verification row: identifier 'one-time-token:<token>' (plain), value = session token, expires in 3 min", async () => {
    const db = await openDb();
    try {
      const a = await signUp();
      const t0 = Date.now();
      const token = await generate(a.jar);
      const row = db.prepare("select * from verification where identifier=?").get(`one-time-token:${token}`);
      assert.ok(row, "row present");
      assert.equal(row.value, a.token);
      const ttl = Date.parse(row.expiresAt) - t0;
      assert.ok(ttl > 170e3 && ttl < 185e3, `ttl ${ttl}`);
      assert.match(row.expiresAt, ISO_RE);
      assert.equal((await api(VERIFY, { body: { token } })).status, 200);
      assert.equal(db.prepare("select count(*) n from verification where identifier=?").get(`one-time-token:${token}`).n, 0, "deleted on use");
    } finally { db.close(); }
  });
});
