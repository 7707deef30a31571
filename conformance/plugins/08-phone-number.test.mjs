// phone-number plugin (options of the reference: only sendOTP; so 6-digit codes, 5 minutes, 3 attempts,
// no sign-up on verification, no password-reset sender, no phone-number validator, verification not
// required for password sign-in). Codes arrive in EMAIL_LOG as {kind:'phone-otp', to:<number>, code}.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { phoneNumberClient } from "better-auth/client/plugins";
import { api, assertError, signUp, signIn, CookieJar, SESSION_COOKIE, SIGNED_RE, TOKEN_RE } from "../conformance/lib.mjs";
import { uniqueEmail, uniquePhone, browser, assertClientError, assertPluginUser, sessionCookieOf, tokenOfCookie, session, countMessages, waitForMessage, assertNoMessage, LAST_LOGIN_COOKIE, multiCookieName, openDb, dbSkip, columns } from "./plib.mjs";

const CODE_RE = /^[0-9]{6}$/;
const wrong = (c) => (c === "000000" ? "111111" : "000000");

async function sendCode(phoneNumber) {
  const skip = countMessages(phoneNumber, "phone-otp");
  const res = await api("/phone-number/send-otp", { body: { phoneNumber } });
  assert.equal(res.status, 200, res.text);
  return (await waitForMessage(phoneNumber, "phone-otp", { skip })).code;
}

/** A signed-up user who attached and verified a phone number. */
async function userWithPhone() {
  const a = await signUp();
  const phoneNumber = uniquePhone();
  const code = await sendCode(phoneNumber);
  const res = await api("/phone-number/verify", { body: { phoneNumber, code, updatePhoneNumber: true }, jar: a.jar });
  assert.equal(res.status, 200, res.text);
  return { ...a, phoneNumber };
}

