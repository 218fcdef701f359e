//! Image references: `registry/repo:tag`, `…@sha256:…`, `docker://…`, and `oci:DIR[:tag]` for an
//! OCI image layout on disk. Docker Hub defaults apply (`alpine` is `docker.io/library/alpine`).

use std::fmt;
use std::path::PathBuf;

use relkit_core::{Error, Result};

use crate::digest::Digest;

/// Where the repository lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// A repository on a registry reached over HTTP(S).
    Registry {
        /// Host (and port) as written, e.g. `ghcr.io`, `127.0.0.1:5000`, `docker.io`.
        registry: String,
        /// Repository path, e.g. `library/alpine`.
        repository: String,
    },
    /// An OCI image layout directory.
    Layout {
        /// The layout directory (holds `oci-layout`, `index.json`, `blobs/`).
        dir: PathBuf,
    },
}

/// A parsed image reference: a location plus an optional tag and an optional digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The repository.
    pub location: Location,
    /// The tag, if one was written (registry references default to `latest` only through
    /// [`ImageRef::tag_or_latest`]).
    pub tag: Option<String>,
    /// The digest, if one was written.
    pub digest: Option<Digest>,
}

/// The transports we understand, for the error message on anything else.
const KNOWN_FORMS: &str =
    "use `registry/repo[:tag][@sha256:…]`, `docker://registry/repo:tag` or `oci:DIR[:tag]`";

impl ImageRef {
    /// Parses a reference. Unknown forms (other transports, URLs, malformed names) are a usage
    /// error naming the reference and the accepted forms.
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.trim();
        if s.is_empty() {
            return Err(Error::usage(format!("empty image reference; {KNOWN_FORMS}")));
        }
        if let Some(rest) = s.strip_prefix("oci:") {
            return parse_layout(input, rest);
        }
        let s = s.strip_prefix("docker://").unwrap_or(s);
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(Error::usage(format!(
                "image reference `{input}` uses unknown scheme `{scheme}://`; {KNOWN_FORMS}"
            )));
        }
        if let Some((transport, _)) = s.split_once(':')
            && !transport.contains(['.', '/'])
            && matches!(
                transport,
                "docker-archive" | "oci-archive" | "containers-storage" | "docker-daemon" | "dir" | "sif"
            )
        {
            return Err(Error::usage(format!(
                "image reference `{input}` uses transport `{transport}:` which is not supported; {KNOWN_FORMS}"
            )));
        }
        let parsed: oci_client::Reference = s.parse().map_err(|e| {
            Error::usage(format!("image reference `{input}` is not valid ({e}); {KNOWN_FORMS}"))
        })?;
        let digest = parsed
            .digest()
            .map(str::parse::<Digest>)
            .transpose()
            .map_err(|e| e.context(format!("image reference `{input}`")))?;
        let name_part = s.split('@').next().unwrap_or(s);
        let explicit_tag = name_part.rsplit('/').next().is_some_and(|last| last.contains(':'));
        Ok(Self {
            location: Location::Registry {
                registry: parsed.registry().to_string(),
                repository: parsed.repository().to_string(),
            },
            tag: if explicit_tag { parsed.tag().map(str::to_string) } else { None },
            digest,
        })
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Self {
        Self { location: self.location.clone(), tag: Some(tag.to_string()), digest: None }
    }

    /// The same repository pinned to a digest (no tag).
    pub fn with_digest(&self, digest: &Digest) -> Self {
        Self { location: self.location.clone(), tag: None, digest: Some(digest.clone()) }
    }

    /// The tag, or `latest` when none was written.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// What to ask the registry for: the digest if present, else the tag (default `latest`).
    pub fn manifest_reference(&self) -> String {
        match &self.digest {
            Some(d) => d.to_string(),
            None => self.tag_or_latest().to_string(),
        }
    }

    /// The repository path (`""` for an OCI layout, which holds one repository).
    pub fn repository(&self) -> &str {
        match &self.location {
            Location::Registry { repository, .. } => repository,
            Location::Layout { .. } => "",
        }
    }

    /// A name for the registry in messages: the host, or `oci:DIR`.
    pub fn registry_name(&self) -> String {
        match &self.location {
            Location::Registry { registry, .. } => registry.clone(),
            Location::Layout { dir } => format!("oci:{}", dir.display()),
        }
    }

    /// True when both references point into the same registry (or the same layout directory).
    pub fn same_registry(&self, other: &ImageRef) -> bool {
        match (&self.location, &other.location) {
            (Location::Registry { registry: a, .. }, Location::Registry { registry: b, .. }) => a == b,
            (Location::Layout { dir: a }, Location::Layout { dir: b }) => a == b,
            _ => false,
        }
    }

    /// True when both references point into the same repository.
    pub fn same_repository(&self, other: &ImageRef) -> bool {
        self.location == other.location
    }

    /// The repository without tag or digest, for messages.
    pub fn repository_name(&self) -> String {
        match &self.location {
            Location::Registry { registry, repository } => format!("{registry}/{repository}"),
            Location::Layout { dir } => format!("oci:{}", dir.display()),
        }
    }
}

