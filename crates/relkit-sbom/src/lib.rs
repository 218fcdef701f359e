//! relkit-sbom: SPDX 2.3 SBOMs.
//!
//! - [`model`]: the serde structs of what we emit.
//! - [`validate`]: the validator for SPDX 2.2/2.3 JSON from any tool (opaque bytes + digest).
//! - [`catalog`]: lockfile and OS package catalogers.
//! - [`build`]: catalogs → one deterministic document.
//! - [`generate`]: a directory → a document, with the stale-lock check.
//! - [`image`]: an image's layers → one document per platform (+ the index document).
//! - [`attach`]: size policy, referrer artifacts, and the attestation input for the signer.
//! - [`verify`]: the attached SBOMs of an image checked.

pub mod attach;
pub mod build;
pub mod catalog;
pub mod commands;
pub mod generate;
pub mod image;
pub mod license;
pub mod model;
pub mod purl;
pub mod validate;
pub mod verify;