describe("phone-number: POST /phone-number/send-otp", () => {
  test("200 {message:'code sent'}; message {kind:'phone-otp', to:<number as given>, code (6 digits)}", async () => {
    const phoneNumber = uniquePhone();
    const res = await api("/phone-number/send-otp", { body: { phoneNumber } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { message: "code sent" });
    assert.equal(res.setCookieLines.length, 0);
    const m = await waitForMessage(phoneNumber, "phone-otp");
    assert.match(m.code, CODE_RE);
    assert.deepEqual(Object.keys(m).sort(), ["at", "code", "kind", "to"]);
  });

  test("no validation of the number by default; missing -> 400 VALIDATION_ERROR", async () => {
    const odd = `not-a-number-${Date.now()}`;
    assert.equal((await api("/phone-number/send-otp", { body: { phoneNumber: odd } })).status, 200);
    assertError(await api("/phone-number/send-otp", { body: {} }), 400, "VALIDATION_ERROR", "[body.phoneNumber] Invalid input: expected string, received undefined");
  });
});

describe("phone-number: POST /phone-number/verify", () => {
  test("updatePhoneNumber:true with a session: attaches the verified number; {status:true, token:<current session token>, user}; no cookie", async () => {
    const a = await signUp();
    const phoneNumber = uniquePhone();
    const code = await sendCode(phoneNumber);
    const res = await api("/phone-number/verify", { body: { phoneNumber, code, updatePhoneNumber: true }, jar: a.jar });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ["status", "token", "user"]);
    assert.equal(res.json.status, true);
    assert.equal(res.json.token, a.token);
    assertPluginUser(res.json.user);
    assert.equal(res.json.user.id, a.user.id);
    assert.equal(res.json.user.phoneNumber, phoneNumber);
    assert.equal(res.json.user.phoneNumberVerified, true);
    assert.equal(res.setCookieLines.length, 0);
    const s = await session(a.jar);
    assert.equal(s.user.phoneNumber, phoneNumber);
    assert.equal(s.user.phoneNumberVerified, true);
  });

  test("number of an existing user, no session: signs that user in (200 {status, token, user}, cookies, no last-login cookie)", async () => {
    const u = await userWithPhone();
    const code = await sendCode(u.phoneNumber);
    const jar = new CookieJar();
    const res = await api("/phone-number/verify", { body: { phoneNumber: u.phoneNumber, code }, jar });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, true);
    assert.match(res.json.token, TOKEN_RE);
    assert.notEqual(res.json.token, u.token);
    assert.equal(res.json.user.id, u.user.id);
    assert.equal(res.json.user.phoneNumberVerified, true);
    const sc = sessionCookieOf(res);
    assert.match(decodeURIComponent(sc.value), SIGNED_RE);
    assert.equal(tokenOfCookie(sc.value), res.json.token);
    assert.ok(res.setCookies.some((c) => c.name === multiCookieName(res.json.token)));
    assert.ok(!res.setCookies.some((c) => c.name === LAST_LOGIN_COOKIE));
    assert.equal((await session(jar)).user.id, u.user.id);
  });

  test("disableSession:true -> {status:true, token:null, user}, no cookies", async () => {
    const u = await userWithPhone();
    const code = await sendCode(u.phoneNumber);
    const res = await api("/phone-number/verify", { body: { phoneNumber: u.phoneNumber, code, disableSession: true } });
    assert.equal(res.status, 200);
    assert.equal(res.json.status, true);
    assert.equal(res.json.token, null);
    assert.equal(res.json.user.id, u.user.id);
    assert.equal(res.setCookieLines.length, 0);
  });

  test("unknown number, no session, no sign-up on verification -> 500 FAILED_TO_UPDATE_USER", async () => {
    const phoneNumber = uniquePhone();
    const code = await sendCode(phoneNumber);
    assertError(await api("/phone-number/verify", { body: { phoneNumber, code } }), 500, "FAILED_TO_UPDATE_USER", "Failed to update user");
  });

  test("updatePhoneNumber without a session -> 401 USER_NOT_FOUND (code consumed)", async () => {
    const phoneNumber = uniquePhone();
    const code = await sendCode(phoneNumber);
    assertError(await api("/phone-number/verify", { body: { phoneNumber, code, updatePhoneNumber: true } }), 401, "USER_NOT_FOUND", "User not found");
    assertError(await api("/phone-number/verify", { body: { phoneNumber, code, updatePhoneNumber: true } }), 400, "OTP_NOT_FOUND", "OTP not found");
  });

  test("updatePhoneNumber with a number another user has -> 400 PHONE_NUMBER_EXIST", async () => {
    const owner = await userWithPhone();
    const other = await signUp();
    const code = await sendCode(owner.phoneNumber);
    assertError(await api("/phone-number/verify", { body: { phoneNumber: owner.phoneNumber, code, updatePhoneNumber: true }, jar: other.jar }), 400, "PHONE_NUMBER_EXIST", "Phone number already exists");
    assert.equal((await session(other.jar)).user.phoneNumber, null);
  });

  test("wrong code -> 400 INVALID_OTP; no code sent -> 400 OTP_NOT_FOUND; single use; missing code -> 400 VALIDATION_ERROR", async () => {
    const u = await userWithPhone();
    assertError(await api("/phone-number/verify", { body: { phoneNumber: uniquePhone(), code: "123456" } }), 400, "OTP_NOT_FOUND", "OTP not found");
    const code = await sendCode(u.phoneNumber);
    assertError(await api("/phone-number/verify", { body: { phoneNumber: u.phoneNumber, code: wrong(code) } }), 400, "INVALID_OTP", "Invalid OTP");
    assert.equal((await api("/phone-number/verify", { body: { phoneNumber: u.phoneNumber, code } })).status, 200);
    assertError(await api("/phone-number/verify", { body: { phoneNumber: u.phoneNumber, code } }), 400, "OTP_NOT_FOUND", "OTP not found");
    assertError(await api("/phone-number/verify", { body: { phoneNumber: u.phoneNumber } }), 400, "VALIDATION_ERROR", "[body.code] Invalid input: expected string, received undefined");
  });

  test("3 wrong codes allowed: the 4th attempt -> 403 TOO_MANY_ATTEMPTS and the code is deleted", async () => {
    const u = await userWithPhone();
    const code = await sendCode(u.phoneNumber);
    for (let i = 0; i < 3; i++) assertError(await api("/phone-number/verify", { body: { phoneNumber: u.phoneNumber, code: wrong(code) } }), 400, "INVALID_OTP");
    assertError(await api("/phone-number/verify", { body: { phoneNumber: u.phoneNumber, code } }), 403, "TOO_MANY_ATTEMPTS", "Too many attempts");
    assertError(await api("/phone-number/verify", { body: { phoneNumber: u.phoneNumber, code } }), 400, "OTP_NOT_FOUND");
  });

  test("a new code replaces the previous one", async () => {
    const u = await userWithPhone();
    const first = await sendCode(u.phoneNumber);
    const second = await sendCode(u.phoneNumber);
    if (first !== second) assertError(await api("/phone-number/verify", { body: { phoneNumber: u.phoneNumber, code: first } }), 400, "INVALID_OTP");
    assert.equal((await api("/phone-number/verify", { body: { phoneNumber: u.phoneNumber, code: second } })).status, 200);
  });
});

