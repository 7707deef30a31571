#!/usr/bin/env node
// Data compatibility both ways: the real Better Auth (../shared/conformance/reference.sh) and
// Palisade take turns on ONE database (SQLite file, PostgreSQL, MariaDB), with one secret.
//   node scripts/interop.mjs <palisade binary> <sqlite|postgres|mysql> <database url or file>
// 1. reference creates the schema and user A (and its JWT key)
// 2. palisade serves it: A signs in with the reference's password hash, A's reference cookie
//    is a live session, /token is signed with the reference's key; palisade creates user B
// 3. reference again: B signs in, B's palisade cookie is a live session
// Two-factor both ways: C enables TOTP on the reference and signs in on palisade with a TOTP code
// and with a backup code; D enables it on palisade and signs in on the reference likewise; the
// backup code C used on palisade is spent for the reference too.
// Prints "N passed, N failed".
import crypto from "node:crypto";
import { interop, call } from "./interop-lib.mjs";

const [bin, backend, db] = process.argv.slice(2);
const run = interop({ bin, backend, db });
const { check } = run;

/** RFC 6238 code (SHA-1, 6 digits, 30 s) for the base32 secret of an otpauth:// URI. */
function totp(uri) {
  const b32 = new URL(uri).searchParams.get("secret");
  let bits = "";
  for (const ch of b32.replace(/=+$/, "")) bits += "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".indexOf(ch.toUpperCase()).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000)));
  const h = crypto.createHmac("sha1", key).update(counter).digest();
  const o = h[19] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1e6).padStart(6, "0");
}

/** Signs up `u` on `base` and turns TOTP on: returns {uri, backupCodes}. */
async function enroll(base, u) {
  const up = await call(base, "/sign-up/email", { body: u });
  const en = await call(base, "/two-factor/enable", { body: { password: u.password }, cookie: up.cookie });
  const on = await call(base, "/two-factor/verify-totp", { body: { code: totp(en.json.totpURI) }, cookie: up.cookie });
  return { ok: up.status === 200 && en.status === 200 && on.status === 200, uri: en.json?.totpURI, backupCodes: en.json?.backupCodes ?? [], detail: JSON.stringify([up.json, en.json, on.json]) };
}

/** Password sign-in answered by a 2FA challenge, completed with `path` and `code`. */
async function twoFactorSignIn(base, u, path, code) {
  const first = await call(base, "/sign-in/email", { body: { email: u.email, password: u.password } });
  if (!first.json?.twoFactorRedirect) return { status: first.status, json: first.json };
  return call(base, `/two-factor/${path}`, { body: { code }, cookie: first.cookie });
}

const a = { email: `a-${Date.now()}@interop.example`, password: "interop-pass-a", name: "A" };
const c = { email: `c-${Date.now()}@interop.example`, password: "interop-pass-c", name: "C" };
const d = { email: `d-${Date.now()}@interop.example`, password: "interop-pass-d", name: "D" };
const b = { email: `b-${Date.now()}@interop.example`, password: "interop-pass-b", name: "B" };
try {
  let ref = await run.start("ref");
  const upA = await call(ref.base, "/sign-up/email", { body: a });
  check("reference signs up A", upA.status === 200, JSON.stringify(upA.json));
  const refJwks = (await call(ref.base, "/jwks")).json;
  const c2fa = await enroll(ref.base, c);
  check("reference turns on TOTP for C", c2fa.ok, c2fa.detail);
  await ref.stop();

  const pal = await run.start("pal");
  const inA = await call(pal.base, "/sign-in/email", { body: { email: a.email, password: a.password } });
  check("palisade signs A in with the reference's scrypt hash", inA.status === 200 && inA.json.user.id === upA.json.user.id, JSON.stringify(inA.json));
  const sessA = await call(pal.base, "/get-session", { cookie: upA.cookie });
  check("A's reference cookie is a live session on palisade", sessA.json?.session?.token === upA.json.token, JSON.stringify(sessA.json));
  check("user fields read back identically", JSON.stringify(sessA.json?.user) === JSON.stringify(upA.json.user), `${JSON.stringify(sessA.json?.user)} vs ${JSON.stringify(upA.json.user)}`);
  const tok = await call(pal.base, "/token", { cookie: upA.cookie });
  const kid = tok.json?.token && JSON.parse(Buffer.from(tok.json.token.split(".")[0], "base64url")).kid;
  check("palisade signs with the reference's JWT key", kid && refJwks.keys.some((k) => k.kid === kid), `kid ${kid}`);
  const upB = await call(pal.base, "/sign-up/email", { body: b });
  check("palisade signs up B", upB.status === 200, JSON.stringify(upB.json));
  const cTotp = await twoFactorSignIn(pal.base, c, "verify-totp", totp(c2fa.uri));
  check("palisade signs C in with a TOTP code of the reference's secret", cTotp.status === 200 && cTotp.json?.user?.email === c.email, JSON.stringify(cTotp.json));
  const cBackup = await twoFactorSignIn(pal.base, c, "verify-backup-code", c2fa.backupCodes[0]);
  check("palisade signs C in with a reference backup code", cBackup.status === 200 && cBackup.json?.user?.email === c.email, JSON.stringify(cBackup.json));
  const d2fa = await enroll(pal.base, d);
  check("palisade turns on TOTP for D", d2fa.ok, d2fa.detail);
  await pal.stop();

  ref = await run.start("ref");
  const inB = await call(ref.base, "/sign-in/email", { body: { email: b.email, password: b.password } });
  check("reference signs B in with palisade's hash", inB.status === 200 && inB.json.user.id === upB.json.user.id, JSON.stringify(inB.json));
  const sessB = await call(ref.base, "/get-session", { cookie: upB.cookie });
  check("B's palisade cookie is a live session on the reference", sessB.json?.session?.token === upB.json.token, JSON.stringify(sessB.json));
  check("B's fields read back identically on the reference", JSON.stringify(sessB.json?.user) === JSON.stringify(upB.json.user), `${JSON.stringify(sessB.json?.user)} vs ${JSON.stringify(upB.json.user)}`);
  const dTotp = await twoFactorSignIn(ref.base, d, "verify-totp", totp(d2fa.uri));
  check("reference signs D in with a TOTP code of palisade's secret", dTotp.status === 200 && dTotp.json?.user?.email === d.email, JSON.stringify(dTotp.json));
  const dBackup = await twoFactorSignIn(ref.base, d, "verify-backup-code", d2fa.backupCodes[0]);
  check("reference signs D in with a palisade backup code", dBackup.status === 200 && dBackup.json?.user?.email === d.email, JSON.stringify(dBackup.json));
  const cSpent = await twoFactorSignIn(ref.base, c, "verify-backup-code", c2fa.backupCodes[0]);
  check("the backup code C used on palisade is spent on the reference", cSpent.status === 401 && cSpent.json?.code === "INVALID_BACKUP_CODE", JSON.stringify(cSpent.json));
  const cNext = await twoFactorSignIn(ref.base, c, "verify-backup-code", c2fa.backupCodes[1]);
  check("C's other backup codes still work on the reference", cNext.status === 200, JSON.stringify(cNext.json));
  await ref.stop();
  run.finish();
} catch (e) {
  run.finish(e);
}
