//! `uv.lock` and `poetry.lock` (with `pyproject.toml` for poetry's root, which its lockfile
//! does not hold): every locked package, edges from the lockfile, the sdist hash as checksum.

use std::collections::BTreeMap;

use relkit_core::Result;
use serde::Deserialize;

use super::{Catalog, Component, Purpose, invalid, parse_toml};
use crate::model::Checksum;
use crate::purl::normalise_python_name;
use crate::validate::is_valid_download_location;

#[derive(Deserialize)]
struct UvLock {
    #[serde(default)]
    package: Vec<UvPackage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UvPackage {
    name: String,
    version: Option<String>,
    #[serde(default)]
    source: BTreeMap<String, toml::Value>,
    #[serde(default)]
    dependencies: Vec<UvDependency>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, Vec<UvDependency>>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, Vec<UvDependency>>,
    sdist: Option<UvFile>,
}

#[derive(Deserialize)]
struct UvDependency {
    name: String,
    version: Option<String>,
}

#[derive(Deserialize)]
struct UvFile {
    url: Option<String>,
    hash: Option<String>,
}

/// `sha256:<hex>` as an SPDX checksum.
fn hash_checksum(hash: &str) -> Option<Checksum> {
    let (algorithm, hex) = hash.split_once(':')?;
    let algorithm = match algorithm {
        "sha256" => "SHA256",
        "sha384" => "SHA384",
        "sha512" => "SHA512",
        _ => return None,
    };
    Some(Checksum { algorithm: algorithm.into(), checksum_value: hex.to_ascii_lowercase() })
}

/// `git+URL@COMMIT` from a git source URL carrying the commit after `#`.
fn git_location(url: &str, commit: Option<&str>) -> String {
    let (url, fragment) = url.split_once('#').unwrap_or((url, ""));
    let url = url.split_once('?').map_or(url, |(u, _)| u);
    let commit = commit.unwrap_or(fragment);
    let location = if commit.is_empty() { format!("git+{url}") } else { format!("git+{url}@{commit}") };
    if is_valid_download_location(&location) { location } else { crate::model::NOASSERTION.into() }
}

/// Parses `uv.lock`. Roots are the project's own packages (`virtual` or `editable` sources).
pub fn parse_uv(file: &str, text: &str) -> Result<Catalog> {
    let lock: UvLock = parse_toml(file, text)?;
    let mut catalog = Catalog { source: file.to_string(), ..Default::default() };
    for p in &lock.package {
        let version = p.version.as_deref();
        let mut c = Component::new("pypi", &p.name, version, crate::purl::pypi(&p.name, version));
        if p.source.contains_key("virtual") || p.source.contains_key("editable") {
            c.purpose = Purpose::Application;
            catalog.roots.push(catalog.components.len());
        }
        if let Some(url) = p.source.get("git").and_then(|v| v.as_str()) {
            c.download_location = git_location(url, None);
        } else if let Some(url) = p.sdist.as_ref().and_then(|s| s.url.as_deref())
            && is_valid_download_location(url)
        {
            c.download_location = url.to_string();
        }
        c.checksums.extend(p.sdist.as_ref().and_then(|s| s.hash.as_deref()).and_then(hash_checksum));
        catalog.components.push(c);
    }
    for (i, p) in lock.package.iter().enumerate() {
        let deps = p
            .dependencies
            .iter()
            .chain(p.optional_dependencies.values().flatten())
            .chain(p.dev_dependencies.values().flatten());
        for (d, dep) in deps.enumerate() {
            let wanted = normalise_python_name(&dep.name);
            let found: Vec<usize> = lock
                .package
                .iter()
                .enumerate()
                .filter(|(_, q)| normalise_python_name(&q.name) == wanted)
                .filter(|(_, q)| dep.version.is_none() || dep.version == q.version)
                .map(|(j, _)| j)
                .collect();
            match found.as_slice() {
                [] => {
                    return Err(invalid(
                        file,
                        &format!("package `{}` dependency {d}", p.name),
                        format!("`{}` is not a locked package; run `uv lock`", dep.name),
                    ));
                }
                many => catalog.depends_on.extend(many.iter().map(|&j| (i, j))),
            }
        }
    }
    Ok(catalog)
}

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<PoetryPackage>,
}

#[derive(Deserialize)]
struct PoetryPackage {
    name: String,
    version: String,
    #[serde(default)]
    files: Vec<PoetryFile>,
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
    source: Option<PoetrySource>,
}

#[derive(Deserialize)]
struct PoetryFile {
    file: String,
    hash: String,
}

#[derive(Deserialize)]
struct PoetrySource {
    #[serde(rename = "type")]
    kind: String,
    url: String,
    resolved_reference: Option<String>,
}

