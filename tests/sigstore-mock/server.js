#!/usr/bin/env node
// A private Sigstore instance for relkit's tests: the Sigstore project's own mock Fulcio (with a
// CT log) and timestamp authority from @sigstore/mock and a Rekor v1 log of ours, served over
// HTTP on 127.0.0.1, plus a stand-in for the GitHub Actions OIDC token endpoint
// (ACTIONS_ID_TOKEN_REQUEST_URL).
//
//   node server.js --dir DIR [--port N] [--request-token T] [--stop-on-stdin-eof]
//
// Writes DIR/trusted_root.json, DIR/signing_config.json (v0.2, Rekor v1),
// DIR/signing_config_rekor_v2.json (the same with only the Rekor v2 log) and
// DIR/client_trust_config.json (sigstore-python's --trust-config), then prints one JSON line with
// the URLs and paths. Every
// request is appended to DIR/requests.jsonl. Token claims come from built-in GitHub-shaped
// defaults, overridden by DIR/claims.json (re-read on every request; null removes a claim) and
// then by query parameters. DIR/settings.json {"fulcioClockOffsetSeconds": N} shifts the time
// Fulcio issues certificates at (for expired-certificate tests).
//
// Differences from the bare mock, each needed by a real client (docs/testing.md):
//  - Rekor v2 (the mock's v2 answers every entry as a one-leaf tree with a random index and logs
//    the request, not the entry): a second log of ours at /api/v2/log/entries, hashedrekord 0.0.2
//    entries (DSSE is logged as hashedrekord over the PAE digest, as Rekor v2 clients do), a real
//    Merkle tree, a signed checkpoint, no integrated time and no SET (a timestamp is the time
//    source), answered as a TransparencyLogEntry.
//  - Rekor v1: one append-only Merkle tree (RFC 6962) per server, so inclusion proofs have real
//    paths, checkpoints grow and log indexes increase (the mock answers every entry with a
//    one-leaf tree at a random index); a few filler leaves come first, so no proof is trivial.
//  - Rekor v1: PEM certificates/keys logged in Go's canonical PEM form (sigstore-rust sends CRLF
//    lines, sigstore-js one unbroken line; real Rekor re-encodes, and sigstore-python compares);
//    dsse entries stored in Rekor's canonical form (envelopeHash, payloadHash, signatures)
//    instead of the proposed entry.
//  - TSA: DER TimeStampReq bodies (application/timestamp-query) with nonces of any size, and
//    genTime in whole seconds (strict DER parsers reject fractional GeneralizedTime).
//  - Fulcio: for the GitHub Actions issuer the SAN is https://github.com/<job_workflow_ref> as
//    real Fulcio issues it (the mock would use `sub`), plus the Deployment Environment extension.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
require('reflect-metadata');
const { Crypto } = require('@peculiar/webcrypto');
const x509 = require('@peculiar/x509');
const asn1js = require('asn1js');
const canonicalize = require('canonicalize');
const pkijs = require('pkijs');
const mock = require('@sigstore/mock');

const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
const OID_DEPLOYMENT_ENVIRONMENT = '1.3.6.1.4.1.57264.1.23';
const OID_TSA_POLICY = '1.3.6.1.4.1.57264.2';
const DAY_MS = 24 * 60 * 60 * 1000;

function parseArgs(argv) {
  const opts = { port: 0, requestToken: crypto.randomBytes(16).toString('hex'), stopOnEof: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--dir') opts.dir = argv[++i];
    else if (arg === '--port') opts.port = Number(argv[++i]);
    else if (arg === '--request-token') opts.requestToken = argv[++i];
    else if (arg === '--stop-on-stdin-eof') opts.stopOnEof = true;
    else usage(`unknown argument ${arg}`);
  }
  if (!opts.dir) usage('--dir is required');
  return opts;
}

function usage(problem) {
  process.stderr.write(`server.js: ${problem}\nusage: node server.js --dir DIR [--port N] [--request-token T] [--stop-on-stdin-eof]\n`);
  process.exit(2);
}