describe("phone-number: POST /sign-in/phone-number", () => {
  test("200 {token, user} (no redirect field); session + multi cookies; no last-login cookie", async () => {
    const u = await userWithPhone();
    const jar = new CookieJar();
    const res = await api("/sign-in/phone-number", { body: { phoneNumber: u.phoneNumber, password: u.password }, jar });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ["token", "user"]);
    assert.match(res.json.token, TOKEN_RE);
    assert.equal(res.json.user.id, u.user.id);
    assert.equal(res.json.user.phoneNumber, u.phoneNumber);
    const sc = sessionCookieOf(res);
    assert.equal(tokenOfCookie(sc.value), res.json.token);
    assert.equal(sc.attrs["max-age"], "604800");
    assert.ok(res.setCookies.some((c) => c.name === multiCookieName(res.json.token)));
    assert.ok(!res.setCookies.some((c) => c.name === LAST_LOGIN_COOKIE));
    assert.equal((await session(jar)).user.id, u.user.id);
  });

  test("rememberMe:false -> session cookie without Max-Age and a dont_remember cookie", async () => {
    const u = await userWithPhone();
    const res = await api("/sign-in/phone-number", { body: { phoneNumber: u.phoneNumber, password: u.password, rememberMe: false } });
    assert.equal(res.status, 200);
    assert.equal(sessionCookieOf(res).attrs["max-age"], undefined);
    assert.ok(res.setCookies.some((c) => c.name === "better-auth.dont_remember"));
  });

  test("wrong password / unknown number -> 401 INVALID_PHONE_NUMBER_OR_PASSWORD; long password -> 400 PASSWORD_TOO_LONG", async () => {
    const u = await userWithPhone();
    const msg = "Invalid phone number or password";
    assertError(await api("/sign-in/phone-number", { body: { phoneNumber: u.phoneNumber, password: "wrong-pass-1" } }), 401, "INVALID_PHONE_NUMBER_OR_PASSWORD", msg);
    assertError(await api("/sign-in/phone-number", { body: { phoneNumber: uniquePhone(), password: u.password } }), 401, "INVALID_PHONE_NUMBER_OR_PASSWORD", msg);
    assertError(await api("/sign-in/phone-number", { body: { phoneNumber: u.phoneNumber, password: "x".repeat(129) } }), 400, "PASSWORD_TOO_LONG", "Password too long");
    assertError(await api("/sign-in/phone-number", { body: { phoneNumber: u.phoneNumber } }), 400, "VALIDATION_ERROR", "[body.password] Invalid input: expected string, received undefined");
  });
});