/// Parses `poetry.lock`; `pyproject` (the project's `pyproject.toml` text), when given, adds
/// the project itself as the root with its declared dependencies.
pub fn parse_poetry(file: &str, text: &str, pyproject: Option<(&str, &str)>) -> Result<Catalog> {
    let lock: PoetryLock = parse_toml(file, text)?;
    let mut catalog = Catalog { source: file.to_string(), ..Default::default() };
    let index: BTreeMap<String, usize> =
        lock.package.iter().enumerate().map(|(i, p)| (normalise_python_name(&p.name), i)).collect();
    for p in &lock.package {
        let mut c =
            Component::new("pypi", &p.name, Some(&p.version), crate::purl::pypi(&p.name, Some(&p.version)));
        if let Some(source) = &p.source
            && source.kind == "git"
        {
            c.download_location = git_location(&source.url, source.resolved_reference.as_deref());
        }
        let sdist = p.files.iter().find(|f| f.file.ends_with(".tar.gz") || f.file.ends_with(".zip"));
        c.checksums.extend(sdist.and_then(|f| hash_checksum(&f.hash)));
        catalog.components.push(c);
    }
    for (i, p) in lock.package.iter().enumerate() {
        for name in p.dependencies.keys() {
            if let Some(&j) = index.get(&normalise_python_name(name)) {
                catalog.depends_on.push((i, j));
            }
        }
    }
    if let Some((pyproject_file, pyproject_text)) = pyproject {
        let project: toml::Table = parse_toml(pyproject_file, pyproject_text)?;
        let poetry = project.get("tool").and_then(|t| t.get("poetry"));
        let pep621 = project.get("project");
        let field = |key: &str| {
            poetry
                .and_then(|p| p.get(key))
                .or_else(|| pep621.and_then(|p| p.get(key)))
                .and_then(|v| v.as_str())
        };
        let name = field("name").unwrap_or("project").to_string();
        let version = field("version");
        let mut root = Component::new("pypi", &name, version, crate::purl::pypi(&name, version));
        root.purpose = Purpose::Application;
        let root_index = catalog.components.len();
        catalog.components.push(root);
        catalog.roots.push(root_index);
        let mut names: Vec<String> = Vec::new();
        if let Some(poetry) = poetry {
            let mut tables = vec![poetry.get("dependencies"), poetry.get("dev-dependencies")];
            if let Some(groups) = poetry.get("group").and_then(|g| g.as_table()) {
                tables.extend(groups.values().map(|g| g.get("dependencies")));
            }
            names.extend(
                tables.into_iter().flatten().filter_map(|t| t.as_table()).flat_map(|t| t.keys().cloned()),
            );
        }
        for spec in
            pep621.and_then(|p| p.get("dependencies")).and_then(|d| d.as_array()).into_iter().flatten()
        {
            let spec = spec.as_str().unwrap_or_default();
            let end = spec
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .unwrap_or(spec.len());
            names.push(spec[..end].to_string());
        }
        for name in names {
            if let Some(&j) = index.get(&normalise_python_name(&name)) {
                catalog.depends_on.push((root_index, j));
            }
        }
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UV: &str = r#"
version = 1
requires-python = ">=3.12"

[[package]]
name = "app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "Requests" }, { name = "lib", version = "2.0" }]

[package.dev-dependencies]
dev = [{ name = "lib", version = "1.0" }]

[[package]]
name = "requests"
version = "2.32.3"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://files.pythonhosted.org/packages/r/requests-2.32.3.tar.gz", hash = "sha256:55365417734eb18255590a9ff9eb97e9e1da868d4ccd6402399eaf68af20a760", size = 131218 }

[[package]]
name = "lib"
version = "1.0"
source = { git = "https://github.com/acme/lib?rev=v1#0123abcd" }

[[package]]
name = "lib"
version = "2.0"
source = { registry = "https://pypi.org/simple" }
"#;

    #[test]
    fn uv_packages_edges_and_sources() {
        let c = parse_uv("uv.lock", UV).unwrap();
        assert_eq!(c.components.len(), 4);
        assert_eq!(c.roots, [0]);
        assert_eq!(c.depends_on, [(0, 1), (0, 3), (0, 2)]);
        assert_eq!(c.components[1].checksums[0].algorithm, "SHA256");
        assert!(c.components[1].download_location.ends_with("requests-2.32.3.tar.gz"));
        assert_eq!(c.components[2].download_location, "git+https://github.com/acme/lib@0123abcd");
        let e =
            parse_uv("uv.lock", &UV.replace("{ name = \"Requests\" }", "{ name = \"nope\" }")).unwrap_err();
        assert!(e.message().contains("`nope` is not a locked package"), "{e}");
    }

    const POETRY: &str = r#"
[[package]]
name = "certifi"
version = "2024.2.2"
files = [
    {file = "certifi-2024.2.2-py3-none-any.whl", hash = "sha256:dc383c07b76109f368f6106eee2b593b04a011ea4d55f652c6ca24a754d1cdd1"},
    {file = "certifi-2024.2.2.tar.gz", hash = "sha256:0569859f95fc761b18b45ef421b1290a0f65f147e92a1e5eb3e635f9a5e4e66f"},
]

[[package]]
name = "requests"
version = "2.31.0"
files = []

[package.dependencies]
certifi = ">=2017.4.17"

[metadata]
lock-version = "2.0"
"#;

    #[test]
    fn poetry_packages_and_the_pyproject_root() {
        let pyproject = "[tool.poetry]\nname = \"svc\"\nversion = \"1.0.0\"\n[tool.poetry.dependencies]\npython = \"^3.12\"\nrequests = \"^2.31\"\n";
        let c = parse_poetry("poetry.lock", POETRY, Some(("pyproject.toml", pyproject))).unwrap();
        assert_eq!(c.components.len(), 3);
        assert_eq!(c.roots, [2]);
        assert_eq!(c.depends_on, [(1, 0), (2, 1)]);
        assert_eq!(
            c.components[0].checksums[0].checksum_value,
            "0569859f95fc761b18b45ef421b1290a0f65f147e92a1e5eb3e635f9a5e4e66f"
        );
    }
}
