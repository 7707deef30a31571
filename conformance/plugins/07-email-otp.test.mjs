// email-otp plugin (default options: 6-digit codes, 5 minutes, 3 attempts, stored in plain text,
// sign-up on, change-email off). Codes arrive in EMAIL_LOG as {kind:'email-otp', to, otp, type}.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { emailOTPClient } from "better-auth/client/plugins";
import { api, assertError, signUp, signIn, CookieJar, SESSION_COOKIE, SIGNED_RE, TOKEN_RE } from "../conformance/lib.mjs";
import { uniqueEmail, browser, assertClientError, assertPluginUser, sessionCookieOf, tokenOfCookie, session, requestEmailOtp, countMessages, waitForMessage, assertNoMessage, LAST_LOGIN_COOKIE, multiCookieName, openDb, dbSkip, hasPlugin } from "./plib.mjs";

const OTP_RE = /^[0-9]{6}$/;
const wrong = (otp) => (otp === "000000" ? "111111" : "000000");

describe("email-otp: POST /email-otp/send-verification-otp", () => {
  test("sign-in for a new email: 200 {success:true}, message {kind:'email-otp', to, otp (6 digits), type:'sign-in'}", async () => {
    const email = uniqueEmail("eo");
    const res = await api("/email-otp/send-verification-otp", { body: { email, type: "sign-in" } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { success: true });
    assert.equal(res.setCookieLines.length, 0);
    const m = await waitForMessage(email, "email-otp");
    assert.match(m.otp, OTP_RE);
    assert.equal(m.type, "sign-in");
    assert.deepEqual(Object.keys(m).sort(), ["at", "kind", "otp", "to", "type"]);
  });

  test("the address is lower-cased", async () => {
    const email = uniqueEmail("eoup");
    await api("/email-otp/send-verification-otp", { body: { email: email.toUpperCase(), type: "sign-in" } });
    const m = await waitForMessage(email, "email-otp");
    assert.equal(m.to, email);
  });

  test("email-verification / forget-password for an unknown email: 200 {success:true} but nothing is sent", async () => {
    const email = uniqueEmail("eonone");
    for (const type of ["email-verification", "forget-password"]) {
      const res = await api("/email-otp/send-verification-otp", { body: { email, type } });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { success: true });
    }
    await assertNoMessage(email, "email-otp", 0);
  });

  test("type change-email -> 400 {message:'Invalid OTP type'} (no code); bad type / missing fields -> 400 VALIDATION_ERROR", async () => {
    const email = uniqueEmail("eobad");
    const ce = await api("/email-otp/send-verification-otp", { body: { email, type: "change-email" } });
    assert.equal(ce.status, 400);
    assert.deepEqual(ce.json, { message: "Invalid OTP type" });
    assertError(await api("/email-otp/send-verification-otp", { body: { email, type: "x" } }), 400, "VALIDATION_ERROR", '[body.type] Invalid option: expected one of "email-verification"|"sign-in"|"forget-password"|"change-email"');
    assertError(await api("/email-otp/send-verification-otp", { body: { type: "sign-in" } }), 400, "VALIDATION_ERROR", "[body.email] Invalid input: expected string, received undefined");
  });

  test("malformed email -> 400 INVALID_EMAIL", async () => {
    assertError(await api("/email-otp/send-verification-otp", { body: { email: "not-an-email", type: "sign-in" } }), 400, "INVALID_EMAIL", "Invalid email");
  });

  test("a new code replaces the previous one of the same type", async () => {
    const email = uniqueEmail("eore");
    const first = await requestEmailOtp(email);
    const second = await requestEmailOtp(email);
    if (first !== second) assertError(await api("/sign-in/email-otp", { body: { email, otp: first } }), 400, "INVALID_OTP", "Invalid OTP");
    assert.equal((await api("/sign-in/email-otp", { body: { email, otp: second } })).status, 200);
  });
});

