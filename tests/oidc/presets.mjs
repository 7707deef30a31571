// A local stand-in for GitHub and Google, answering with the response shapes their
// documentation gives (github.com and googleapis.com cannot be reached from the test
// machines). Prints `READY <base>` once listening.
//
// GitHub (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps,
// /rest/users/users#get-the-authenticated-user, /rest/users/emails):
//   POST /github/login/oauth/access_token   code "gh-<login>" → {access_token, token_type, scope}
//   GET  /github/user                        the user, `email: null` (private address)
//   GET  /github/user/emails                 [{email, primary, verified, visibility}]
// Google (https://developers.google.com/identity/openid-connect/openid-connect):
//   POST /google/token                       code "g-<email>" or a refresh_token → tokens with an RS256 id_token
//   GET  /google/oauth2/v3/certs             the JWKS
//   GET  /google/test/id-token?email=&nonce= an ID token as Google's client libraries hand one
//                                            to a front end (for `signIn.social({idToken})`)
import http from 'node:http';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

const port = Number(process.argv[2] ?? 0);
const GITHUB_CLIENT = { id: 'gh-client', secret: 'gh-secret' };
const GOOGLE_CLIENT = { id: 'google-client.apps.googleusercontent.com', secret: 'google-secret' };

const { publicKey, privateKey } = await generateKeyPair('RS256');
const kid = 'test-key-1';
const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };

const githubUsers = {
  octocat: { id: 583231, login: 'octocat', name: 'The Octocat', primary: 'octocat@github.example', verified: true },
  ghost: { id: 10137, login: 'ghost', name: null, primary: 'ghost@github.example', verified: false },
};
const googleSub = (email) => String(100000000000000000000n + BigInt([...email].reduce((a, c) => a * 31 + c.charCodeAt(0), 7) % 1000000007));

async function idToken(email, nonce) {
  const local = email.split('@')[0];
  const [given, family] = local.split('.').map((p) => p[0].toUpperCase() + p.slice(1));
  const claims = {
    azp: GOOGLE_CLIENT.id,
    email,
    email_verified: !email.startsWith('unverified'),
    at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q',
    name: [given, family].filter(Boolean).join(' '),
    picture: `https://lh3.googleusercontent.com/a/${local}`,
    given_name: given,
    family_name: family,
  };
  if (nonce) claims.nonce = nonce;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .setIssuer('https://accounts.google.com')
    .setAudience(GOOGLE_CLIENT.id)
    .setSubject(googleSub(email))
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
}

async function form(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function bearer(req) {
  return (req.headers.authorization ?? '').replace(/^Bearer /i, '');
}

async function github(req, res, path) {
  if (req.method === 'POST' && path === '/login/oauth/access_token') {
    const f = await form(req);
    const login = (f.get('code') ?? '').replace(/^gh-/, '');
    // GitHub answers a bad code with 200 and an error member.
    if (f.get('client_id') !== GITHUB_CLIENT.id || f.get('client_secret') !== GITHUB_CLIENT.secret || !githubUsers[login]) {
      return send(res, 200, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.', error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code' });
    }
    return send(res, 200, { access_token: `gho_${login}`, token_type: 'bearer', scope: 'read:user,user:email' });
  }
  const u = githubUsers[bearer(req).replace(/^gho_/, '')];
  if (!u) return send(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
  if (path === '/user') {
    return send(res, 200, {
      login: u.login, id: u.id, node_id: 'MDQ6VXNlcjE=', avatar_url: `https://avatars.githubusercontent.com/u/${u.id}?v=4`,
      gravatar_id: '', url: `https://api.github.com/users/${u.login}`, html_url: `https://github.com/${u.login}`,
      type: 'User', site_admin: false, name: u.name, company: '@github', blog: 'https://github.blog', location: 'San Francisco',
      email: null, hireable: null, bio: null, twitter_username: null, public_repos: 8, public_gists: 8,
      followers: 20, following: 0, created_at: '2011-01-25T18:44:36Z', updated_at: '2025-01-01T00:00:00Z',
    });
  }
  if (path === '/user/emails') {
    return send(res, 200, [
      { email: `${u.login}@users.noreply.github.example`, primary: false, verified: true, visibility: null },
      { email: u.primary, primary: true, verified: u.verified, visibility: 'private' },
    ]);
  }
  return send(res, 404, { message: 'Not Found' });
}

async function google(req, res, url) {
  const path = url.pathname;
  if (req.method === 'POST' && path === '/token') {
    const f = await form(req);
    if (f.get('client_id') !== GOOGLE_CLIENT.id || f.get('client_secret') !== GOOGLE_CLIENT.secret) {
      return send(res, 401, { error: 'invalid_client', error_description: 'Unauthorized' });
    }
    let email;
    if (f.get('grant_type') === 'authorization_code' && (f.get('code') ?? '').startsWith('g-') && f.get('code_verifier')) {
      email = f.get('code').slice(2);
    } else if (f.get('grant_type') === 'refresh_token' && (f.get('refresh_token') ?? '').startsWith('1//r-')) {
      email = f.get('refresh_token').slice(5);
    } else {
      return send(res, 400, { error: 'invalid_grant', error_description: 'Bad Request' });
    }
    const body = {
      access_token: `ya29.a0-${email}-${Date.now()}`,
      expires_in: 3599,
      scope: 'openid https://www.googleapis.com/auth/userinfo.profile https://www.googleapis.com/auth/userinfo.email',
      token_type: 'Bearer',
      id_token: await idToken(email),
    };
    if (f.get('grant_type') === 'authorization_code') body.refresh_token = `1//r-${email}`;
    return send(res, 200, body);
  }
  if (path === '/oauth2/v3/certs') return send(res, 200, { keys: [jwk] });
  if (path === '/test/id-token') {
    return send(res, 200, { id_token: await idToken(url.searchParams.get('email'), url.searchParams.get('nonce')) });
  }
  return send(res, 404, { error: 'not_found' });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const handle = url.pathname.startsWith('/github/')
    ? github(req, res, url.pathname.slice('/github'.length))
    : url.pathname.startsWith('/google/')
      ? google(req, res, new URL(url.pathname.slice('/google'.length) + url.search, 'http://localhost'))
      : Promise.resolve(send(res, 404, {}));
  handle.catch((e) => send(res, 500, { error: String(e) }));
});
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
console.log(`READY http://127.0.0.1:${server.address().port}`);