const b64 = (bytes) => Buffer.from(bytes).toString('base64');
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest();
const readJson = (file, fallback) => (fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : fallback);

// Rekor logs keys and certificates in Go's PEM form: 64-character lines, LF, a final newline.
function canonicalPem(b64Pem) {
  const pem = Buffer.from(b64Pem, 'base64').toString('utf8');
  const blocks = [...pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)];
  if (blocks.length === 0) return b64Pem;
  return b64(blocks.map(([, type, body]) => {
    const lines = body.replace(/\s+/g, '').match(/.{1,64}/g) || [];
    return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
  }).join(''));
}

// GitHub's claims for a tag push of acme/widget running .github/workflows/release.yml.
function defaultClaims(audience, now) {
  const repo = 'acme/widget';
  const ref = 'refs/tags/v1.0.0';
  const sha = '1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c';
  const workflowRef = `${repo}/.github/workflows/release.yml@${ref}`;
  return {
    jti: crypto.randomUUID(), sub: `repo:${repo}:ref:${ref}`, aud: audience,
    ref, sha, repository: repo, repository_owner: 'acme', repository_owner_id: '100001',
    run_id: '9000000001', run_number: '7', run_attempt: '1', repository_visibility: 'public',
    repository_id: '200002', actor_id: '300003', actor: 'dev', workflow: 'release',
    head_ref: '', base_ref: '', event_name: 'push', ref_protected: 'false', ref_type: 'tag',
    workflow_ref: workflowRef, workflow_sha: sha, job_workflow_ref: workflowRef, job_workflow_sha: sha,
    runner_environment: 'github-hosted', iss: GITHUB_ISSUER, nbf: now, exp: now + 600, iat: now,
  };
}

function mergeClaims(base, overrides) {
  for (const [key, value] of Object.entries(overrides || {})) {
    if (value === null) delete base[key];
    else base[key] = value;
  }
  return base;
}

function unsignedJwt(claims) {
  const header = { alg: 'RS256', typ: 'JWT', kid: 'mock' };
  return [b64url(JSON.stringify(header)), b64url(JSON.stringify(claims)), b64url('not-a-real-signature')].join('.');
}