describe("phone-number: hooks on core routes", () => {
  test("sign-up/email with phoneNumber -> 400 PHONE_NUMBER_CANNOT_BE_SET", async () => {
    assertError(await api("/sign-up/email", { body: { email: uniqueEmail(), password: "phone-pass-123", name: "P", phoneNumber: uniquePhone() } }), 400, "PHONE_NUMBER_CANNOT_BE_SET", "Phone number can only be set by verifying it");
  });

  test("update-user with a phoneNumber -> 400 PHONE_NUMBER_CANNOT_BE_UPDATED; phoneNumber:null clears it (and the verified flag)", async () => {
    const u = await userWithPhone();
    assertError(await api("/update-user", { body: { phoneNumber: uniquePhone() }, jar: u.jar }), 400, "PHONE_NUMBER_CANNOT_BE_UPDATED", "Phone number cannot be updated");
    assertError(await api("/update-user", { body: { phoneNumberVerified: true }, jar: u.jar }), 400, "FIELD_NOT_ALLOWED", "phoneNumberVerified is not allowed to be set");
    assert.equal((await api("/update-user", { body: { phoneNumber: null }, jar: u.jar })).status, 200);
    const s = await session(u.jar);
    assert.equal(s.user.phoneNumber, null);
    assert.equal(s.user.phoneNumberVerified, false);
    assertError(await api("/sign-in/phone-number", { body: { phoneNumber: u.phoneNumber, password: u.password } }), 401, "INVALID_PHONE_NUMBER_OR_PASSWORD");
  });

  test("users without a phone number: phoneNumber null, phoneNumberVerified null", async () => {
    const a = await signUp();
    assert.equal(a.user.phoneNumber, null);
    assert.equal(a.user.phoneNumberVerified, null);
  });
});

describe("phone-number: password reset", () => {
  test("request-password-reset: 200 {status:true} for known and unknown numbers; no message (no sender configured)", async () => {
    const u = await userWithPhone();
    const before = countMessages(u.phoneNumber, "phone-otp");
    for (const phoneNumber of [u.phoneNumber, uniquePhone()]) {
      const res = await api("/phone-number/request-password-reset", { body: { phoneNumber } });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { status: true });
    }
    await assertNoMessage(u.phoneNumber, "phone-otp", before);
  });

  test("reset-password: short password -> 400 PASSWORD_TOO_SHORT; nothing requested -> 400 OTP_NOT_FOUND; wrong code -> 400 INVALID_OTP", async () => {
    const u = await userWithPhone();
    assertError(await api("/phone-number/reset-password", { body: { phoneNumber: u.phoneNumber, otp: "123456", newPassword: "short" } }), 400, "PASSWORD_TOO_SHORT", "Password too short");
    assertError(await api("/phone-number/reset-password", { body: { phoneNumber: u.phoneNumber, otp: "123456", newPassword: "brand-new-pass-1" } }), 400, "OTP_NOT_FOUND", "OTP not found");
    await api("/phone-number/request-password-reset", { body: { phoneNumber: u.phoneNumber } });
    assertError(await api("/phone-number/reset-password", { body: { phoneNumber: u.phoneNumber, otp: "not-the-code", newPassword: "brand-new-pass-1" } }), 400, "INVALID_OTP", "Invalid OTP");
  });

  test("reset-password with the stored code (read from SQLITE_DB): {status:true}; new password signs in", { skip: dbSkip }, async () => {
    const db = await openDb();
    try {
      const u = await userWithPhone();
      await api("/phone-number/request-password-reset", { body: { phoneNumber: u.phoneNumber } });
      const row = db.prepare("select value from verification where identifier=?").get(`phone-number-reset-${u.phoneNumber}`);
      assert.match(row.value, /^[0-9]{6}:0$/);
      const otp = row.value.split(":")[0];
      const res = await api("/phone-number/reset-password", { body: { phoneNumber: u.phoneNumber, otp, newPassword: "brand-new-pass-1" } });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, { status: true });
      assert.equal((await api("/sign-in/phone-number", { body: { phoneNumber: u.phoneNumber, password: "brand-new-pass-1" } })).status, 200);
      assert.equal((await signIn(u.email, u.password)).res.status, 401);
      assertError(await api("/phone-number/reset-password", { body: { phoneNumber: u.phoneNumber, otp, newPassword: "brand-new-pass-2" } }), 400, "OTP_NOT_FOUND");
    } finally { db.close(); }
  });
});