describe("email-otp: POST /sign-in/email-otp", () => {
  test("new email: creates a verified user (name from body, default ''), 200 {token, user}, session cookies", async () => {
    const email = uniqueEmail("eonew");
    const otp = await requestEmailOtp(email);
    const jar = new CookieJar();
    const res = await api("/sign-in/email-otp", { body: { email, otp, name: "Otp Person" }, jar });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ["token", "user"]);
    assert.match(res.json.token, TOKEN_RE);
    assertPluginUser(res.json.user);
    assert.equal(res.json.user.email, email);
    assert.equal(res.json.user.name, "Otp Person");
    assert.equal(res.json.user.emailVerified, true);
    const sc = sessionCookieOf(res);
    assert.match(decodeURIComponent(sc.value), SIGNED_RE);
    assert.equal(tokenOfCookie(sc.value), res.json.token);
    assert.equal(sc.attrs["max-age"], "604800");
    if (hasPlugin("multi-session")) assert.ok(res.setCookies.some((c) => c.name === multiCookieName(res.json.token)));
    if (hasPlugin("last-login-method")) assert.equal(res.setCookies.find((c) => c.name === LAST_LOGIN_COOKIE)?.value, "email-otp");
    assert.equal((await session(jar)).user.id, res.json.user.id);
    const email2 = uniqueEmail("eononame");
    const r2 = await api("/sign-in/email-otp", { body: { email: email2, otp: await requestEmailOtp(email2) } });
    assert.equal(r2.json.user.name, "");
  });

  test("existing verified user: signs in as that user; password and other sessions are kept", async () => {
    const a = await signUp();
    const otp1 = await requestEmailOtp(a.email, "email-verification");
    assert.equal((await api("/email-otp/verify-email", { body: { email: a.email, otp: otp1 } })).status, 200);
    const res = await api("/sign-in/email-otp", { body: { email: a.email, otp: await requestEmailOtp(a.email) } });
    assert.equal(res.status, 200);
    assert.equal(res.json.user.id, a.user.id);
    assert.equal((await session(a.jar)).user.id, a.user.id);
    assert.equal((await signIn(a.email, a.password)).res.status, 200);
  });

  test("existing unverified user: becomes verified; its password account and older sessions are removed", async () => {
    const a = await signUp();
    const res = await api("/sign-in/email-otp", { body: { email: a.email.toUpperCase(), otp: await requestEmailOtp(a.email) } });
    assert.equal(res.status, 200);
    assert.equal(res.json.user.id, a.user.id);
    assert.equal(res.json.user.emailVerified, true);
    assert.equal(await session(a.jar), null);
    assertError((await signIn(a.email, a.password)).res, 401, "INVALID_EMAIL_OR_PASSWORD");
  });

  test("single use; wrong code -> 400 INVALID_OTP; a code of another type does not work", async () => {
    const email = uniqueEmail("eo1");
    const otp = await requestEmailOtp(email);
    assertError(await api("/sign-in/email-otp", { body: { email, otp: wrong(otp) } }), 400, "INVALID_OTP", "Invalid OTP");
    assert.equal((await api("/sign-in/email-otp", { body: { email, otp } })).status, 200);
    assertError(await api("/sign-in/email-otp", { body: { email, otp } }), 400, "INVALID_OTP", "Invalid OTP");
    const v = await requestEmailOtp(email, "email-verification");
    assertError(await api("/sign-in/email-otp", { body: { email, otp: v } }), 400, "INVALID_OTP", "Invalid OTP");
  });

  test("3 wrong codes allowed: the 4th attempt -> 403 TOO_MANY_ATTEMPTS and the code is gone", async () => {
    const email = uniqueEmail("eo3");
    const otp = await requestEmailOtp(email);
    for (let i = 0; i < 3; i++) assertError(await api("/sign-in/email-otp", { body: { email, otp: wrong(otp) } }), 400, "INVALID_OTP");
    assertError(await api("/sign-in/email-otp", { body: { email, otp } }), 403, "TOO_MANY_ATTEMPTS", "Too many attempts");
    assertError(await api("/sign-in/email-otp", { body: { email, otp } }), 400, "INVALID_OTP");
    assert.equal((await api("/sign-in/email-otp", { body: { email, otp: await requestEmailOtp(email) } })).status, 200, "a new code works");
  });

  test("no code requested / malformed email -> 400 INVALID_OTP; missing otp -> 400 VALIDATION_ERROR", async () => {
    assertError(await api("/sign-in/email-otp", { body: { email: uniqueEmail("eonever"), otp: "123456" } }), 400, "INVALID_OTP", "Invalid OTP");
    assertError(await api("/sign-in/email-otp", { body: { email: "not-an-email", otp: "123456" } }), 400, "INVALID_OTP", "Invalid OTP");
    assertError(await api("/sign-in/email-otp", { body: { email: uniqueEmail() } }), 400, "VALIDATION_ERROR", "[body.otp] Invalid input: expected string, received undefined");
  });
});

