#!/usr/bin/env node
// The sign-in plugins' data both ways: the reference with those plugins (PLUGINS) and Palisade
// with conformance/plugins.toml take turns on ONE database (SQLite file, PostgreSQL, MariaDB).
//   node scripts/plugin-interop.mjs <palisade binary> <sqlite|postgres|mysql> <database url or file>
// 1. reference: U1 signs up with a username, A1 signs in anonymously, U1 asks for a one-time token
// 2. palisade: U1 signs in by username (same fields, lastLoginMethod kept), A1's cookie is an
//    anonymous session, U1's token is spent here; U2 signs up with a username, A2 signs in
//    anonymously, A1 signs up for real (linked: A1 removed), U2 asks for a one-time token
// 3. reference: U2 signs in by username, A2's cookie is anonymous, A1's is gone, U2's token works
// Prints "N passed, N failed".
import { interop, call } from "./interop-lib.mjs";

const [bin, backend, db] = process.argv.slice(2);
const PLUGINS = "username,magic-link,email-otp,anonymous,multi-session,one-time-token,phone-number,last-login-method";
const run = interop({ bin, backend, db, palConfig: "plugins.toml", refEnv: { PLUGINS } });
const { check } = run;
const j = JSON.stringify;
const tag = Date.now().toString(36);
const u1 = { email: `u1-${tag}@interop.example`, password: "interop-pass-1", name: "U1", username: `Ref_${tag}` };
const u2 = { email: `u2-${tag}@interop.example`, password: "interop-pass-2", name: "U2", username: `Pal_${tag}` };
const realA1 = { email: `a1-${tag}@interop.example`, password: "interop-pass-a", name: "A1" };
const same = (a, b) => j(a) === j(b);

try {
  let ref = await run.start("ref");
  const up1 = await call(ref.base, "/sign-up/email", { body: u1 });
  check("reference signs up U1 with a username", up1.status === 200 && up1.json.user.username === u1.username.toLowerCase(), j(up1.json));
  // As stored: the reference's last-login hook updates the user after the sign-up's answer.
  const stored1 = (await call(ref.base, "/get-session", { cookie: up1.cookie })).json?.user;
  const a1 = await call(ref.base, "/sign-in/anonymous", { body: {} });
  check("reference signs A1 in anonymously", a1.status === 200 && a1.json.user.isAnonymous === true, j(a1.json));
  const t1 = await call(ref.base, "/one-time-token/generate", { cookie: up1.cookie });
  check("reference issues U1 a one-time token", t1.status === 200 && !!t1.json?.token, j(t1.json));
  await ref.stop();

  const pal = await run.start("pal");
  const in1 = await call(pal.base, "/sign-in/username", { body: { username: u1.username, password: u1.password } });
  check("palisade signs U1 in by the reference's username", in1.status === 200 && in1.json.user.id === up1.json.user.id, j(in1.json));
  check("U1's fields read back identically", same(in1.json?.user, stored1), `${j(in1.json?.user)} vs ${j(stored1)}`);
  const sa1 = await call(pal.base, "/get-session", { cookie: a1.cookie });
  check("A1's reference cookie is an anonymous session on palisade", sa1.json?.user?.isAnonymous === true && same(sa1.json.user, a1.json.user), j(sa1.json));
  const v1 = await call(pal.base, "/one-time-token/verify", { body: { token: t1.json?.token } });
  check("palisade spends the reference's one-time token", v1.status === 200 && v1.json?.session?.token === up1.json.token, j(v1.json));
  const up2 = await call(pal.base, "/sign-up/email", { body: u2 });
  check("palisade signs up U2 with a username", up2.status === 200 && up2.json.user.displayUsername === u2.username, j(up2.json));
  const a2 = await call(pal.base, "/sign-in/anonymous", { body: {} });
  check("palisade signs A2 in anonymously", a2.status === 200 && a2.json.user.isAnonymous === true, j(a2.json));
  const link = await call(pal.base, "/sign-up/email", { body: realA1, cookie: a1.cookie });
  check("A1 signs up for real on palisade", link.status === 200 && link.json.user.isAnonymous === false, j(link.json));
  const t2 = await call(pal.base, "/one-time-token/generate", { cookie: up2.cookie });
  check("palisade issues U2 a one-time token", t2.status === 200 && !!t2.json?.token, j(t2.json));
  await pal.stop();

  ref = await run.start("ref");
  const in2 = await call(ref.base, "/sign-in/username", { body: { username: u2.username, password: u2.password } });
  check("reference signs U2 in by palisade's username", in2.status === 200 && in2.json.user.id === up2.json.user.id, j(in2.json));
  check("U2's fields read back identically on the reference", same(in2.json?.user, up2.json.user), `${j(in2.json?.user)} vs ${j(up2.json.user)}`);
  const sa2 = await call(ref.base, "/get-session", { cookie: a2.cookie });
  check("A2's palisade cookie is an anonymous session on the reference", sa2.json?.user?.isAnonymous === true && same(sa2.json.user, a2.json.user), j(sa2.json));
  const gone = await call(ref.base, "/get-session", { cookie: a1.cookie });
  check("A1's anonymous user, linked on palisade, is gone for the reference", gone.json === null, j(gone.json));
  // The reference's profile has the cross-domain plugin, whose route replaces /one-time-token/verify.
  const v2 = await call(ref.base, "/cross-domain/one-time-token/verify", { body: { token: t2.json?.token } });
  check("the reference spends palisade's one-time token", v2.status === 200 && v2.json?.session?.token === up2.json.token, j(v2.json));
  await ref.stop();
  run.finish();
} catch (e) {
  run.finish(e);
}
