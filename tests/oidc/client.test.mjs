// The official Better Auth client's `signIn.social` against Palisade, with the real
// OpenID Connect provider of provider.mjs. The test plays the browser: it follows the URL the
// client returns through the provider's login and consent pages back to Palisade's callback.
//
//   node tests/oidc/client.test.mjs path/to/palisade
//
// Prints one line per check and `N passed, M failed`; exits non-zero on a failure.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAuthClient } from 'better-auth/client';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = process.argv[2] ?? path.join(here, '../../target/release/palisade');
const SITE = 'http://localhost:5173';
const children = [];
const work = mkdtempSync(path.join(os.tmpdir(), 'palisade-oidc-'));
let passed = 0;
let failed = 0;

function check(name, cond, detail = '') {
  if (cond) { passed++; console.log(`ok - ${name}`); } else { failed++; console.log(`not ok - ${name} ${detail}`); }
}

function start(cmd, args, env, ready) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(ready);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}`)));
  });
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** A browser: a cookie jar per origin, redirects followed by hand. */
function browser() {
  const jar = new Map();
  const cookieFor = (url) => [...(jar.get(new URL(url).origin) ?? new Map())].map(([k, v]) => `${k}=${v}`).join('; ');
  const keep = (url, res) => {
    const o = new URL(url).origin;
    if (!jar.has(o)) jar.set(o, new Map());
    for (const c of res.headers.getSetCookie()) {
      const [nv] = c.split(';');
      const i = nv.indexOf('=');
      const [k, v] = [nv.slice(0, i), nv.slice(i + 1)];
      if (v === '' || /max-age=0/i.test(c)) jar.get(o).delete(k); else jar.get(o).set(k, v);
    }
  };
  return {
    jar,
    set(url, setCookies) { keep(url, { headers: { getSetCookie: () => setCookies } }); },
    cookie: cookieFor,
    async go(url, init = {}) {
      const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers ?? {}), cookie: cookieFor(url) } });
      keep(url, res);
      return res;
    },
  };
}

try {
  const issuer = await start('node', [path.join(here, 'provider.mjs'), '0'], {}, /READY (\S+)/);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = path.join(work, 'palisade.toml');
  writeFileSync(config, `trusted_origins = ["${SITE}"]\n\n[social_providers.oidc]\nissuer = "${issuer}"\nclient_id = "palisade-test"\n`);
  const serverEnv = {
    PALISADE_CONFIG: config,
    // The client secret from the environment, as operators are told to pass it.
    PALISADE_SOCIAL_OIDC_CLIENT_SECRET: 'palisade-test-secret-0123456789',
    BETTER_AUTH_SECRET: 'oidc-client-test-secret-0123456789-abcdef',
    DATABASE_URL: `sqlite://${work}/palisade.db`,
    PALISADE_LISTEN: `127.0.0.1:${port}`,
    BASE_URL: base,
    PALISADE_EMAIL_LOG: path.join(work, 'emails.jsonl'),
    PALISADE_LOG: 'warn',
  };
  const server = spawn(bin, ['serve'], { env: { ...process.env, ...serverEnv }, stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(server);
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${base}/api/auth/ok`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  const b = browser();
  const client = createAuthClient({ baseURL: base, fetchOptions: { headers: { origin: SITE } } });
  let stateCookies = [];
  const res = await client.signIn.social(
    { provider: 'oidc', callbackURL: `${SITE}/dashboard`, newUserCallbackURL: `${SITE}/welcome` },
    { onResponse: (ctx) => { stateCookies = ctx.response.headers.getSetCookie(); } },
  );
  check('signIn.social answers {url, redirect: true}', !res.error && res.data?.redirect === true && res.data.url.startsWith(`${issuer}/auth?`), JSON.stringify(res));
  check('the state cookie is set', stateCookies.some((c) => c.startsWith('better-auth.state=')), JSON.stringify(stateCookies));
  b.set(base, stateCookies);

  // The browser at the provider: login, consent, back to Palisade.
  let url = res.data.url;
  for (let i = 0; i < 10 && url.startsWith(issuer); i++) {
    let r = await b.go(url);
    if (r.status === 200) {
      const html = await r.text();
      const action = html.match(/action="([^"]+)"/)[1];
      const body = html.includes('value="login"')
        ? new URLSearchParams({ prompt: 'login', login: 'margaret.hamilton@example.com', password: 'any' })
        : new URLSearchParams({ prompt: 'consent' });
      r = await b.go(new URL(action, issuer).href, { method: 'POST', body });
    }
    url = new URL(r.headers.get('location'), url).href;
  }
  check('the provider redirects to Palisade\'s callback', url.startsWith(`${base}/api/auth/callback/oidc?code=`), url);
  const cb = await b.go(url);
  check('the callback redirects to newUserCallbackURL', cb.status === 302 && cb.headers.get('location') === `${SITE}/welcome`, `${cb.status} ${cb.headers.get('location')}`);
  const cookie = b.cookie(base);
  check('a session cookie is set', cookie.includes('better-auth.session_token='), cookie);

  const session = await client.getSession({ fetchOptions: { headers: { cookie } } });
  check('getSession sees the new user', session.data?.user?.email === 'margaret.hamilton@example.com' && session.data.user.name === 'Margaret Hamilton' && session.data.user.emailVerified === true, JSON.stringify(session.data));
  const accounts = await client.listAccounts({ fetchOptions: { headers: { cookie } } });
  check('listAccounts shows the oidc account', accounts.data?.length === 1 && accounts.data[0].providerId === 'oidc' && accounts.data[0].accountId === 'margaret.hamilton@example.com', JSON.stringify(accounts));

  const unknown = await client.signIn.social({ provider: 'nope', callbackURL: '/x' });
  check('an unknown provider is 404 PROVIDER_NOT_FOUND', unknown.error?.status === 404 && unknown.error.code === 'PROVIDER_NOT_FOUND', JSON.stringify(unknown.error));
} catch (e) {
  failed++;
  console.log(`not ok - ${e.stack}`);
} finally {
  for (const c of children) c.kill();
  rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
