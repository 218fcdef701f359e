//! relkit-registry: OCI registries and image layouts behind one [`Registry`] trait, and the
//! operations tag-policy builds on: copy an image by digest, apply tags safely, promote with
//! everything that refers to the image, and prune with a reachability walk.
//!
//! - [`reference`]: `registry/repo:tag`, `@sha256:…`, `oci:DIR[:tag]`.
//! - [`registry`]: the trait, [`HttpRegistry`] and [`LayoutRegistry`].
//! - [`auth`]: docker config, credential helpers, `GITHUB_TOKEN`.
//! - [`image`]: a minimal deterministic image written into a layout (offline dry runs).
//! - [`ops`]: copy, tags, referrers, promote, prune.

pub mod auth;
pub mod digest;
mod github_packages;
pub mod http;
pub mod image;
pub mod layout;
pub mod manifest;
pub mod ops;
pub mod reference;
pub mod registry;
mod retry;
mod tls;
mod tokens;

pub use digest::Digest;
pub use http::{HttpOptions, HttpRegistry, RetryPolicy};
pub use layout::LayoutRegistry;
pub use manifest::{Descriptor, RawManifest};
pub use reference::{ImageRef, Location};
pub use registry::{AnyRegistry, BlobStream, Fetched, PutOutcome, Registry};
