//! Which Sigstore instance a run trusts and signs with: the public-good instance by default (its
//! trusted root through TUF, the embedded copy when TUF cannot be reached), or a private instance
//! from `--trusted-root` and `--signing-config` files.

use std::path::Path;

use relkit_core::{Error, Result};
use sigstore_rekor::RekorApiVersion;
use sigstore_trust_root::{SigningConfig, SigstoreInstance, TrustedRoot};

/// The services a signing run talks to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services {
    /// Fulcio base URL (keyless only).
    pub fulcio: Option<String>,
    /// Rekor base URL and API version (v1 preferred when the config lists both).
    pub rekor: Option<(String, RekorApiVersion)>,
    /// The TSA's full timestamp URL, when the config lists one.
    pub tsa: Option<String>,
}

impl Services {
    /// The services a signing config lists and that are valid now. Rekor v1 is chosen when
    /// listed: DSSE entries on v1 are what every verifier in use reads.
    pub fn from_signing_config(config: &SigningConfig) -> Self {
        let rekor = config
            .rekor_url(Some(1))
            .map(|e| (e.url.clone(), RekorApiVersion::V1))
            .or_else(|| config.rekor_url(Some(2)).map(|e| (e.url.clone(), RekorApiVersion::V2)));
        Self {
            fulcio: config.fulcio_url().map(|e| e.url.clone()),
            rekor,
            tsa: config.tsa_url().map(|e| e.url.clone()),
        }
    }
}

impl Services {
    /// The services a signing config file lists.
    pub fn from_file(path: &Path) -> Result<Self> {
        let config = SigningConfig::from_file(path).map_err(|e| {
            Error::usage(format!(
                "cannot read the signing config {} ({e}); give a signing_config.json (v0.2)",
                path.display()
            ))
        })?;
        Ok(Self::from_signing_config(&config))
    }
}

fn instance(staging: bool) -> SigstoreInstance {
    if staging { SigstoreInstance::Staging } else { SigstoreInstance::PublicGood }
}

/// The embedded trusted root of the public-good (or staging) instance.
pub fn instance_trusted_root(staging: bool) -> Result<TrustedRoot> {
    instance(staging)
        .embedded_trusted_root()
        .map_err(|e| Error::failed(format!("the embedded trusted root does not parse ({e})")))
}

/// The embedded signing config of the public-good (or staging) instance.
pub fn instance_signing_config(staging: bool) -> Result<SigningConfig> {
    instance(staging)
        .embedded_signing_config()
        .map_err(|e| Error::failed(format!("the embedded signing config does not parse ({e})")))?
        .ok_or_else(|| Error::failed("this release carries no signing config for that instance"))
}

/// A trusted root and the services to sign with.
#[derive(Debug)]
pub struct Trust {
    /// Verification material: CAs, logs, CT logs, TSAs.
    pub trusted_root: TrustedRoot,
    /// Where signatures go.
    pub services: Services,
    /// Says where the trust came from, for the report.
    pub source: String,
}

/// Loads the trust a run needs. With `trusted_root` and `signing_config` files, exactly those;
/// otherwise the public-good instance (TUF, or the embedded snapshot with a warning on stderr
/// when TUF is unreachable). `offline` runs (key signatures kept out of the log) never touch the
/// network: the embedded root, and services only from an explicit signing config.
pub async fn load(
    trusted_root: Option<&Path>,
    signing_config: Option<&Path>,
    offline: bool,
) -> Result<Trust> {
    let (root, root_source) = match trusted_root {
        None if offline => {
            (instance_trusted_root(false)?, "the public-good Sigstore instance (embedded root)".to_string())
        }
        Some(path) => (
            TrustedRoot::from_file(path).map_err(|e| {
                Error::usage(format!(
                    "cannot read the trusted root {} ({e}); give a trusted_root.json",
                    path.display()
                ))
            })?,
            path.display().to_string(),
        ),
        None => match TrustedRoot::production().await {
            Ok(root) => (root, "the public-good Sigstore instance (TUF)".to_string()),
            Err(e) => {
                eprintln!(
                    "sign: warning: cannot refresh the public-good trusted root through TUF ({e}); using the copy built into this release"
                );
                (
                    instance_trusted_root(false)?,
                    "the public-good Sigstore instance (embedded root)".to_string(),
                )
            }
        },
    };
    let services = match signing_config {
        Some(path) => Services::from_file(path)?,
        None if trusted_root.is_some() || offline => Services::default(),
        None => Services::from_signing_config(&instance_signing_config(false)?),
    };
    Ok(Trust { trusted_root: root, services, source: root_source })
}

/// Reads a trusted root file.
pub fn trusted_root_from_file(path: &Path) -> Result<TrustedRoot> {
    TrustedRoot::from_file(path)
        .map_err(|e| Error::usage(format!("cannot read the trusted root {} ({e})", path.display())))
}