function decodeJwt(jwt) {
  return JSON.parse(Buffer.from(String(jwt).split('.')[1] || '', 'base64url').toString('utf8'));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const dir = path.resolve(opts.dir);
  fs.mkdirSync(dir, { recursive: true });
  const files = {
    trustedRoot: path.join(dir, 'trusted_root.json'),
    signingConfig: path.join(dir, 'signing_config.json'),
    signingConfigRekorV2: path.join(dir, 'signing_config_rekor_v2.json'),
    clientTrustConfig: path.join(dir, 'client_trust_config.json'),
    claims: path.join(dir, 'claims.json'),
    settings: path.join(dir, 'settings.json'),
    requestLog: path.join(dir, 'requests.jsonl'),
  };

  const server = http.createServer();
  await new Promise((resolve) => server.listen(opts.port, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;

  const keyPair = () => crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ctlog = await mock.initializeCTLog(keyPair());
  const ca = await mock.initializeCA(keyPair(), ctlog);
  await backdateRoot(ca);
  const tlogKeys = keyPair();
  const tlog = new MerkleLog(base, tlogKeys);
  const tlogV2 = new MerkleLog(base, keyPair());
  const tsa = await mock.initializeTSA(keyPair());
  patchTsa(tsa);
  // The instance is trusted from a day back, so certificates issued in the past (a negative
  // Fulcio clock offset) chain to it and fail only on their own validity.
  const started = new Date(Date.now() - DAY_MS).toISOString();

  const rekorKey = tlog.publicKey;
  const service = (url) => ({ url, majorApiVersion: 1, validFor: { start: started }, operator: 'sigstore.mock' });
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{
      baseUrl: base, hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(rekorKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: started } },
      logId: { keyId: b64(sha256(rekorKey)) },
    }, {
      baseUrl: base, hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(tlogV2.publicKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: started } },
      logId: { keyId: b64(tlogV2.logId) },
    }],
    certificateAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'sigstore' }, uri: base,
      certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] }, validFor: { start: started },
    }],
    ctlogs: [{
      baseUrl: base, hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(ctlog.publicKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: started } },
      logId: { keyId: b64(ctlog.logID) },
    }],
    timestampAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'tsa' }, uri: `${base}/api/v1/timestamp`,
      certChain: { certificates: [{ rawBytes: b64(tsa.intCertificate) }, { rawBytes: b64(tsa.rootCertificate) }] },
      validFor: { start: started },
    }],
  };
  const signingConfig = {
    mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
    caUrls: [service(base)],
    oidcUrls: [],
    rekorTlogUrls: [service(base)],
    tsaUrls: [service(`${base}/api/v1/timestamp`)],
    rekorTlogConfig: { selector: 'ANY' },
    tsaConfig: { selector: 'ANY' },
  };
  const clientTrustConfig = {
    mediaType: 'application/vnd.dev.sigstore.clienttrustconfig.v0.1+json',
    trustedRoot,
    signingConfig,
  };
  fs.writeFileSync(files.trustedRoot, JSON.stringify(trustedRoot, null, 2));
  fs.writeFileSync(files.signingConfig, JSON.stringify(signingConfig, null, 2));
  const signingConfigRekorV2 = { ...signingConfig, rekorTlogUrls: [{ ...service(base), majorApiVersion: 2 }] };
  fs.writeFileSync(files.signingConfigRekorV2, JSON.stringify(signingConfigRekorV2, null, 2));
  fs.writeFileSync(files.clientTrustConfig, JSON.stringify(clientTrustConfig, null, 2));

  const entries = new Map();
  const routes = {
    'POST /api/v2/signingCert': (req, body, log) => fulcio(ca, body, files, log),
    'POST /api/v1/log/entries': (req, body, log) => rekor(tlog, entries, body, log),
    'POST /api/v2/log/entries': (req, body, log) => rekorV2(tlogV2, body, log),
    'POST /api/v1/timestamp': (req, body) => timestamp(tsa, req, body),
    'GET /oidc/token': (req, body, log, url) => oidcToken(req, url, opts.requestToken, files, log),
  };

  server.on('request', async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url, base);
    const log = { time: new Date().toISOString(), method: req.method, path: url.pathname };
    let result;
    try {
      const route = routes[`${req.method} ${url.pathname}`];
      const uuid = url.pathname.match(/^\/api\/v1\/log\/entries\/([0-9a-f]+)$/);
      if (route) result = await route(req, body, log, url);
      else if (req.method === 'GET' && uuid && entries.has(uuid[1])) {
        result = { statusCode: 200, response: JSON.stringify({ [uuid[1]]: entries.get(uuid[1]) }), contentType: 'application/json' };
      } else result = { statusCode: 404, response: `no route for ${req.method} ${url.pathname}` };
    } catch (e) {
      result = { statusCode: 500, response: String(e && e.stack ? e.stack : e) };
    }
    log.status = result.statusCode;
    if (result.statusCode >= 400) log.error = String(result.response).slice(0, 500);
    fs.appendFileSync(files.requestLog, `${JSON.stringify(log)}\n`);
    res.writeHead(result.statusCode, { 'Content-Type': result.contentType || 'text/plain' });
    res.end(result.response);
  });

  if (opts.stopOnEof) {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  }
  process.on('SIGTERM', () => process.exit(0));

  process.stdout.write(`${JSON.stringify({
    url: base,
    fulcioUrl: base,
    rekorUrl: base,
    tsaUrl: `${base}/api/v1/timestamp`,
    oidcTokenUrl: `${base}/oidc/token?api-version=2.0`,
    oidcRequestToken: opts.requestToken,
    trustedRoot: files.trustedRoot,
    signingConfig: files.signingConfig,
    signingConfigRekorV2: files.signingConfigRekorV2,
    clientTrustConfig: files.clientTrustConfig,
    claimsFile: files.claims,
    settingsFile: files.settings,
    requestLog: files.requestLog,
  })}\n`);
}

