// node-oidc-provider for `make bench`: one confidential client, the same grants
// and endpoints as the IdP's bench, in-memory storage, one process, loopback.
// PORT, BENCH_CLIENT_SECRET and BENCH_REDIRECT come from tests/bench/run.py.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

function jwk(type, options, alg) {
  const key = generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' });
  return { ...key, alg, use: 'sig', kid: `${alg}-bench` };
}

// Like the IdP's ring: an RS256 and an ES256 signing key.
const keys = [jwk('rsa', { modulusLength: 2048 }, 'RS256'),
  jwk('ec', { namedCurve: 'P-256' }, 'ES256')];

// The package's own in-memory adapter keeps only 1,000 entries (codes minted ahead
// would be evicted) and walks every member of a grant at each save (the bench's
// thousands of codes share one grant): a plain map with expiry instead, as
// unbounded as the IdP's in-process store.
const storage = new Map();
const grants = new Map();
const grantable = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken',
  'DeviceCode', 'BackchannelAuthenticationRequest']);

function read(key) {
  const entry = storage.get(key);
  if (entry && entry.expiresAt <= Date.now()) {
    storage.delete(key);
    return undefined;
  }
  return entry?.value;
}

class MapAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
    if (this.model === 'Session') storage.set(`sessionUid:${payload.uid}`, { value: id, expiresAt });
    if (grantable.has(this.model) && payload.grantId) {
      if (!grants.has(payload.grantId)) grants.set(payload.grantId, new Set());
      grants.get(payload.grantId).add(key);
    }
    storage.set(key, { value: payload, expiresAt });
  }

  async find(id) { return read(this.key(id)); }

  async findByUid(uid) {
    const id = read(`sessionUid:${uid}`);
    return id && this.find(id);
  }

  async findByUserCode() { return undefined; }

  async consume(id) {
    const payload = read(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) { storage.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    for (const key of grants.get(grantId) ?? []) storage.delete(key);
    grants.delete(grantId);
  }
}

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients: [{
    client_id: 'bench',
    client_secret: process.env.BENCH_CLIENT_SECRET,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    redirect_uris: [process.env.BENCH_REDIRECT],
    id_token_signed_response_alg: 'ES256',
    scope: 'openid profile email offline_access',
  }],
  jwks: { keys },
  cookies: { keys: ['bench-cookie-key-not-a-secret'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  features: {
    devInteractions: { enabled: true }, // the bench logs in through these pages
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  // As the IdP does: refresh tokens for every code exchange, rotated on use.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: { AuthorizationCode: 900, AccessToken: 3600, ClientCredentials: 3600,
    RefreshToken: 86400, Grant: 86400, Session: 86400, Interaction: 600 },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: 'bench@example.si', email_verified: true, name: 'Bench' };
      },
    };
  },
});
provider.on('server_error', (ctx, error) => console.error(error));
provider.listen(port, '127.0.0.1', () => console.log(`peer on ${issuer}`));
