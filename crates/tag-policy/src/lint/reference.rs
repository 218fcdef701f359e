//! Container image references as written in Dockerfiles, workflows and compose files:
//! `[registry[:port]/]path[:tag][@digest]`.

/// An image reference split into its parts, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry and repository path, as written (`debian`, `ghcr.io/org/app`).
    pub name: String,
    /// The tag, if one is written.
    pub tag: Option<String>,
    /// The digest (`algorithm:hex`), if one is written.
    pub digest: Option<String>,
}

/// How far an image reference pins its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pinning {
    /// Carries a well-formed `sha256:` digest.
    Digest,
    /// Has a tag (written or the implicit `latest`) and no digest.
    Tag,
    /// Carries a digest that is not a well-formed `sha256:<64 hex>` digest.
    BadDigest(String),
}

impl ImageRef {
    /// Splits `text` into name, tag and digest. Fails on text that is no image reference
    /// (empty, whitespace, empty name or tag).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty image reference".into());
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("image reference {text:?} contains whitespace"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.to_string())),
            None => (text, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(rest[last_slash + i + 1..].to_string())),
            None => (rest, None),
        };
        if name.is_empty() || name.starts_with('/') || name.ends_with('/') || name.contains("//") {
            return Err(format!("image reference {text:?} has no valid repository name"));
        }
        if tag.as_deref() == Some("") {
            return Err(format!("image reference {text:?} has an empty tag"));
        }
        Ok(Self { name: name.to_string(), tag, digest })
    }

    /// How far this reference pins its content.
    pub fn pinning(&self) -> Pinning {
        match &self.digest {
            None => Pinning::Tag,
            Some(d) if is_sha256_digest(d) => Pinning::Digest,
            Some(d) => Pinning::BadDigest(d.clone()),
        }
    }

    /// The repository name with Docker Hub's implicit parts spelled out
    /// (`debian` → `docker.io/library/debian`).
    pub fn normalized_name(&self) -> String {
        let (first, rest) = match self.name.split_once('/') {
            Some((first, rest)) => (first, Some(rest)),
            None => (self.name.as_str(), None),
        };
        let is_registry = first.contains(['.', ':']) || first == "localhost";
        match rest {
            Some(_) if is_registry => self.name.clone(),
            Some(_) => format!("docker.io/{}", self.name),
            None => format!("docker.io/library/{}", self.name),
        }
    }
}

/// True for `sha256:` followed by exactly 64 lowercase hex digits.
pub fn is_sha256_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// True for a full 40-hex git commit SHA.
pub fn is_commit_sha(git_ref: &str) -> bool {
    git_ref.len() == 40 && git_ref.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_split_into_parts() {
        let cases: &[(&str, &str, Option<&str>, bool)] = &[
            ("debian", "debian", None, false),
            ("debian:12", "debian", Some("12"), false),
            ("127.0.0.1:5000/app", "127.0.0.1:5000/app", None, false),
            ("127.0.0.1:5000/app:v1", "127.0.0.1:5000/app", Some("v1"), false),
            ("ghcr.io/org/app:1.2@sha256:x", "ghcr.io/org/app", Some("1.2"), true),
            ("node@sha256:x", "node", None, true),
        ];
        for (text, name, tag, has_digest) in cases {
            let r = ImageRef::parse(text).unwrap();
            assert_eq!(r.name, *name, "{text}");
            assert_eq!(r.tag.as_deref(), *tag, "{text}");
            assert_eq!(r.digest.is_some(), *has_digest, "{text}");
        }
    }

    #[test]
    fn malformed_references_are_rejected() {
        for text in ["", "a b", ":tag", "/app", "app/", "a//b", "app:", "@sha256:x"] {
            assert!(ImageRef::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn pinning_needs_a_full_sha256_digest() {
        let pinned = ImageRef::parse(&format!("debian:12@{D}")).unwrap();
        assert_eq!(pinned.pinning(), Pinning::Digest);
        assert_eq!(ImageRef::parse("debian:12").unwrap().pinning(), Pinning::Tag);
        let short = ImageRef::parse("debian@sha256:abc").unwrap();
        assert_eq!(short.pinning(), Pinning::BadDigest("sha256:abc".into()));
        let upper = ImageRef::parse(&format!("debian@{}", D.to_uppercase().replace("SHA", "sha"))).unwrap();
        assert!(matches!(upper.pinning(), Pinning::BadDigest(_)));
    }

    #[test]
    fn docker_hub_names_are_normalized() {
        let cases = [
            ("debian", "docker.io/library/debian"),
            ("bitnami/redis", "docker.io/bitnami/redis"),
            ("ghcr.io/org/app", "ghcr.io/org/app"),
            ("localhost/app", "localhost/app"),
            ("127.0.0.1:5000/app", "127.0.0.1:5000/app"),
        ];
        for (name, want) in cases {
            assert_eq!(ImageRef::parse(name).unwrap().normalized_name(), want);
        }
    }

    #[test]
    fn commit_shas_are_40_hex() {
        assert!(is_commit_sha("8e5e7e5ab8b370d6c329ec480221332ada57f0ab"));
        assert!(!is_commit_sha("8e5e7e5"));
        assert!(!is_commit_sha("v4"));
        assert!(!is_commit_sha("8e5e7e5ab8b370d6c329ec480221332ada57f0ag"));
    }
}