describe("phone-number: official client (phoneNumberClient)", () => {
  test("phoneNumber.sendOtp, phoneNumber.verify, signIn.phoneNumber", async () => {
    const b = browser([phoneNumberClient()]);
    const up = await b.client.signUp.email({ email: uniqueEmail("pnc"), password: "phone-pass-123", name: "Phone Client" });
    assert.equal(up.error, null);
    const phoneNumber = uniquePhone();
    const skip = countMessages(phoneNumber, "phone-otp");
    const s = await b.client.phoneNumber.sendOtp({ phoneNumber });
    assert.equal(s.error, null);
    assert.deepEqual(s.data, { message: "code sent" });
    assert.ok(b.log.at(-1).url.endsWith("/api/auth/phone-number/send-otp"));
    const { code } = await waitForMessage(phoneNumber, "phone-otp", { skip });
    assertClientError(await b.client.phoneNumber.verify({ phoneNumber, code: wrong(code), updatePhoneNumber: true }), 400, "INVALID_OTP", "Invalid OTP");
    const v = await b.client.phoneNumber.verify({ phoneNumber, code, updatePhoneNumber: true });
    assert.equal(v.error, null);
    assert.equal(v.data.user.phoneNumber, phoneNumber);
    const b2 = browser([phoneNumberClient()]);
    const r = await b2.client.signIn.phoneNumber({ phoneNumber, password: "phone-pass-123" });
    assert.equal(r.error, null);
    assert.equal(r.data.user.id, up.data.user.id);
    assert.equal(tokenOfCookie(b2.jar.get(SESSION_COOKIE)), r.data.token);
    assertClientError(await b2.client.signIn.phoneNumber({ phoneNumber, password: "wrong-pass-1" }), 401, "INVALID_PHONE_NUMBER_OR_PASSWORD");
  });
});

describe("phone-number: storage", { skip: dbSkip }, () => {
  test("user.phoneNumber text UNIQUE nullable, user.phoneNumberVerified integer nullable; code row 'phone-number-otp-<number>' = '<code>:<attempts>'", async () => {
    const db = await openDb();
    try {
      assert.deepEqual(columns(db, "user", ["phoneNumber", "phoneNumberVerified"]), [["phoneNumber", "text", 0, 0], ["phoneNumberVerified", "integer", 0, 0]]);
      assert.match(db.prepare("select sql from sqlite_master where type='table' and name='user'").get().sql, /"phoneNumber" text unique/);
      const phoneNumber = uniquePhone();
      const t0 = Date.now();
      const code = await sendCode(phoneNumber);
      const row = db.prepare("select * from verification where identifier=?").get(`phone-number-otp-${phoneNumber}`);
      assert.equal(row.value, `${code}:0`);
      const ttl = Date.parse(row.expiresAt) - t0;
      assert.ok(ttl > 290e3 && ttl < 305e3, `ttl ${ttl}`);
      const u = await userWithPhone();
      const r = db.prepare('select phoneNumber, phoneNumberVerified from "user" where id=?').get(u.user.id);
      assert.deepEqual({ ...r }, { phoneNumber: u.phoneNumber, phoneNumberVerified: 1 });
    } finally { db.close(); }
  });
});