// Fulcio: the mock's handler, with a certificate authority facade that fixes the SAN and adds the
// extensions the mock does not issue.
async function fulcio(ca, body, files, log) {
  const request = JSON.parse(body.toString('utf8'));
  const claims = decodeJwt(request.credentials && request.credentials.oidcIdentityToken);
  log.token = { iss: claims.iss, sub: claims.sub, aud: claims.aud, exp: claims.exp };
  const github = claims.iss === GITHUB_ISSUER && typeof claims.job_workflow_ref === 'string';
  const extra = typeof claims.environment === 'string'
    ? [{ oid: OID_DEPLOYMENT_ENVIRONMENT, value: claims.environment }]
    : [];
  const offset = Number(readJson(files.settings, {}).fulcioClockOffsetSeconds || 0);
  const facade = {
    get rootCertificate() { return ca.rootCertificate; },
    issueCertificate(certOpts) {
      ca.getCurrentTime = () => new Date(Date.now() + offset * 1000);
      return ca.issueCertificate({
        ...certOpts,
        subjectAltName: github ? `https://github.com/${claims.job_workflow_ref}` : certOpts.subjectAltName,
        extensions: [...(certOpts.extensions || []), ...extra],
      });
    },
  };
  return mock.fulcioHandler(facade).fn(body);
}

// The mock's CA root is valid from the moment it starts; re-issue it (same key and name, so
// leaves still chain to it) valid from a day back.
async function backdateRoot(ca) {
  const crypto = new Crypto();
  const now = Date.now();
  ca.root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=sigstore,O=sigstore.mock',
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 365 * DAY_MS),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    keys: ca.keyPair,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(ca.keyPair.publicKey, false, crypto),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keyPair.publicKey, false, crypto),
    ],
  }, crypto);
}

// Rekor v1: canonicalise what the mock would log verbatim, log it, keep it for GET by uuid.
async function rekor(tlog, entries, body, log) {
  const entry = JSON.parse(body.toString('utf8'));
  if (entry.kind === 'hashedrekord' && entry.spec && entry.spec.signature && entry.spec.signature.publicKey) {
    entry.spec.signature.publicKey.content = canonicalPem(entry.spec.signature.publicKey.content);
  } else if (entry.kind === 'dsse' && entry.spec && entry.spec.proposedContent) {
    const { envelope, verifiers } = entry.spec.proposedContent;
    const parsed = JSON.parse(envelope);
    const keys = (verifiers || []).map(canonicalPem);
    entry.spec = {
      envelopeHash: { algorithm: 'sha256', value: sha256(Buffer.from(envelope, 'utf8')).toString('hex') },
      payloadHash: { algorithm: 'sha256', value: sha256(Buffer.from(parsed.payload, 'base64')).toString('hex') },
      signatures: (parsed.signatures || []).map((s, i) => ({ signature: s.sig, verifier: keys[i] || keys[0] })),
    };
  }
  const logged = tlog.log(entry);
  for (const [uuid, value] of Object.entries(logged)) {
    entries.set(uuid, value);
    log.uuid = uuid;
  }
  return { statusCode: 201, response: JSON.stringify(logged), contentType: 'application/json' };
}

