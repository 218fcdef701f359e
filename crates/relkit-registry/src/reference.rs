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
        let (registry, repository, tag, digest) = parse_registry_reference(s).map_err(|reason| {
            Error::usage(format!("image reference `{input}` is not valid ({reason}); {KNOWN_FORMS}"))
        })?;
        Ok(Self { location: Location::Registry { registry, repository }, tag, digest })
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

/// `[host[:port]/]path[:tag][@digest]` per the distribution reference grammar, with Docker Hub
/// defaults. Hand-written (no regex): it runs on every command start.
fn parse_registry_reference(
    s: &str,
) -> std::result::Result<(String, String, Option<String>, Option<Digest>), String> {
    let (name_and_tag, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d.parse::<Digest>().map_err(|e| e.message().to_string())?)),
        None => (s, None),
    };
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_and_tag[last_slash..].split_once(':') {
        Some((_, tag)) => {
            if !is_valid_tag(tag) {
                return Err(format!("invalid tag `{tag}`"));
            }
            (&name_and_tag[..name_and_tag.len() - tag.len() - 1], Some(tag.to_string()))
        }
        None => (name_and_tag, None),
    };
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => ("docker.io", name),
    };
    if !is_valid_domain(domain) {
        return Err(format!("invalid registry host `{domain}`"));
    }
    let domain =
        if matches!(domain, "index.docker.io" | "registry-1.docker.io") { "docker.io" } else { domain };
    let repository = if domain == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    };
    if repository.len() > 255 {
        return Err("repository name longer than 255 characters".to_string());
    }
    if let Some(bad) = repository.split('/').find(|c| !is_valid_path_component(c)) {
        return Err(format!(
            "repository path component `{bad}` must be lowercase letters and digits separated by `.`, `_`, `__` or `-`"
        ));
    }
    Ok((domain.to_string(), repository, tag, digest))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// A host name or IPv4 address, or a bracketed IPv6 address, with an optional port.
fn is_valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, after)) if !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') => {
                match after {
                    "" => return true,
                    p => return p.strip_prefix(':').is_some_and(is_port),
                }
            }
            _ => return false,
        }
    } else {
        match domain.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        }
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    host.split('.').all(label_ok) && port.is_none_or(is_port)
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
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
            ("index.docker.io/acme/app:1", "docker.io", "acme/app", Some("1"), false),
            ("registry-1.docker.io/alpine", "docker.io", "library/alpine", None, false),
            ("acme/app", "docker.io", "acme/app", None, false),
            ("[::1]:5000/a__b/c-d.e:x", "[::1]:5000", "a__b/c-d.e", Some("x"), false),
            ("reg.lan/team/sub/app", "reg.lan", "team/sub/app", None, false),
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
            "ghcr.io/o/app-",
            "ghcr.io/o//app",
            "ghcr.io:port/o/app",
            "ghcr.io/o/a...b",
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
