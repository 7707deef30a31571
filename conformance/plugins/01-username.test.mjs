// username plugin (default options): /sign-in/username, /is-username-available, and the
// username/displayUsername fields it adds to /sign-up/email and /update-user.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { usernameClient } from "better-auth/client/plugins";
import { api, assertError, CookieJar, SESSION_COOKIE, SIGNED_RE, TOKEN_RE, EXPECT } from "../conformance/lib.mjs";
import { uniqueEmail, uniqueUsername, browser, assertClientError, assertPluginUser, sessionCookieOf, tokenOfCookie, session, LAST_LOGIN_COOKIE, openDb, dbSkip, columns } from "./plib.mjs";

const PASSWORD = "username-pass-1";

async function signUpWithUsername(extra = {}) {
  const email = uniqueEmail("un");
  const jar = new CookieJar();
  const res = await api("/sign-up/email", { body: { email, password: PASSWORD, name: "Name User", ...extra }, jar });
  assert.equal(res.status, 200, res.text);
  return { email, jar, res, user: res.json.user };
}

describe("username: sign-up/email accepts username and displayUsername", () => {
  test("username is stored lower-cased; displayUsername defaults to the username as typed", async () => {
    const typed = uniqueUsername("Mixed.Case");
    const { res, user, jar } = await signUpWithUsername({ username: typed });
    assertPluginUser(user);
    assert.equal(user.username, typed.toLowerCase());
    assert.equal(user.displayUsername, typed);
    assert.deepEqual(Object.keys(res.json).sort(), ["token", "user"]);
    const s = await session(jar);
    assert.equal(s.user.username, typed.toLowerCase());
    assert.equal(s.user.displayUsername, typed);
  });

  test("explicit displayUsername is kept verbatim (no validation, no normalisation by default)", async () => {
    const typed = uniqueUsername("Both");
    const { user } = await signUpWithUsername({ username: typed, displayUsername: "  Shown Name! " });
    assert.equal(user.username, typed.toLowerCase());
    assert.equal(user.displayUsername, "  Shown Name! ");
  });

  test("only displayUsername, valid as a username: it also becomes the (lower-cased) username", async () => {
    const typed = uniqueUsername("Disp");
    const { user } = await signUpWithUsername({ displayUsername: typed });
    assert.equal(user.username, typed.toLowerCase());
    assert.equal(user.displayUsername, typed);
  });

  test("only displayUsername, not valid as a username: username stays null, sign-up succeeds", async () => {
    const { user } = await signUpWithUsername({ displayUsername: "Not a username!" });
    assert.equal(user.username, null);
    assert.equal(user.displayUsername, "Not a username!");
  });

  test("no username at all: username and displayUsername are null", async () => {
    const { user } = await signUpWithUsername();
    assert.equal(user.username, null);
    assert.equal(user.displayUsername, null);
  });

  test("boundary lengths 3 and 30 are accepted; letters, digits, '_' and '.' allowed", async () => {
    const base = uniqueUsername("b").replace(/_/g, "");
    const three = (await signUpWithUsername({ username: `${base.slice(-2)}.` })).user;
    assert.equal(three.username.length, 3);
    const thirty = (await signUpWithUsername({ username: `A_.${base}`.padEnd(30, "9").slice(0, 30) })).user;
    assert.equal(thirty.username.length, 30);
  });

  test("too short / too long / invalid characters -> 400 with the username error codes", async () => {
    const body = (username) => ({ body: { email: uniqueEmail(), password: PASSWORD, name: "x", username } });
    assertError(await api("/sign-up/email", body("ab")), 400, "USERNAME_TOO_SHORT", "Username is too short");
    assertError(await api("/sign-up/email", body("")), 400, "USERNAME_TOO_SHORT", "Username is too short");
    assertError(await api("/sign-up/email", body("a".repeat(31))), 400, "USERNAME_TOO_LONG", "Username is too long");
    assertError(await api("/sign-up/email", body("has-dash")), 400, "INVALID_USERNAME", "Username is invalid");
    assertError(await api("/sign-up/email", body(" lead")), 400, "INVALID_USERNAME", "Username is invalid");
    assertError(await api("/sign-up/email", body("with space")), 400, "INVALID_USERNAME", "Username is invalid");
  });

  test("a taken username (compared after lower-casing) -> 400 USERNAME_IS_ALREADY_TAKEN; no user created", async () => {
    const typed = uniqueUsername("Taken");
    await signUpWithUsername({ username: typed });
    const email = uniqueEmail();
    const res = await api("/sign-up/email", { body: { email, password: PASSWORD, name: "x", username: typed.toUpperCase() } });
    assertError(res, 400, "USERNAME_IS_ALREADY_TAKEN", "Username is already taken. Please try another.");
    assert.equal(res.setCookieLines.length, 0);
    // the email is still free
    assert.equal((await api("/sign-up/email", { body: { email, password: PASSWORD, name: "x" } })).status, 200);
  });
});