// Rekor v2: a hashedrekord 0.0.2 request becomes the log entry Rekor v2 stores (the data hash
// with its algorithm, the signature and its verifier), answered as a TransparencyLogEntry.
async function rekorV2(tlog, body, log) {
  const request = JSON.parse(body.toString('utf8')).hashedRekordRequestV002;
  if (!request || !request.digest || !request.signature || !request.signature.verifier) {
    return { statusCode: 400, response: 'expected a hashedRekordRequestV002 with digest and signature' };
  }
  const algorithm = { PKIX_ECDSA_P256_SHA_256: 'SHA2_256', PKIX_ECDSA_P384_SHA_384: 'SHA2_384' }[request.signature.verifier.keyDetails];
  if (!algorithm) return { statusCode: 400, response: `unsupported keyDetails ${request.signature.verifier.keyDetails}` };
  const entry = {
    kind: 'hashedrekord',
    apiVersion: '0.0.2',
    spec: { hashedRekordV002: { data: { algorithm, digest: request.digest }, signature: request.signature } },
  };
  const logged = tlog.logV2(entry);
  log.logIndex = logged.logIndex;
  return { statusCode: 201, response: JSON.stringify(logged), contentType: 'application/json' };
}

// Rekor v1's log: entries are leaves of one RFC 6962 Merkle tree; each response carries the
// SET, the inclusion proof against the new tree head and a signed checkpoint, as Rekor's does.
class MerkleLog {
  constructor(url, keys) {
    this.origin = new URL(url).host;
    this.treeId = crypto.randomInt(2 ** 40);
    this.privateKey = keys.privateKey;
    this.publicKey = keys.publicKey.export({ format: 'der', type: 'spki' });
    this.logId = sha256(this.publicKey);
    // Rekor's top-level logIndex counts across shards; the proof's counts in this one.
    this.shardOffset = 1000;
    this.leaves = [0, 1, 2].map(() => leafHash(crypto.randomBytes(32)));
  }

  log(entry) {
    const body = Buffer.from(canonicalize(entry));
    const index = this.leaves.length;
    this.leaves.push(leafHash(body));
    const integratedTime = Math.floor(Date.now() / 1000);
    const root = treeHash(this.leaves);
    const payload = {
      body: body.toString('base64'),
      integratedTime,
      logID: this.logId.toString('hex'),
      logIndex: this.shardOffset + index,
    };
    const set = crypto.sign('sha256', Buffer.from(canonicalize(payload)), this.privateKey);
    const note = `${this.origin} - ${this.treeId}\n${this.leaves.length}\n${root.toString('base64')}\n`;
    const signature = Buffer.concat([this.logId.subarray(0, 4), crypto.sign('sha256', Buffer.from(note), this.privateKey)]);
    const checkpoint = `${note}\n\u2014 ${this.origin} ${signature.toString('base64')}\n`;
    const uuid = sha256(body).toString('hex');
    return {
      [uuid]: {
        ...payload,
        verification: {
          inclusionProof: {
            logIndex: index,
            rootHash: root.toString('hex'),
            treeSize: this.leaves.length,
            hashes: auditPath(index, this.leaves).map((h) => h.toString('hex')),
            checkpoint,
          },
          signedEntryTimestamp: set.toString('base64'),
        },
      },
    };
  }
}

// A Rekor v2 answer: the entry as a leaf of the tree, its inclusion proof with a checkpoint signed
// for the log's origin (the host, no tree id), no SET and no integrated time.
MerkleLog.prototype.logV2 = function logV2(entry) {
  const body = Buffer.from(canonicalize(entry));
  const index = this.leaves.length;
  this.leaves.push(leafHash(body));
  const root = treeHash(this.leaves);
  const note = `${this.origin}\n${this.leaves.length}\n${root.toString('base64')}\n`;
  const signature = Buffer.concat([this.logId.subarray(0, 4), crypto.sign('sha256', Buffer.from(note), this.privateKey)]);
  return {
    logIndex: String(index),
    logId: { keyId: this.logId.toString('base64') },
    kindVersion: { kind: 'hashedrekord', version: '0.0.2' },
    inclusionProof: {
      logIndex: String(index),
      rootHash: root.toString('base64'),
      treeSize: String(this.leaves.length),
      hashes: auditPath(index, this.leaves).map((h) => h.toString('base64')),
      checkpoint: { envelope: `${note}\n\u2014 ${this.origin} ${signature.toString('base64')}\n` },
    },
    canonicalizedBody: body.toString('base64'),
  };
};

