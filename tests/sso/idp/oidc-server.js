// A real OpenID provider (node-oidc-provider) for the SSO tests, on loopback only.
// Usage: node oidc-server.js CONFIG.json — written by tests/sso/conftest.py:
//   { "port": 0, "issuer": "http://127.0.0.1:PORT", "jwks": { "keys": [private JWKs] },
//     "client": { "client_id", "client_secret", "redirect_uris": [...] },
//     "accounts": { "<id>": { "email": "...", "email_verified": true } } }
// Login goes through the provider's development interactions: any password, login = account id.
import fs from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

const provider = new Provider(config.issuer, {
  clients: [{
    ...config.client,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: config.jwks,
  pkce: { required: () => true }, // S256 is the only method node-oidc-provider accepts
  scopes: ['openid', 'email'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  conformIdTokenClaims: false, // email and email_verified in the ID token itself
  cookies: { keys: ['test-only-cookie-signing-key'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const account = config.accounts[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
});

const server = provider.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