describe("username: POST /sign-in/username", () => {
  test("200 {redirect:false, token, user}; session + multi-session cookies; no last-login cookie", async () => {
    const typed = uniqueUsername("Signin");
    const u = await signUpWithUsername({ username: typed });
    const jar = new CookieJar();
    const res = await api("/sign-in/username", { body: { username: typed.toUpperCase(), password: PASSWORD }, jar });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ["redirect", "token", "user"]);
    assert.equal(res.json.redirect, false);
    assert.match(res.json.token, TOKEN_RE);
    assertPluginUser(res.json.user);
    assert.equal(res.json.user.id, u.user.id);
    assert.equal(res.json.user.username, typed.toLowerCase());
    const sc = sessionCookieOf(res);
    assert.match(decodeURIComponent(sc.value), SIGNED_RE);
    assert.equal(tokenOfCookie(sc.value), res.json.token);
    assert.equal(sc.attrs["max-age"], "604800");
    assert.equal(sc.attrs.path, "/");
    assert.equal(sc.attrs.httponly, true);
    assert.equal(sc.attrs.samesite, "Lax");
    assert.ok(!res.setCookies.some((c) => c.name === LAST_LOGIN_COOKIE), "username sign-in is not a tracked login method");
    assert.equal(res.headers.get("location"), null);
    const s = await session(jar);
    assert.equal(s.session.token, res.json.token);
    assert.equal(s.user.id, u.user.id);
  });

  test("callbackURL: redirect:true, url echoed, Location header (relative URLs made absolute only by cross-domain)", async () => {
    const typed = uniqueUsername("Cb");
    await signUpWithUsername({ username: typed });
    const res = await api("/sign-in/username", { body: { username: typed, password: PASSWORD, callbackURL: "/dashboard" } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.redirect, true);
    const expected = EXPECT.crossDomain ? "http://localhost:5173/dashboard" : "/dashboard";
    assert.equal(res.json.url, expected);
    assert.equal(res.headers.get("location"), expected);
    const abs = await api("/sign-in/username", { body: { username: typed, password: PASSWORD, callbackURL: "http://localhost:5173/x" } });
    assert.equal(abs.json.url, "http://localhost:5173/x");
    assert.equal(abs.headers.get("location"), "http://localhost:5173/x");
    assert.deepEqual(Object.keys(res.json).sort(), ["redirect", "token", "url", "user"]);
  });

  test("rememberMe:false -> session cookie without Max-Age plus dont_remember cookie", async () => {
    const typed = uniqueUsername("Rm");
    await signUpWithUsername({ username: typed });
    const res = await api("/sign-in/username", { body: { username: typed, password: PASSWORD, rememberMe: false } });
    assert.equal(res.status, 200, res.text);
    const sc = sessionCookieOf(res);
    assert.equal(sc.attrs["max-age"], undefined);
    const dr = res.setCookies.find((c) => c.name.endsWith(".dont_remember"));
    assert.ok(dr, res.setCookieLines.join("\n"));
    assert.match(decodeURIComponent(dr.value), /^true\./);
  });

  test("wrong password / unknown username / empty username or password -> 401 INVALID_USERNAME_OR_PASSWORD", async () => {
    const typed = uniqueUsername("Bad");
    await signUpWithUsername({ username: typed });
    const msg = "Invalid username or password";
    assertError(await api("/sign-in/username", { body: { username: typed, password: "wrong-pass-1" } }), 401, "INVALID_USERNAME_OR_PASSWORD", msg);
    assertError(await api("/sign-in/username", { body: { username: uniqueUsername("nobody"), password: PASSWORD } }), 401, "INVALID_USERNAME_OR_PASSWORD", msg);
    assertError(await api("/sign-in/username", { body: { username: "", password: PASSWORD } }), 401, "INVALID_USERNAME_OR_PASSWORD", msg);
    assertError(await api("/sign-in/username", { body: { username: typed, password: "" } }), 401, "INVALID_USERNAME_OR_PASSWORD", msg);
  });

  test("username that breaks the rules -> 422 with the username error code", async () => {
    assertError(await api("/sign-in/username", { body: { username: "ab", password: PASSWORD } }), 422, "USERNAME_TOO_SHORT", "Username is too short");
    assertError(await api("/sign-in/username", { body: { username: "a".repeat(31), password: PASSWORD } }), 422, "USERNAME_TOO_LONG", "Username is too long");
    assertError(await api("/sign-in/username", { body: { username: "a b c", password: PASSWORD } }), 422, "INVALID_USERNAME", "Username is invalid");
  });

  test("missing/mistyped fields -> 400 VALIDATION_ERROR; password over 128 chars -> 400 PASSWORD_TOO_LONG", async () => {
    assertError(await api("/sign-in/username", { body: { username: "abc" } }), 400, "VALIDATION_ERROR", "[body.password] Invalid input: expected string, received undefined");
    assertError(await api("/sign-in/username", { body: { username: 123, password: PASSWORD } }), 400, "VALIDATION_ERROR", "[body.username] Invalid input: expected string, received number");
    assertError(await api("/sign-in/username", { body: { username: "abc", password: PASSWORD, rememberMe: "no" } }), 400, "VALIDATION_ERROR", "[body.rememberMe] Invalid input: expected boolean, received string");
    const typed = uniqueUsername("Long");
    await signUpWithUsername({ username: typed });
    assertError(await api("/sign-in/username", { body: { username: typed, password: "x".repeat(129) } }), 400, "PASSWORD_TOO_LONG", "Password too long");
  });

  test("a user signed up with a username can still sign in by email", async () => {
    const typed = uniqueUsername("Both");
    const u = await signUpWithUsername({ username: typed });
    const res = await api("/sign-in/email", { body: { email: u.email, password: PASSWORD } });
    assert.equal(res.status, 200);
    assert.equal(res.json.user.username, typed.toLowerCase());
  });
});