fn parse_layout(input: &str, rest: &str) -> Result<ImageRef> {
    let (path_and_tag, digest) = match rest.split_once('@') {
        Some((p, d)) => {
            (p, Some(d.parse::<Digest>().map_err(|e| e.context(format!("image reference `{input}`")))?))
        }
        None => (rest, None),
    };
    let (dir, tag) = match path_and_tag.rsplit_once(':') {
        Some((dir, tag)) if !dir.is_empty() && is_valid_tag(tag) => (dir, Some(tag.to_string())),
        Some((_, tag)) if !tag.is_empty() && !tag.contains('/') => {
            return Err(Error::usage(format!(
                "image reference `{input}` has an invalid tag `{tag}`; tags are 1-128 of [A-Za-z0-9_.-], not starting with `.` or `-`"
            )));
        }
        _ => (path_and_tag, None),
    };
    if dir.is_empty() {
        return Err(Error::usage(format!(
            "image reference `{input}` names no directory; write `oci:DIR[:tag]`"
        )));
    }
    Ok(ImageRef { location: Location::Layout { dir: PathBuf::from(dir) }, tag, digest })
}

/// The OCI distribution tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Registry { registry, repository } => write!(f, "{registry}/{repository}")?,
            Location::Layout { dir } => write!(f, "oci:{}", dir.display())?,
        }
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn registry(r: &ImageRef) -> (&str, &str) {
        match &r.location {
            Location::Registry { registry, repository } => (registry, repository),
            Location::Layout { .. } => panic!("expected a registry reference"),
        }
    }

    #[test]
    fn registry_references() {
        let hex = "a".repeat(64);
        let cases: &[(&str, &str, &str, Option<&str>, bool)] = &[
            ("alpine", "docker.io", "library/alpine", None, false),
            ("alpine:3.20", "docker.io", "library/alpine", Some("3.20"), false),
            ("docker://ghcr.io/o/app:v1", "ghcr.io", "o/app", Some("v1"), false),
            ("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", None, false),
            ("localhost:5000/a:t", "localhost:5000", "a", Some("t"), false),
            (&format!("ghcr.io/o/app@sha256:{hex}"), "ghcr.io", "o/app", None, true),
            (&format!("ghcr.io/o/app:v1@sha256:{hex}"), "ghcr.io", "o/app", Some("v1"), true),
        ];
        for (input, reg, repo, tag, has_digest) in cases {
            let r = ImageRef::parse(input).unwrap();
            assert_eq!(registry(&r), (*reg, *repo), "{input}");
            assert_eq!(r.tag.as_deref(), *tag, "{input}");
            assert_eq!(r.digest.is_some(), *has_digest, "{input}");
        }
    }

    #[test]
    fn layout_references() {
        let r = ImageRef::parse("oci:/tmp/lay:v1.2.3").unwrap();
        assert_eq!(r.location, Location::Layout { dir: "/tmp/lay".into() });
        assert_eq!(r.tag.as_deref(), Some("v1.2.3"));
        let r = ImageRef::parse("oci:./out").unwrap();
        assert_eq!(r.location, Location::Layout { dir: "./out".into() });
        assert_eq!(r.tag, None);
        let d = Digest::of(b"x");
        let r = ImageRef::parse(&format!("oci:out@{d}")).unwrap();
        assert_eq!(r.digest, Some(d));
    }

    #[test]
    fn unknown_forms_are_usage_errors_naming_the_input() {
        for bad in [
            "",
            "https://ghcr.io/o/app",
            "docker-archive:/tmp/x.tar",
            "containers-storage:app",
            "Upper/Case",
            "app@sha256:abc",
            "oci:",
            "oci::tag",
            "repo:bad tag",
        ] {
            let e = ImageRef::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.message().contains(bad.trim()) || bad.is_empty(), "{bad}: {e}");
        }
    }

    #[test]
    fn display_round_trips() {
        for input in ["ghcr.io/o/app:v1", "127.0.0.1:5000/a/b:x", "oci:/tmp/l:t"] {
            assert_eq!(ImageRef::parse(input).unwrap().to_string(), input);
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,80}") {
            let _ = ImageRef::parse(&s);
        }

        #[test]
        fn valid_tags_round_trip(tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}") {
            let r = ImageRef::parse(&format!("ghcr.io/o/app:{tag}")).unwrap();
            prop_assert_eq!(r.tag.as_deref(), Some(tag.as_str()));
        }
    }
}
