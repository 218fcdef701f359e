#!/usr/bin/env node
// The sigstore-js judge: verifies a Sigstore bundle with @sigstore/verify against a trusted root.
//
//   node verify.js --trusted-root F --bundle B (--identity SAN --issuer URL | --key PEM [--no-tlog])
//                  FILE_OR_DIGEST
//
// --no-tlog (with --key) accepts a bundle without a transparency log entry or timestamp, as a
// key-based signature made with the log upload turned off.
// FILE_OR_DIGEST is the artifact, or `sha256:<hex>` when it is not a file (DSSE bundles only:
// @sigstore/verify checks a message signature over the artifact bytes). For DSSE the artifact's
// digest must be a subject of the in-toto statement (checked here: @sigstore/verify does not).
// The identity is matched exactly (the library treats it as an unanchored regular expression, so
// it is escaped and anchored here). Exit 0 and one JSON line on success (identity, issuer and the
// leaf's Fulcio extensions by name, e.g. buildSignerURI, buildConfigURI); exit 1 and the failed
// check on stderr otherwise; exit 2 on bad arguments.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { ASN1Obj } = require('@sigstore/core');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${arg} needs a value`));
    if (arg === '--trusted-root') opts.trustedRoot = value();
    else if (arg === '--bundle') opts.bundle = value();
    else if (arg === '--identity') opts.identity = value();
    else if (arg === '--issuer') opts.issuer = value();
    else if (arg === '--key') opts.key = value();
    else if (arg === '--no-tlog') opts.noTlog = true;
    else if (!arg.startsWith('--') && opts.input === undefined) opts.input = arg;
    else usage(`unexpected argument ${arg}`);
  }
  const keyless = opts.identity !== undefined && opts.issuer !== undefined;
  if (!opts.trustedRoot || !opts.bundle || opts.input === undefined || keyless === (opts.key !== undefined)) {
    usage('--trusted-root, --bundle, FILE_OR_DIGEST and either --identity with --issuer or --key are required');
  }
  if (opts.noTlog && !opts.key) usage('--no-tlog needs --key');
  return opts;
}

function usage(problem) {
  process.stderr.write(`verify.js: ${problem}\nusage: node verify.js --trusted-root F --bundle B (--identity SAN --issuer URL | --key PEM [--no-tlog]) FILE_OR_DIGEST\n`);
  process.exit(2);
}

// Fulcio's certificate extensions 1.3.6.1.4.1.57264.1.N (DER UTF8String values), by the names
// sigstore's clients use for them.
const FULCIO_EXTENSIONS = {
  8: 'issuer', 9: 'buildSignerURI', 10: 'buildSignerDigest', 11: 'runnerEnvironment',
  12: 'sourceRepositoryURI', 13: 'sourceRepositoryDigest', 14: 'sourceRepositoryRef',
  15: 'sourceRepositoryIdentifier', 16: 'sourceRepositoryOwnerURI', 17: 'sourceRepositoryOwnerIdentifier',
  18: 'buildConfigURI', 19: 'buildConfigDigest', 20: 'buildTrigger', 21: 'runInvocationURI',
  22: 'sourceRepositoryVisibilityAtSigning', 23: 'deploymentEnvironment',
};

function fulcioExtensions(certificate) {
  const found = {};
  for (const [n, name] of Object.entries(FULCIO_EXTENSIONS)) {
    const ext = certificate.extension(`1.3.6.1.4.1.57264.1.${n}`);
    if (ext) found[name] = ASN1Obj.parseBuffer(ext.value).value.toString('utf8');
  }
  return found;
}

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(opts.bundle, 'utf8')));
  const isDigest = /^sha256:[0-9a-f]{64}$/.test(opts.input) && !fs.existsSync(opts.input);
  const artifact = isDigest ? undefined : fs.readFileSync(opts.input);
  const digest = isDigest ? opts.input.slice('sha256:'.length) : crypto.createHash('sha256').update(artifact).digest('hex');

  if (bundle.content.$case === 'dsseEnvelope') {
    const statement = JSON.parse(Buffer.from(bundle.content.dsseEnvelope.payload).toString('utf8'));
    const subjects = (statement.subject || []).map((s) => (s.digest || {}).sha256);
    if (!subjects.includes(digest)) fail(`artifact digest sha256:${digest} is not a subject of the statement`);
  } else if (isDigest) {
    fail('a digest instead of the artifact needs a DSSE bundle (a message signature is checked over the artifact bytes)');
  } else if (Buffer.from(bundle.content.messageSignature.messageDigest.digest).toString('hex') !== digest) {
    fail(`message digest in the bundle does not match the artifact sha256:${digest}`);
  }

  const root = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(opts.trustedRoot, 'utf8')));
  const keys = opts.key
    ? () => ({ publicKey: crypto.createPublicKey(fs.readFileSync(opts.key)), validFor: () => true })
    : undefined;
  const thresholds = opts.noTlog ? { tlogThreshold: 0, timestampThreshold: 0 } : {};
  const verifier = new Verifier(toTrustMaterial(root, keys), thresholds);
  const policy = opts.key ? undefined : {
    subjectAlternativeName: `^${escapeRegExp(opts.identity)}$`,
    extensions: { issuer: opts.issuer },
  };
  const entity = toSignedEntity(bundle, artifact);
  const signer = verifier.verify(entity, policy);
  const identity = signer.identity || {};
  const certificate = entity.key.$case === 'certificate' ? fulcioExtensions(entity.key.certificate) : undefined;
  process.stdout.write(`${JSON.stringify({
    verified: true,
    identity: identity.subjectAlternativeName,
    issuer: (identity.extensions || {}).issuer,
    certificate,
  })}\n`);
}

function fail(message) {
  process.stderr.write(`verify.js: verification failed: ${message}\n`);
  process.exit(1);
}

try {
  main();
} catch (e) {
  fail(`${e && e.code ? `${e.code}: ` : ''}${e && e.message ? e.message : e}`);
}
