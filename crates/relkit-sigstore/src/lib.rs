//! relkit-sigstore: the Sigstore edge of relkit.
//!
//! - [`token`]: the OIDC identity token (Actions endpoint, `SIGSTORE_ID_TOKEN`, a flag).
//! - [`trust`]: the trusted root and the services to sign with (public-good or private).
//! - [`keys`]: cosign key files (encrypted and PKCS#8) and key generation.
//! - [`signer`]: one key per run (Fulcio certificate or the user's key), message and DSSE
//!   signatures logged in Rekor, v0.3 bundles.
//! - [`cosign`]: cosign's registry formats as pure functions.
//! - [`policy`]: who must have signed (anchored identities, GitHub presets, keys).
//! - [`verify`]: bundle verification (sigstore-verify) under a policy; legacy layers as bundles.
//! - [`image`]: signing, attesting and verifying images by digest (indexes with their platforms).
//! - [`store`]: reading and writing signatures and attestations in a registry or OCI layout.
//! - [`setup`]: the signer of a run (key or keyless) with its trust, verifier and policy.
//! - [`provenance`]: the SLSA v1 provenance predicate GitHub's attestations use.

pub mod cosign;
pub mod image;
pub mod keys;
pub mod policy;
pub mod provenance;
pub mod setup;
pub mod signer;
pub mod store;
pub mod token;
pub mod trust;
pub mod verify;

/// sigstore-rust's data types (bundles, digests), for callers that handle them directly.
pub use sigstore_types as types;
