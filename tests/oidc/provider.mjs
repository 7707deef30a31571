// A real OpenID Connect provider for Palisade's social sign-in tests: panva's oidc-provider
// with its development login and consent pages (any password is accepted; the login is the
// user's email). Prints `READY <issuer>` once listening.
//
//   node provider.mjs [port]          (port 0 or absent: any free port)
//
// Users: sub = the login; email = the login; email_verified unless the login starts with
// "unverified"; name, given_name, family_name from the local part ("ada.lovelace" → Ada Lovelace).
// `POST /tampered/token` forwards to the token endpoint and corrupts the ID token's
// signature, to show that Palisade refuses an ID token that does not verify.
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 0);
export const CLIENT_ID = 'palisade-test';
export const CLIENT_SECRET = 'palisade-test-secret-0123456789';

function claimsFor(login) {
  const local = login.split('@')[0];
  const parts = local.split(/[._-]+/).filter(Boolean).map((p) => p[0].toUpperCase() + p.slice(1));
  return {
    sub: login,
    email: login,
    email_verified: !login.startsWith('unverified'),
    name: parts.join(' '),
    given_name: parts[0],
    family_name: parts.slice(1).join(' ') || undefined,
  };
}

const server = http.createServer();
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    // A native client may use any loopback port (RFC 8252 §7.3): the test servers bind port 0.
    application_type: 'native',
    redirect_uris: [
      'http://127.0.0.1/api/auth/callback/oidc',
      'http://127.0.0.1/api/auth/callback/oidc-tampered',
    ],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  // ID tokens carry the profile claims too (Palisade reads them from the ID token).
  conformIdTokenClaims: false,
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => claimsFor(sub) }),
  pkce: { required: () => true },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['oidc-test-cookie-key-0123456789'] },
  ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
});
provider.on('grant.error', (_ctx, err) => console.error(`grant.error: ${err.message}: ${err.error_detail ?? err.error_description ?? ''}`));

const oidc = provider.callback();

async function tampered(req, res) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const r = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': req.headers['content-type'] ?? 'application/x-www-form-urlencoded' },
    body: Buffer.concat(chunks),
  });
  const body = await r.json();
  if (body.id_token) {
    const [h, p, s] = body.id_token.split('.');
    body.id_token = `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
  }
  res.writeHead(r.status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

server.on('request', (req, res) => {
  if (req.method === 'POST' && req.url === '/tampered/token') {
    tampered(req, res).catch((e) => { res.writeHead(500); res.end(String(e)); });
  } else {
    oidc(req, res);
  }
});

console.log(`READY ${issuer}`);
