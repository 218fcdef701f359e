//! Package URLs for every ecosystem we catalogue, through the `packageurl` crate (which applies
//! the spec's per-type name rules and percent-encoding).

use packageurl::PackageUrl;

/// `pkg:cargo/NAME@VERSION`.
pub fn cargo(name: &str, version: &str) -> Option<String> {
    build("cargo", None, name, Some(version), &[])
}

/// `pkg:npm/NAME@VERSION`, with a scope as the namespace: `pkg:npm/%40scope/name@1.0.0`.
pub fn npm(name: &str, version: Option<&str>) -> Option<String> {
    match name.strip_prefix('@').and_then(|n| n.split_once('/')) {
        Some((scope, bare)) => build("npm", Some(&format!("@{scope}")), bare, version, &[]),
        None => build("npm", None, name, version, &[]),
    }
}

/// `pkg:golang/NAMESPACE/NAME@VERSION` from a module path.
pub fn golang(module: &str, version: Option<&str>) -> Option<String> {
    match module.rsplit_once('/') {
        Some((namespace, name)) => build("golang", Some(namespace), name, version, &[]),
        None => build("golang", None, module, version, &[]),
    }
}

/// `pkg:pypi/NAME@VERSION` (the name normalised by the purl rules).
pub fn pypi(name: &str, version: Option<&str>) -> Option<String> {
    build("pypi", None, &normalise_python_name(name), version, &[])
}

/// `pkg:deb/VENDOR/NAME@VERSION?arch=ARCH&distro=DISTRO`.
pub fn deb(
    vendor: &str,
    name: &str,
    version: &str,
    arch: Option<&str>,
    distro: Option<&str>,
) -> Option<String> {
    distro_package("deb", vendor, name, version, arch, distro)
}

/// `pkg:apk/VENDOR/NAME@VERSION?arch=ARCH&distro=DISTRO`.
pub fn apk(
    vendor: &str,
    name: &str,
    version: &str,
    arch: Option<&str>,
    distro: Option<&str>,
) -> Option<String> {
    distro_package("apk", vendor, name, version, arch, distro)
}

/// A distribution package purl of `kind` with its `arch` and `distro` qualifiers.
fn distro_package(
    kind: &str,
    vendor: &str,
    name: &str,
    version: &str,
    arch: Option<&str>,
    distro: Option<&str>,
) -> Option<String> {
    let mut qualifiers = Vec::new();
    qualifiers.extend(arch.map(|a| ("arch", a)));
    qualifiers.extend(distro.map(|d| ("distro", d)));
    build(kind, Some(vendor), name, Some(version), &qualifiers)
}

/// `pkg:oci/NAME@sha256:…?arch=…&repository_url=…`: an image by digest.
pub fn oci(repository_url: Option<&str>, name: &str, digest: &str, arch: Option<&str>) -> Option<String> {
    let mut qualifiers = Vec::new();
    qualifiers.extend(arch.map(|a| ("arch", a)));
    qualifiers.extend(repository_url.map(|r| ("repository_url", r)));
    build("oci", None, &name.to_ascii_lowercase(), Some(digest), &qualifiers)
}

/// PEP 503 normalisation: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalise_python_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator = false;
        }
    }
    out
}

/// The purl, or `None` when the source's name cannot make one (empty, invalid).
fn build(
    ty: &str,
    namespace: Option<&str>,
    name: &str,
    version: Option<&str>,
    qualifiers: &[(&str, &str)],
) -> Option<String> {
    let mut purl = PackageUrl::new(ty, name).ok()?;
    if let Some(ns) = namespace.filter(|ns| !ns.is_empty()) {
        purl.with_namespace(ns).ok()?;
    }
    if let Some(v) = version.filter(|v| !v.is_empty()) {
        purl.with_version(v).ok()?;
    }
    for (key, value) in qualifiers {
        purl.add_qualifier(*key, *value).ok()?;
    }
    Some(purl.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_per_ecosystem() {
        let cases = [
            (cargo("serde", "1.0.200"), "pkg:cargo/serde@1.0.200"),
            (npm("left-pad", Some("1.3.0")), "pkg:npm/left-pad@1.3.0"),
            (npm("@types/node", Some("20.1.0")), "pkg:npm/%40types/node@20.1.0"),
            (golang("github.com/spf13/cobra", Some("v1.8.0")), "pkg:golang/github.com/spf13/cobra@v1.8.0"),
            (pypi("Typing_Extensions", Some("4.12.2")), "pkg:pypi/typing-extensions@4.12.2"),
            (
                deb("debian", "libc6", "2.36-9+deb12u7", Some("amd64"), Some("debian-12")),
                "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12",
            ),
            (
                apk("alpine", "musl", "1.2.5-r0", Some("x86_64"), Some("alpine-3.20.3")),
                "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3",
            ),
            (
                oci(Some("ghcr.io/acme/app"), "app", "sha256:abc", Some("arm64")),
                "pkg:oci/app@sha256:abc?arch=arm64&repository_url=ghcr.io%2Facme%2Fapp",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.as_deref(), Some(want));
        }
        assert_eq!(cargo("", "1.0.0"), None, "no purl rather than a panic");
    }

    #[test]
    fn python_names_are_normalised() {
        assert_eq!(normalise_python_name("Foo__Bar.baz"), "foo-bar-baz");
    }
}
