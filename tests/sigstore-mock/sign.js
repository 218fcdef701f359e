#!/usr/bin/env node
// Signs a file with sigstore-js (@sigstore/sign) against the private instance of server.js: a
// second, independent signer for testing the harness and the judges, not relkit's own signer.
//
//   node sign.js --url BASE [--tsa] [--in-toto] [--key PRIVATE.pem [--no-tlog]] --bundle OUT FILE
//
// Keyless by default: the identity token comes from the GitHub Actions OIDC endpoint (ACTIONS_ID_TOKEN_REQUEST_URL
// and ACTIONS_ID_TOKEN_REQUEST_TOKEN, audience "sigstore") or SIGSTORE_ID_TOKEN, exactly as
// sigstore-js finds it on a runner. --in-toto signs FILE (an in-toto statement) as a DSSE
// envelope logged as a Rekor v1 dsse entry; otherwise FILE gets a message signature logged as
// hashedrekord. --tsa adds an RFC 3161 timestamp. --key signs with that PEM private key instead
// (a key-based bundle with a public key hint); --no-tlog then leaves Rekor out.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const { bundleToJSON } = require('@sigstore/bundle');
const sign = require('@sigstore/sign');

function parseArgs(argv) {
  const opts = { tsa: false, inToto: false, tlog: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--url') opts.url = argv[++i];
    else if (arg === '--bundle') opts.bundle = argv[++i];
    else if (arg === '--tsa') opts.tsa = true;
    else if (arg === '--in-toto') opts.inToto = true;
    else if (arg === '--key') opts.key = argv[++i];
    else if (arg === '--no-tlog') opts.tlog = false;
    else if (!arg.startsWith('--') && opts.file === undefined) opts.file = arg;
    else usage(`unexpected argument ${arg}`);
  }
  if (!opts.url || !opts.bundle || !opts.file) usage('--url, --bundle and FILE are required');
  if (!opts.tlog && !opts.key) usage('--no-tlog needs --key');
  return opts;
}

function usage(problem) {
  process.stderr.write(`sign.js: ${problem}\nusage: node sign.js --url BASE [--tsa] [--in-toto] [--key PRIVATE.pem [--no-tlog]] --bundle OUT FILE\n`);
  process.exit(2);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const signer = opts.key ? keySigner(opts.key) : new sign.FulcioSigner({
    fulcioBaseURL: opts.url,
    identityProvider: new sign.CIContextProvider('sigstore'),
  });
  const witnesses = opts.tlog ? [new sign.RekorWitness({ rekorBaseURL: opts.url, entryType: 'dsse' })] : [];
  if (opts.tsa) witnesses.push(new sign.TSAWitness({ tsaBaseURL: opts.url }));
  const data = fs.readFileSync(opts.file);
  const bundle = opts.inToto
    ? await new sign.DSSEBundleBuilder({ signer, witnesses }).create({ data, type: 'application/vnd.in-toto+json' })
    : await new sign.MessageSignatureBundleBuilder({ signer, witnesses }).create({ data });
  fs.writeFileSync(opts.bundle, JSON.stringify(bundleToJSON(bundle)));
}

// A managed key: ECDSA (or whatever the PEM holds) over SHA-256, no certificate.
function keySigner(file) {
  const privateKey = crypto.createPrivateKey(fs.readFileSync(file));
  const publicKey = crypto.createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();
  return {
    sign: async (data) => ({
      signature: crypto.sign('sha256', data, privateKey),
      key: { $case: 'publicKey', publicKey, hint: '' },
    }),
  };
}

main().catch((e) => {
  process.stderr.write(`sign.js: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
