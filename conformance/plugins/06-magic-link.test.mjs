// magic-link plugin (default options: 5-minute single-use tokens stored in plain text, sign-up on).
// With the cross-domain plugin on (the reference's default), relative callback URLs in the link are
// made absolute against the site URL and successful verifications redirect with an extra `ott`
// query parameter; EXPECT_CROSS_DOMAIN=0 pins the plain behaviour. Absolute trusted URLs behave the same.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { magicLinkClient } from "better-auth/client/plugins";
import { api, rawHttp, assertError, signUp, signIn, CookieJar, SESSION_COOKIE, SIGNED_RE, TOKEN_RE, EXPECT, AUTH_URL, ISO_RE } from "../conformance/lib.mjs";
import { uniqueEmail, browser, assertPluginUser, sessionCookieOf, tokenOfCookie, session, requestMagicLink, countMessages, assertNoMessage, LAST_LOGIN_COOKIE, multiCookieName, openDb, dbSkip, hasPlugin } from "./plib.mjs";

const ML_TOKEN_RE = /^[A-Za-z]{32}$/;
const SITE = "http://localhost:5173";
const OTT_SUFFIX_RE = EXPECT.crossDomain ? /\?ott=[A-Za-z0-9_-]{32}$/ : /^$/;

/** Split a success redirect into [url without the cross-domain ott, ott suffix]. */
function assertRedirect(res, expected) {
  assert.equal(res.status, 302, res.text);
  const loc = res.headers.get("location");
  assert.ok(loc.startsWith(expected), `${loc} should start with ${expected}`);
  assert.match(loc.slice(expected.length), OTT_SUFFIX_RE);
}
const verifyPath = (token, params = {}) => `/magic-link/verify?${new URLSearchParams({ token, ...params })}`;