describe("username: POST /is-username-available", () => {
  test("{available:true} for a free name, {available:false} for a taken one (case-insensitive)", async () => {
    const typed = uniqueUsername("Avail");
    assert.deepEqual((await api("/is-username-available", { body: { username: typed } })).json, { available: true });
    await signUpWithUsername({ username: typed });
    const res = await api("/is-username-available", { body: { username: typed.toUpperCase() } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { available: false });
    assert.equal(res.setCookieLines.length, 0);
  });

  test("invalid names -> 422 with the username error codes; missing -> 400 VALIDATION_ERROR; GET -> 404", async () => {
    assertError(await api("/is-username-available", { body: { username: "ab" } }), 422, "USERNAME_TOO_SHORT", "Username is too short");
    assertError(await api("/is-username-available", { body: { username: "" } }), 422, "INVALID_USERNAME", "Username is invalid");
    assertError(await api("/is-username-available", { body: { username: "x".repeat(31) } }), 422, "USERNAME_TOO_LONG", "Username is too long");
    assertError(await api("/is-username-available", { body: { username: "no-dash" } }), 422, "INVALID_USERNAME", "Username is invalid");
    assertError(await api("/is-username-available", { body: {} }), 400, "VALIDATION_ERROR", "[body.username] Invalid input: expected string, received undefined");
    assert.equal((await api("/is-username-available?username=abc")).status, 404);
  });
});

describe("username: POST /update-user", () => {
  test("changes username (lower-cased) and leaves displayUsername alone; displayUsername is set verbatim", async () => {
    const u = await signUpWithUsername({ username: uniqueUsername("Old") });
    const next = uniqueUsername("New");
    const res = await api("/update-user", { body: { username: next }, jar: u.jar });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { status: true });
    let s = await session(u.jar);
    assert.equal(s.user.username, next.toLowerCase());
    assert.equal(s.user.displayUsername, u.user.displayUsername);
    assert.equal((await api("/update-user", { body: { displayUsername: "  Free Text " }, jar: u.jar })).status, 200);
    s = await session(u.jar);
    assert.equal(s.user.displayUsername, "  Free Text ");
    assert.equal(s.user.username, next.toLowerCase());
    // the new name signs in, the old one no longer does
    assert.equal((await api("/sign-in/username", { body: { username: next, password: PASSWORD } })).status, 200);
    assertError(await api("/sign-in/username", { body: { username: u.user.username, password: PASSWORD } }), 401, "INVALID_USERNAME_OR_PASSWORD");
  });

  test("setting one's own current username again is fine; another user's -> 400 USERNAME_IS_ALREADY_TAKEN", async () => {
    const mine = uniqueUsername("Mine");
    const u = await signUpWithUsername({ username: mine });
    assert.equal((await api("/update-user", { body: { username: mine.toUpperCase() }, jar: u.jar })).status, 200);
    const other = await signUpWithUsername({ username: uniqueUsername("Other") });
    assertError(await api("/update-user", { body: { username: other.user.username }, jar: u.jar }), 400, "USERNAME_IS_ALREADY_TAKEN", "Username is already taken. Please try another.");
    assert.equal((await session(u.jar)).user.username, mine.toLowerCase());
  });

  test("invalid username -> 400 (same codes as sign-up); unauthenticated -> 401 UNAUTHORIZED", async () => {
    const u = await signUpWithUsername({ username: uniqueUsername("Val") });
    assertError(await api("/update-user", { body: { username: "x y" }, jar: u.jar }), 400, "INVALID_USERNAME", "Username is invalid");
    assertError(await api("/update-user", { body: { username: "xy" }, jar: u.jar }), 400, "USERNAME_TOO_SHORT", "Username is too short");
    assertError(await api("/update-user", { body: { username: "y".repeat(31) }, jar: u.jar }), 400, "USERNAME_TOO_LONG", "Username is too long");
    assertError(await api("/update-user", { body: { username: uniqueUsername("anon") } }), 401, "UNAUTHORIZED", "Unauthorized");
  });
});