describe("email-otp: check-verification-otp and verify-email", () => {
  test("check-verification-otp: 200 {success:true} without consuming the code; then verify-email uses it", async () => {
    const a = await signUp();
    const otp = await requestEmailOtp(a.email, "email-verification");
    const chk = await api("/email-otp/check-verification-otp", { body: { email: a.email, type: "email-verification", otp } });
    assert.equal(chk.status, 200, chk.text);
    assert.deepEqual(chk.json, { success: true });
    const res = await api("/email-otp/verify-email", { body: { email: a.email, otp }, jar: a.jar });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ["status", "token", "user"]);
    assert.equal(res.json.status, true);
    assert.equal(res.json.token, null, "no auto sign-in by default");
    assert.equal(res.json.user.id, a.user.id);
    assert.equal(res.json.user.emailVerified, true);
    assert.equal(res.setCookieLines.length, 0);
    assert.equal((await session(a.jar)).user.emailVerified, true);
    assertError(await api("/email-otp/verify-email", { body: { email: a.email, otp } }), 400, "INVALID_OTP", "Invalid OTP");
  });

  test("check-verification-otp: wrong code / wrong type -> 400 INVALID_OTP; right code for an unknown user -> 400 USER_NOT_FOUND", async () => {
    const a = await signUp();
    const otp = await requestEmailOtp(a.email, "email-verification");
    assertError(await api("/email-otp/check-verification-otp", { body: { email: a.email, type: "email-verification", otp: wrong(otp) } }), 400, "INVALID_OTP");
    assertError(await api("/email-otp/check-verification-otp", { body: { email: a.email, type: "sign-in", otp } }), 400, "INVALID_OTP");
    const email = uniqueEmail("eochk");
    const so = await requestEmailOtp(email);
    assertError(await api("/email-otp/check-verification-otp", { body: { email, type: "sign-in", otp: so } }), 400, "USER_NOT_FOUND", "User not found");
    assertError(await api("/email-otp/check-verification-otp", { body: { email: "bad", type: "sign-in", otp: so } }), 400, "INVALID_EMAIL", "Invalid email");
  });

  test("verify-email: wrong code -> 400 INVALID_OTP; malformed email -> 400 INVALID_EMAIL", async () => {
    const a = await signUp();
    const otp = await requestEmailOtp(a.email, "email-verification");
    assertError(await api("/email-otp/verify-email", { body: { email: a.email, otp: wrong(otp) } }), 400, "INVALID_OTP", "Invalid OTP");
    assertError(await api("/email-otp/verify-email", { body: { email: "bad", otp } }), 400, "INVALID_EMAIL", "Invalid email");
    assert.equal((await session(a.jar)).user.emailVerified, false);
  });
});

describe("email-otp: password reset", () => {
  for (const route of ["/email-otp/request-password-reset", "/forget-password/email-otp"]) {
    test(`${route}: 200 {success:true}, sends a forget-password code; unknown email sends nothing; bad email -> INVALID_EMAIL`, async () => {
      const a = await signUp();
      const skip = countMessages(a.email, "email-otp");
      const res = await api(route, { body: { email: a.email } });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { success: true });
      const m = await waitForMessage(a.email, "email-otp", { skip });
      assert.equal(m.type, "forget-password");
      assert.match(m.otp, OTP_RE);
      const ghost = uniqueEmail("eofp");
      assert.deepEqual((await api(route, { body: { email: ghost } })).json, { success: true });
      await assertNoMessage(ghost, "email-otp", 0);
      assertError(await api(route, { body: { email: "bad" } }), 400, "INVALID_EMAIL", "Invalid email");
    });
  }

  test("/email-otp/reset-password: new password works, old does not; code single use; sessions kept; email verified", async () => {
    const a = await signUp();
    const skip = countMessages(a.email, "email-otp");
    await api("/email-otp/request-password-reset", { body: { email: a.email } });
    const { otp } = await waitForMessage(a.email, "email-otp", { skip });
    assertError(await api("/email-otp/reset-password", { body: { email: a.email, otp, password: "short" } }), 400, "PASSWORD_TOO_SHORT", "Password too short");
    assertError(await api("/email-otp/reset-password", { body: { email: a.email, otp: wrong(otp), password: "brand-new-pass-1" } }), 400, "INVALID_OTP", "Invalid OTP");
    const res = await api("/email-otp/reset-password", { body: { email: a.email, otp, password: "brand-new-pass-1" } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { success: true });
    assert.equal(res.setCookieLines.length, 0);
    assertError(await api("/email-otp/reset-password", { body: { email: a.email, otp, password: "brand-new-pass-2" } }), 400, "INVALID_OTP");
    assert.equal((await signIn(a.email, "brand-new-pass-1")).res.status, 200);
    assert.equal((await signIn(a.email, a.password)).res.status, 401);
    const s = await session(a.jar);
    assert.equal(s.user.id, a.user.id, "existing sessions survive (revokeSessionsOnPasswordReset off)");
    assert.equal(s.user.emailVerified, true);
  });
});

