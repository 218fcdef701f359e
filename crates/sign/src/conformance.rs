//! The sigstore-conformance client protocol (`sign-bundle`, `verify-bundle`), so the
//! conformance suite (and our own driver over its offline cases) can judge this client:
//!
//! ```text
//! sign conformance sign-bundle [--staging] [--in-toto] --identity-token T --bundle F [--trusted-root F] [--signing-config F] FILE
//! sign conformance verify-bundle [--staging] --bundle F --certificate-identity I --certificate-oidc-issuer O [--trusted-root F] FILE_OR_DIGEST
//! sign conformance verify-bundle [--staging] --bundle F --key KEY.pem [--trusted-root F] FILE_OR_DIGEST
//! ```

use std::path::{Path, PathBuf};

use relkit_core::{Error, Result};
use relkit_sigstore::policy::{IdentityMatch, Policy};
use relkit_sigstore::signer::SigningSession;
use relkit_sigstore::store::bundle_bytes;
use relkit_sigstore::token::IdentityToken;
use relkit_sigstore::trust::{
    Services, instance_signing_config, instance_trusted_root, trusted_root_from_file,
};
use relkit_sigstore::types::Sha256Hash;
use relkit_sigstore::verify::{BundleVerifier, Subject, parse_bundle};

use crate::{http_client, read_text, runtime, sha256_file, write_file};

/// `sign-bundle` arguments.
#[derive(Debug, Clone)]
pub struct SignBundle {
    /// Use the staging instance.
    pub staging: bool,
    /// FILE is an in-toto statement to sign as DSSE.
    pub in_toto: bool,
    /// The OIDC token.
    pub identity_token: String,
    /// Where to write the bundle.
    pub bundle: PathBuf,
    /// A private instance's trusted root (unused for signing; accepted).
    pub trusted_root: Option<PathBuf>,
    /// A private instance's signing config.
    pub signing_config: Option<PathBuf>,
    /// The artifact.
    pub file: PathBuf,
}

/// `verify-bundle` arguments.
#[derive(Debug, Clone)]
pub struct VerifyBundle {
    /// Use the staging instance's root.
    pub staging: bool,
    /// The bundle.
    pub bundle: PathBuf,
    /// Identity and issuer, or a key.
    pub identity: Option<(String, String)>,
    /// A public key PEM.
    pub key: Option<PathBuf>,
    /// A trusted root.
    pub trusted_root: Option<PathBuf>,
    /// A path, or `sha256:<hex>` that is not a path.
    pub artifact: String,
}

/// Runs `sign-bundle`.
pub fn sign_bundle(args: &SignBundle) -> Result<()> {
    runtime()?.block_on(async {
        let http = http_client()?;
        let services = match &args.signing_config {
            Some(path) => Services::from_file(path)?,
            None => Services::from_signing_config(&instance_signing_config(args.staging)?),
        };
        let token = IdentityToken::parse(&args.identity_token, "--identity-token")?;
        let session = SigningSession::keyless(&token, &services, &http).await?;
        let signed = if args.in_toto {
            let statement = std::fs::read(&args.file)
                .map_err(|e| Error::usage(format!("cannot read {} ({e})", args.file.display())))?;
            session.sign_statement(&statement).await?
        } else {
            let digest = sha256_file(&args.file)?;
            let hash = Sha256Hash::new(digest);
            session.sign_digest(hash).await?
        };
        write_file(&args.bundle, &bundle_bytes(&signed.bundle)?)
    })
}

/// Runs `verify-bundle`.
pub fn verify_bundle(args: &VerifyBundle) -> Result<()> {
    let root = match &args.trusted_root {
        Some(path) => trusted_root_from_file(path)?,
        None => instance_trusted_root(args.staging)?,
    };
    let verifier = BundleVerifier::new(&root)?;
    let bundle = parse_bundle(&read_text(&args.bundle, "the bundle")?, &args.bundle.display().to_string())?;
    let policy = match (&args.key, &args.identity) {
        (Some(key), _) => Policy::Key(relkit_sigstore::keys::public_key_from_pem(
            &read_text(key, "the key")?,
            &key.display().to_string(),
        )?),
        (None, Some((identity, issuer))) => {
            Policy::Identity { identity: IdentityMatch::Exact(identity.clone()), issuer: issuer.clone() }
        }
        (None, None) => {
            return Err(Error::usage("give --certificate-identity and --certificate-oidc-issuer, or --key"));
        }
    };
    let path = Path::new(&args.artifact);
    let hash = match args.artifact.strip_prefix("sha256:").filter(|_| !path.exists()) {
        Some(hex) => Sha256Hash::from_hex(hex)
            .map_err(|e| Error::usage(format!("`{}` is not a SHA-256 digest ({e})", args.artifact)))?,
        None => Sha256Hash::new(sha256_file(path)?),
    };
    verifier.verify(Subject::Digest(&hash), &bundle, &policy, true)?;
    Ok(())
}