describe("username: official client (usernameClient)", () => {
  test("signIn.username and isUsernameAvailable", async () => {
    const typed = uniqueUsername("Client");
    const b = browser([usernameClient()]);
    const up = await b.client.signUp.email({ email: uniqueEmail(), password: PASSWORD, name: "Client", username: typed });
    assert.equal(up.error, null);
    assert.equal(up.data.user.username, typed.toLowerCase());
    const avail = await b.client.isUsernameAvailable({ username: typed });
    assert.equal(avail.error, null);
    assert.deepEqual(avail.data, { available: false });
    const b2 = browser([usernameClient()]);
    const r = await b2.client.signIn.username({ username: typed, password: PASSWORD });
    assert.equal(r.error, null);
    assert.equal(r.data.redirect, false);
    assert.match(r.data.token, TOKEN_RE);
    assert.equal(r.data.user.username, typed.toLowerCase());
    assert.ok(r.data.user.createdAt instanceof Date);
    assert.equal(tokenOfCookie(b2.jar.get(SESSION_COOKIE)), r.data.token);
    const req = b2.log.at(-1);
    assert.equal(req.method, "POST");
    assert.ok(req.url.endsWith("/api/auth/sign-in/username"));
    assert.deepEqual(JSON.parse(req.body), { username: typed, password: PASSWORD });
    const s = await b2.client.getSession();
    assert.equal(s.data.user.username, typed.toLowerCase());
  });

  test("client errors carry the plugin codes", async () => {
    const b = browser([usernameClient()]);
    assertClientError(await b.client.signIn.username({ username: uniqueUsername("none"), password: PASSWORD }), 401, "INVALID_USERNAME_OR_PASSWORD", "Invalid username or password");
    assertClientError(await b.client.isUsernameAvailable({ username: "ab" }), 422, "USERNAME_TOO_SHORT");
  });
});

describe("username: storage", { skip: dbSkip }, () => {
  test("user.username text UNIQUE nullable, user.displayUsername text nullable", async () => {
    const db = await openDb();
    try {
      assert.deepEqual(columns(db, "user", ["username", "displayUsername"]), [["username", "text", 0, 0], ["displayUsername", "text", 0, 0]]);
      const sql = db.prepare("select sql from sqlite_master where type='table' and name='user'").get().sql;
      assert.match(sql, /"username" text unique/);
      const typed = uniqueUsername("Stored");
      const u = await signUpWithUsername({ username: typed });
      const row = db.prepare('select username, displayUsername from "user" where id=?').get(u.user.id);
      assert.deepEqual({ ...row }, { username: typed.toLowerCase(), displayUsername: typed });
    } finally { db.close(); }
  });
});
