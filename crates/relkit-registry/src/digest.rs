//! Content digests (`sha256:<64 hex>`), the only algorithm registries agree on.

use std::fmt;
use std::str::FromStr;

use relkit_core::{Error, Result};
use sha2::{Digest as _, Sha256};

/// A validated `sha256:<64 lowercase hex>` content digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut hasher = DigestHasher::default();
        hasher.update(bytes);
        hasher.finish()
    }

    /// The hex part after `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The full `sha256:<hex>` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The OCI 1.1 referrers fallback tag for this digest: `sha256-<hex>`.
    pub fn fallback_tag(&self) -> String {
        format!("sha256-{}", self.hex())
    }

    /// A cosign legacy attachment tag: `sha256-<hex>.<suffix>` (`sig`, `att`, `sbom`).
    pub fn cosign_tag(&self, suffix: &str) -> String {
        format!("sha256-{}.{suffix}", self.hex())
    }
}

/// Computes a digest over content that arrives in pieces (streamed blobs).
#[derive(Default)]
pub struct DigestHasher(Sha256);

impl DigestHasher {
    /// Adds the next piece.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything added.
    pub fn finish(self) -> Digest {
        let hash = self.0.finalize();
        let mut hex = String::with_capacity(64);
        for byte in hash.iter() {
            hex.push_str(&format!("{byte:02x}"));
        }
        Digest(format!("sha256:{hex}"))
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let hex = s.strip_prefix("sha256:").ok_or_else(|| {
            Error::usage(format!("digest `{s}` is not a sha256 digest; expected `sha256:` and 64 hex digits"))
        })?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(Error::usage(format!(
                "digest `{s}` is malformed; expected `sha256:` and 64 lowercase hex digits"
            )));
        }
        Ok(Self(s.to_string()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|e: Error| serde::de::Error::custom(e.message().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input_is_the_well_known_value() {
        assert_eq!(
            Digest::of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hashing_in_pieces_equals_hashing_at_once() {
        let mut hasher = DigestHasher::default();
        for piece in [&b"hello "[..], b"", b"world"] {
            hasher.update(piece);
        }
        assert_eq!(hasher.finish(), Digest::of(b"hello world"));
    }

    #[test]
    fn tags_derived_from_a_digest() {
        let d = Digest::of(b"x");
        assert_eq!(d.fallback_tag(), format!("sha256-{}", d.hex()));
        assert_eq!(d.cosign_tag("sig"), format!("sha256-{}.sig", d.hex()));
    }

    #[test]
    fn malformed_digests_are_refused() {
        for bad in ["sha256:abc", "sha512:00", "e3b0", &format!("sha256:{}", "G".repeat(64))] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }
}