describe("magic-link: POST /sign-in/magic-link", () => {
  test("200 {status:true}; one message {kind:'magic-link', to, url, token}; link points at GET /magic-link/verify", async () => {
    const email = uniqueEmail("ml");
    const res = await api("/sign-in/magic-link", { body: { email } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { status: true });
    assert.equal(res.setCookieLines.length, 0);
    const m = await requestMagicLink(email);
    assert.match(m.token, ML_TOKEN_RE);
    const url = new URL(m.url);
    assert.equal(`${url.origin}${url.pathname}`, `${AUTH_URL}/magic-link/verify`);
    assert.equal(url.searchParams.get("token"), m.token);
    assert.equal(url.searchParams.get("callbackURL"), EXPECT.crossDomain ? SITE : "/");
    assert.deepEqual([...url.searchParams.keys()], ["token", "callbackURL"]);
  });

  test("callbackURL, newUserCallbackURL and errorCallbackURL are carried in the link (in that order)", async () => {
    const email = uniqueEmail("ml");
    const m = await requestMagicLink(email, { callbackURL: `${SITE}/home`, newUserCallbackURL: `${SITE}/welcome`, errorCallbackURL: `${SITE}/oops`, metadata: { x: 1 } });
    const url = new URL(m.url);
    assert.deepEqual([...url.searchParams], [["token", m.token], ["callbackURL", `${SITE}/home`], ["newUserCallbackURL", `${SITE}/welcome`], ["errorCallbackURL", `${SITE}/oops`]]);
    const rel = await requestMagicLink(email, { callbackURL: "/dash" });
    assert.equal(new URL(rel.url).searchParams.get("callbackURL"), EXPECT.crossDomain ? `${SITE}/dash` : "/dash");
  });

  test("untrusted callback URLs -> 403 INVALID_CALLBACK_URL / INVALID_NEW_USER_CALLBACK_URL / INVALID_ERROR_CALLBACK_URL; nothing sent", async () => {
    const email = uniqueEmail("ml");
    assertError(await api("/sign-in/magic-link", { body: { email, callbackURL: "https://evil.example/x" } }), 403, "INVALID_CALLBACK_URL", "Invalid callbackURL");
    assertError(await api("/sign-in/magic-link", { body: { email, newUserCallbackURL: "https://evil.example/x" } }), 403, "INVALID_NEW_USER_CALLBACK_URL", "Invalid newUserCallbackURL");
    assertError(await api("/sign-in/magic-link", { body: { email, errorCallbackURL: "https://evil.example/x" } }), 403, "INVALID_ERROR_CALLBACK_URL", "Invalid errorCallbackURL");
    await assertNoMessage(email, "magic-link", 0);
  });

  test("invalid or missing email -> 400 VALIDATION_ERROR", async () => {
    assertError(await api("/sign-in/magic-link", { body: { email: "not-an-email" } }), 400, "VALIDATION_ERROR", "[body.email] Invalid email address");
    assertError(await api("/sign-in/magic-link", { body: {} }), 400, "VALIDATION_ERROR", "[body.email] Invalid input: expected string, received undefined");
  });

  test("cross-site navigation without cookies (Sec-Fetch-Site: cross-site, Sec-Fetch-Mode: navigate) -> 403", async () => {
    const res = await rawHttp("/sign-in/magic-link", { method: "POST", headers: { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" }, body: { email: uniqueEmail("csrf") } });
    assertError(res, 403, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED");
  });
});

describe("magic-link: GET /magic-link/verify", () => {
  test("no callbackURL: 200 {token, user, session} JSON, session cookies set, new user created verified", async () => {
    const email = uniqueEmail("mlnew");
    const m = await requestMagicLink(email, { name: "Magic Person" });
    const jar = new CookieJar();
    const res = await api(verifyPath(m.token), { jar });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ["session", "token", "user"]);
    assert.match(res.json.token, TOKEN_RE);
    assertPluginUser(res.json.user);
    assert.equal(res.json.user.email, email);
    assert.equal(res.json.user.name, "Magic Person");
    assert.equal(res.json.user.emailVerified, true);
    assert.equal(res.json.session.token, res.json.token);
    assert.equal(res.json.session.userId, res.json.user.id);
    assert.match(res.json.session.expiresAt, ISO_RE);
    const sc = sessionCookieOf(res);
    assert.match(decodeURIComponent(sc.value), SIGNED_RE);
    assert.equal(tokenOfCookie(sc.value), res.json.token);
    assert.equal(sc.attrs["max-age"], "604800");
    if (hasPlugin("multi-session")) assert.ok(res.setCookies.some((c) => c.name === multiCookieName(res.json.token)));
    if (hasPlugin("last-login-method")) assert.equal(res.setCookies.find((c) => c.name === LAST_LOGIN_COOKIE)?.value, "magic-link");
    assert.equal((await session(jar)).user.id, res.json.user.id);
  });

  test("without a name the new user's name is the empty string", async () => {
    const email = uniqueEmail("mlnoname");
    const m = await requestMagicLink(email);
    const res = await api(verifyPath(m.token));
    assert.equal(res.status, 200);
    assert.equal(res.json.user.name, "");
  });

  test("existing verified user: signs in as that user (no new user)", async () => {
    const a = await signUp();
    const first = await requestMagicLink(a.email);
    assert.equal((await api(verifyPath(first.token))).status, 200); // verifies the email (see next test)
    const again = await signIn(a.email, a.password);
    assert.equal(again.res.status, 401, "the first magic link stripped the unproven password");
    const m = await requestMagicLink(a.email);
    const res = await api(verifyPath(m.token));
    assert.equal(res.status, 200);
    assert.equal(res.json.user.id, a.user.id);
  });

  test("existing unverified user: email becomes verified, its password account and old sessions are removed", async () => {
    const a = await signUp();
    assert.equal(a.user.emailVerified, false);
    const m = await requestMagicLink(a.email);
    const res = await api(verifyPath(m.token));
    assert.equal(res.status, 200);
    assert.equal(res.json.user.id, a.user.id);
    assert.equal(res.json.user.emailVerified, true);
    assert.equal(await session(a.jar), null, "sessions from before the proof are revoked");
    assertError((await signIn(a.email, a.password)).res, 401, "INVALID_EMAIL_OR_PASSWORD");
    assert.equal((await api("/get-session", { bearer: res.json.token })).json.user.emailVerified, true);
  });

  test("with callbackURL: 302 to it (existing user) or to newUserCallbackURL (new user); cookies set", async () => {
    const email = uniqueEmail("mlcb");
    const m1 = await requestMagicLink(email, { callbackURL: `${SITE}/home`, newUserCallbackURL: `${SITE}/welcome` });
    const r1 = await api(new URL(m1.url).pathname.replace(/^\/api\/auth/, "") + new URL(m1.url).search);
    assertRedirect(r1, `${SITE}/welcome`);
    assert.ok(sessionCookieOf(r1));
    const m2 = await requestMagicLink(email, { callbackURL: `${SITE}/home`, newUserCallbackURL: `${SITE}/welcome` });
    const r2 = await api(verifyPath(m2.token, { callbackURL: `${SITE}/home`, newUserCallbackURL: `${SITE}/welcome` }));
    assertRedirect(r2, `${SITE}/home`);
    assert.ok(sessionCookieOf(r2));
    assert.equal(r2.text, "");
  });

  test("relative callbackURL on verify resolves against the server's base URL origin", async () => {
    const m = await requestMagicLink(uniqueEmail("mlrel"));
    const res = await api(verifyPath(m.token, { callbackURL: "/after" }));
    const base = new URL(AUTH_URL).origin;
    assertRedirect(res, `${base}/after`);
  });

  test("single use: a second verification redirects to the error URL with ?error=INVALID_TOKEN, no cookies", async () => {
    const m = await requestMagicLink(uniqueEmail("mlonce"));
    assert.equal((await api(verifyPath(m.token))).status, 200);
    const res = await api(verifyPath(m.token, { callbackURL: `${SITE}/home`, errorCallbackURL: `${SITE}/oops` }));
    assert.equal(res.status, 302);
    assert.equal(res.headers.get("location"), `${SITE}/oops?error=INVALID_TOKEN`);
    assert.equal(res.setCookieLines.length, 0);
  });

  test("unknown token: error redirect goes to errorCallbackURL, else callbackURL, else the base URL origin '/'", async () => {
    const base = new URL(AUTH_URL).origin;
    let res = await api(verifyPath("bogus"));
    assert.equal(res.status, 302);
    assert.equal(res.headers.get("location"), `${base}/?error=INVALID_TOKEN`);
    res = await api(verifyPath("bogus", { callbackURL: `${SITE}/home` }));
    assert.equal(res.headers.get("location"), `${SITE}/home?error=INVALID_TOKEN`);
    res = await api(verifyPath("bogus", { callbackURL: "/x", errorCallbackURL: "/e" }));
    assert.equal(res.headers.get("location"), `${base}/e?error=INVALID_TOKEN`);
  });

  test("untrusted callback URLs on verify -> 403 INVALID_CALLBACK_URL (token not consumed); missing token -> 400", async () => {
    const m = await requestMagicLink(uniqueEmail("mlbad"));
    for (const key of ["callbackURL", "newUserCallbackURL", "errorCallbackURL"]) {
      assertError(await api(verifyPath(m.token, { [key]: "https://evil.example/" })), 403, "INVALID_CALLBACK_URL", "Invalid callbackURL");
    }
    assert.equal((await api(verifyPath(m.token))).status, 200, "still valid");
    assertError(await api("/magic-link/verify"), 400, "VALIDATION_ERROR", "[query.token] Invalid input: expected string, received undefined");
  });

  test("email case: the message goes to the address as typed; the user is found/created lower-cased", async () => {
    const a = await signUp();
    const m = await requestMagicLink(a.email.toUpperCase());
    const res = await api(verifyPath(m.token));
    assert.equal(res.json.user.id, a.user.id);
    const typed = uniqueEmail("mlcase").replace("mlcase", "MLCase");
    const m2 = await requestMagicLink(typed);
    const r2 = await api(verifyPath(m2.token));
    assert.equal(r2.json.user.email, typed.toLowerCase());
  });

  test("a newer link does not invalidate an older one", async () => {
    const email = uniqueEmail("mltwo");
    const m1 = await requestMagicLink(email);
    const m2 = await requestMagicLink(email);
    assert.notEqual(m1.token, m2.token);
    assert.equal((await api(verifyPath(m1.token))).status, 200);
    assert.equal((await api(verifyPath(m2.token))).status, 200);
  });
});

describe("magic-link: official client (magicLinkClient)", () => {
  test("signIn.magicLink and magicLink.verify", async () => {
    const b = browser([magicLinkClient()]);
    const email = uniqueEmail("mlc");
    const skip = countMessages(email, "magic-link");
    const r = await b.client.signIn.magicLink({ email, name: "Client Magic" });
    assert.equal(r.error, null);
    assert.deepEqual(r.data, { status: true });
    assert.equal(b.log.at(-1).method, "POST");
    assert.ok(b.log.at(-1).url.endsWith("/api/auth/sign-in/magic-link"));
    assert.deepEqual(JSON.parse(b.log.at(-1).body), { email, name: "Client Magic" });
    const { waitForMessage } = await import("./plib.mjs");
    const m = await waitForMessage(email, "magic-link", { skip });
    const v = await b.client.magicLink.verify({ query: { token: m.token } });
    assert.equal(v.error, null);
    assert.equal(v.data.user.email, email);
    assert.equal(v.data.user.name, "Client Magic");
    assert.equal(b.log.at(-1).method, "GET");
    assert.equal(tokenOfCookie(b.jar.get(SESSION_COOKIE)), v.data.token);
    assert.equal((await b.client.getSession()).data.user.email, email);
  });
});

describe("magic-link: storage", { skip: dbSkip }, () => {
  test("verification row 'magic-link:<token>' holding {type,email,name} JSON, 5-minute expiry, deleted on use", async () => {
    const db = await openDb();
    try {
      const email = uniqueEmail("mlst");
      const t0 = Date.now();
      const m = await requestMagicLink(email, { name: "Stored" });
      const row = db.prepare("select * from verification where identifier=?").get(`magic-link:${m.token}`);
      assert.ok(row);
      assert.deepEqual(JSON.parse(row.value), { type: "magic-link", email, name: "Stored" });
      const ttl = Date.parse(row.expiresAt) - t0;
      assert.ok(ttl > 290e3 && ttl < 305e3, `ttl ${ttl}`);
      await api(verifyPath(m.token));
      assert.equal(db.prepare("select count(*) n from verification where identifier=?").get(`magic-link:${m.token}`).n, 0);
    } finally { db.close(); }
  });
});