describe("email-otp: password for a password-less user", () => {
  test("a user created by sign-in/email-otp can set a password through the OTP reset and then use sign-in/email", async () => {
    const email = uniqueEmail("eopwless");
    const created = await api("/sign-in/email-otp", { body: { email, otp: await requestEmailOtp(email) } });
    assert.equal(created.status, 200);
    assertError((await signIn(email, "first-pass-123")).res, 401, "INVALID_EMAIL_OR_PASSWORD");
    const otp = await requestEmailOtp(email, "forget-password");
    assert.deepEqual((await api("/email-otp/reset-password", { body: { email, otp, password: "first-pass-123" } })).json, { success: true });
    const ok = await signIn(email, "first-pass-123");
    assert.equal(ok.res.status, 200);
    assert.equal(ok.res.json.user.id, created.json.user.id);
  });
});

describe("email-otp: change email (off by default)", () => {
  test("request-email-change / change-email -> 400 {message:'Change email with OTP is disabled'}; unauthenticated -> 401", async () => {
    const a = await signUp();
    for (const [route, body] of [["/email-otp/request-email-change", { newEmail: uniqueEmail() }], ["/email-otp/change-email", { newEmail: uniqueEmail(), otp: "123456" }]]) {
      const res = await api(route, { body, jar: a.jar });
      assert.equal(res.status, 400);
      assert.deepEqual(res.json, { message: "Change email with OTP is disabled" });
      assertError(await api(route, { body }), 401, "UNAUTHORIZED", "Unauthorized");
    }
  });

  test("server-only endpoints are not routed: GET /email-otp/get-verification-otp, POST /email-otp/create-verification-otp -> 404", async () => {
    assert.equal((await api(`/email-otp/get-verification-otp?email=${encodeURIComponent(uniqueEmail())}&type=sign-in`)).status, 404);
    assert.equal((await api("/email-otp/create-verification-otp", { body: { email: uniqueEmail(), type: "sign-in" } })).status, 404);
  });
});

describe("email-otp: official client (emailOTPClient)", () => {
  test("emailOtp.sendVerificationOtp, signIn.emailOtp, emailOtp.checkVerificationOtp", async () => {
    const b = browser([emailOTPClient()]);
    const email = uniqueEmail("eoc");
    const skip = countMessages(email, "email-otp");
    const s = await b.client.emailOtp.sendVerificationOtp({ email, type: "sign-in" });
    assert.equal(s.error, null);
    assert.deepEqual(s.data, { success: true });
    assert.ok(b.log.at(-1).url.endsWith("/api/auth/email-otp/send-verification-otp"));
    assert.deepEqual(JSON.parse(b.log.at(-1).body), { email, type: "sign-in" });
    const { otp } = await waitForMessage(email, "email-otp", { skip });
    assertClientError(await b.client.signIn.emailOtp({ email, otp: wrong(otp) }), 400, "INVALID_OTP", "Invalid OTP");
    const r = await b.client.signIn.emailOtp({ email, otp, name: "Client Otp" });
    assert.equal(r.error, null);
    assert.equal(r.data.user.email, email);
    assert.ok(r.data.user.createdAt instanceof Date);
    assert.ok(b.log.at(-1).url.endsWith("/api/auth/sign-in/email-otp"));
    assert.equal(tokenOfCookie(b.jar.get(SESSION_COOKIE)), r.data.token);
    assert.equal((await b.client.getSession()).data.user.name, "Client Otp");
  });
});

describe("email-otp: storage", { skip: dbSkip }, () => {
  test("verification row '<type>-otp-<email>' with value '<otp>:<attempts>', 5-minute expiry", async () => {
    const db = await openDb();
    try {
      const email = uniqueEmail("eost");
      const t0 = Date.now();
      const otp = await requestEmailOtp(email);
      const get = () => db.prepare("select * from verification where identifier=?").all(`sign-in-otp-${email}`);
      let rows = get();
      assert.equal(rows.length, 1);
      assert.equal(rows[0].value, `${otp}:0`);
      const ttl = Date.parse(rows[0].expiresAt) - t0;
      assert.ok(ttl > 290e3 && ttl < 305e3, `ttl ${ttl}`);
      await api("/sign-in/email-otp", { body: { email, otp: wrong(otp) } });
      rows = get();
      assert.equal(rows.length, 1);
      assert.equal(rows[0].value, `${otp}:1`);
      await api("/sign-in/email-otp", { body: { email, otp } });
      assert.equal(get().length, 0);
    } finally { db.close(); }
  });
});