const leafHash = (data) => sha256(Buffer.concat([Buffer.from([0]), data]));
const nodeHash = (left, right) => sha256(Buffer.concat([Buffer.from([1]), left, right]));
// The largest power of two smaller than n (n > 1).
const split = (n) => 2 ** Math.floor(Math.log2(n - 1));

function treeHash(leaves) {
  if (leaves.length === 1) return leaves[0];
  const k = split(leaves.length);
  return nodeHash(treeHash(leaves.slice(0, k)), treeHash(leaves.slice(k)));
}

// RFC 6962 §2.1.1 PATH(m, D[n]), leaf to root.
function auditPath(m, leaves) {
  if (leaves.length === 1) return [];
  const k = split(leaves.length);
  return m < k
    ? [...auditPath(m, leaves.slice(0, k)), treeHash(leaves.slice(k))]
    : [...auditPath(m - k, leaves.slice(k)), treeHash(leaves.slice(0, k))];
}

// TSA: the mock takes sigstore-js's JSON requests; RFC 3161 clients send DER.
async function timestamp(tsa, req, body) {
  const json = (req.headers['content-type'] || '').includes('json') || body.toString('utf8', 0, 1) === '{';
  if (json) return mock.tsaHandler(tsa).fn(body);
  let request;
  try {
    request = pkijs.TimeStampReq.fromBER(new Uint8Array(body));
  } catch (e) {
    return { statusCode: 400, response: `not a DER TimeStampReq: ${e.message}` };
  }
  const response = await tsa.timestamp({
    artifactHash: Buffer.from(request.messageImprint.hashedMessage.valueBlock.valueHexView),
    hashAlgorithmOID: request.messageImprint.hashAlgorithm.algorithmId,
    nonce: 0,
    nonceBytes: request.nonce ? Buffer.from(request.nonce.valueBlock.valueHexView) : undefined,
    policyOID: request.reqPolicy || OID_TSA_POLICY,
    certReq: request.certReq || false,
  });
  return { statusCode: 201, response, contentType: 'application/timestamp-reply' };
}

// Whole-second genTime, and the request's nonce carried byte for byte (a JS number cannot hold a
// u64); no nonce in the reply when the request had none.
function patchTsa(tsa) {
  tsa.getCurrentTime = () => {
    const now = new Date();
    now.setMilliseconds(0);
    return now;
  };
  const tstInfo = tsa.tstInfo.bind(tsa);
  tsa.tstInfo = (req) => {
    const info = tstInfo(req);
    if (req.nonceBytes) info.nonce = new asn1js.Integer({ valueHex: req.nonceBytes });
    else if ('nonceBytes' in req) delete info.nonce;
    return info;
  };
}

// GET /oidc/token?...&audience=X with the runner's bearer token, as ACTIONS_ID_TOKEN_REQUEST_URL.
function oidcToken(req, url, requestToken, files, log) {
  const auth = req.headers.authorization || '';
  const audience = url.searchParams.get('audience');
  log.audience = audience;
  log.bearer = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : null;
  log.authorized = log.bearer === requestToken;
  if (!log.authorized) {
    return { statusCode: 401, response: JSON.stringify({ message: 'Bad credentials' }), contentType: 'application/json' };
  }
  const now = Math.floor(Date.now() / 1000);
  const defaults = defaultClaims(audience, now);
  // Without an audience GitHub uses the repository owner's URL.
  if (audience === null) defaults.aud = `https://github.com/${defaults.repository_owner}`;
  const claims = mergeClaims(defaults, readJson(files.claims, {}));
  for (const [key, value] of url.searchParams) {
    if (key !== 'audience' && key !== 'api-version') claims[key] = value;
  }
  log.claims = claims;
  // The token itself too, so a test can grep a signer's output for it.
  log.value = unsignedJwt(claims);
  return { statusCode: 200, response: JSON.stringify({ value: log.value }), contentType: 'application/json' };
}

main().catch((e) => {
  process.stderr.write(`server.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
