//! `Cargo.lock` (every `[[package]]`, edges from `dependencies`), the workspace's `Cargo.toml`s
//! (roots, and the stale-lock check) and, when cargo is on PATH, `cargo metadata` for licenses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use relkit_core::{Error, Result};
use serde::Deserialize;

use super::{Catalog, Component, Purpose, invalid, parse_toml};
use crate::model::Checksum;
use crate::validate::is_valid_download_location;

const CRATES_IO: [&str; 2] =
    ["registry+https://github.com/rust-lang/crates.io-index", "sparse+https://index.crates.io/"];

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<LockPackage>,
}

#[derive(Deserialize)]
struct LockPackage {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

/// Parses `Cargo.lock` text. Roots are the packages without a `source` (the workspace's own,
/// and path dependencies) unless `members` names them.
pub fn parse_lock(file: &str, text: &str, members: Option<&BTreeSet<String>>) -> Result<Catalog> {
    let lock: Lock = parse_toml(file, text)?;
    let mut catalog = Catalog { source: file.to_string(), ..Default::default() };
    for p in &lock.package {
        let mut c =
            Component::new("cargo", &p.name, Some(&p.version), crate::purl::cargo(&p.name, &p.version));
        c.download_location = download_location(&p.name, &p.version, p.source.as_deref());
        if let Some(sum) = &p.checksum {
            c.checksums
                .push(Checksum { algorithm: "SHA256".into(), checksum_value: sum.to_ascii_lowercase() });
        }
        let is_root = match members {
            Some(m) => p.source.is_none() && m.contains(&p.name),
            None => p.source.is_none(),
        };
        if is_root {
            c.purpose = Purpose::Application;
            catalog.roots.push(catalog.components.len());
        }
        catalog.components.push(c);
    }
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in lock.package.iter().enumerate() {
        by_name.entry(&p.name).or_default().push(i);
    }
    for (i, p) in lock.package.iter().enumerate() {
        for (d, spec) in p.dependencies.iter().enumerate() {
            let mut parts = spec.splitn(3, ' ');
            let name = parts.next().unwrap_or_default();
            let version = parts.next();
            let source = parts.next().map(|s| s.trim_start_matches('(').trim_end_matches(')'));
            let candidates: Vec<usize> = by_name
                .get(name)
                .into_iter()
                .flatten()
                .copied()
                .filter(|&j| version.is_none_or(|v| lock.package[j].version == v))
                .filter(|&j| source.is_none_or(|s| lock.package[j].source.as_deref() == Some(s)))
                .collect();
            match candidates.as_slice() {
                [j] => catalog.depends_on.push((i, *j)),
                _ => {
                    return Err(invalid(
                        file,
                        &format!("package `{}` dependencies[{d}]", p.name),
                        format!(
                            "`{spec}` matches {} locked packages instead of one; regenerate the lockfile with cargo",
                            candidates.len()
                        ),
                    ));
                }
            }
        }
    }
    Ok(catalog)
}

/// The crates.io download URL, the git repository at the locked commit, or NOASSERTION
/// (path dependencies, other registries).
fn download_location(name: &str, version: &str, source: Option<&str>) -> String {
    let location = match source {
        Some(s) if CRATES_IO.contains(&s) => {
            format!("https://crates.io/api/v1/crates/{name}/{version}/download")
        }
        Some(s) if s.starts_with("git+") => {
            let (url, commit) = s.split_once('#').unwrap_or((s, ""));
            let url = url.split_once('?').map_or(url, |(u, _)| u);
            if commit.is_empty() { url.to_string() } else { format!("{url}@{commit}") }
        }
        _ => String::new(),
    };
    if is_valid_download_location(&location) { location } else { crate::model::NOASSERTION.to_string() }
}

/// A workspace's manifests: the member package names and every dependency they declare.
#[derive(Debug, Default)]
pub struct Workspace {
    /// Member package names.
    pub members: BTreeSet<String>,
    /// Member licenses (`license`, or `license.workspace = true` resolved).
    pub licenses: BTreeMap<String, String>,
    /// `(member, dependency)`: the package names each member's manifest depends on.
    pub dependencies: Vec<(String, String)>,
}

/// Reads `dir/Cargo.toml` and the members it names.
pub fn read_workspace(dir: &Path) -> Result<Workspace> {
    let root_path = dir.join("Cargo.toml");
    let root: toml::Table = parse_toml(&root_path.display().to_string(), &super::read(&root_path)?)?;
    let mut manifests = Vec::new();
    if root.contains_key("package") {
        manifests.push((root_path.clone(), root.clone()));
    }
    if let Some(ws) = root.get("workspace").and_then(|w| w.as_table()) {
        let strings = |key: &str| -> Vec<String> {
            ws.get(key)
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        let excluded: BTreeSet<std::path::PathBuf> = strings("exclude").iter().map(|e| dir.join(e)).collect();
        for pattern in strings("members") {
            let full = dir.join(&pattern).display().to_string();
            let paths = glob::glob(&full).map_err(|e| {
                Error::usage(format!("{}: workspace.members `{pattern}`: {e}", root_path.display()))
            })?;
            for member in paths.flatten() {
                let manifest = member.join("Cargo.toml");
                if excluded.contains(&member) || !manifest.is_file() || manifest == root_path {
                    continue;
                }
                let table: toml::Table =
                    parse_toml(&manifest.display().to_string(), &super::read(&manifest)?)?;
                manifests.push((manifest, table));
            }
        }
    }
    let workspace_license = root
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("license"))
        .and_then(|l| l.as_str())
        .map(str::to_string);
    let mut workspace = Workspace::default();
    for (path, manifest) in manifests {
        let Some(name) = manifest.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str()) else {
            return Err(Error::usage(format!("{}: package.name is missing", path.display())));
        };
        workspace.members.insert(name.to_string());
        let license = manifest.get("package").and_then(|p| p.get("license"));
        let license = match license {
            Some(toml::Value::String(s)) => Some(s.clone()),
            Some(toml::Value::Table(t)) if t.get("workspace").and_then(|w| w.as_bool()) == Some(true) => {
                workspace_license.clone()
            }
            _ => None,
        };
        if let Some(license) = license {
            workspace.licenses.insert(name.to_string(), license);
        }
        let mut tables: Vec<&toml::Table> = Vec::new();
        for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
            tables.extend(manifest.get(key).and_then(|t| t.as_table()));
        }
        for target in manifest.get("target").and_then(|t| t.as_table()).into_iter().flat_map(|t| t.values()) {
            for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
                tables.extend(target.get(key).and_then(|t| t.as_table()));
            }
        }
        for table in tables {
            for (key, spec) in table {
                let package = spec.get("package").and_then(|p| p.as_str()).unwrap_or(key);
                workspace.dependencies.push((name.to_string(), package.to_string()));
            }
        }
    }
    Ok(workspace)
}

/// Dependencies declared in a manifest but missing from the lockfile, as `(member, dependency)`.
pub fn missing_from_lock(workspace: &Workspace, catalog: &Catalog) -> Vec<(String, String)> {
    let locked: BTreeSet<&str> = catalog.components.iter().map(|c| c.name.as_str()).collect();
    workspace.dependencies.iter().filter(|(_, dep)| !locked.contains(dep.as_str())).cloned().collect()
}

/// Licenses of crates.io packages read from the manifests cargo unpacked into
/// `$CARGO_HOME/registry/src/*/NAME-VERSION/Cargo.toml` (the files `cargo metadata` reads),
/// keyed by `(name, version)`. Crates not in the cache are simply absent.
pub fn cached_licenses(catalog: &Catalog, cargo_home: &Path) -> BTreeMap<(String, String), String> {
    let Ok(indexes) = std::fs::read_dir(cargo_home.join("registry").join("src")) else {
        return BTreeMap::new();
    };
    let dirs: Vec<std::path::PathBuf> = indexes.flatten().map(|e| e.path()).collect();
    let mut licenses = BTreeMap::new();
    for c in catalog.components.iter().filter(|c| c.download_location.starts_with("https://crates.io/")) {
        let Some(version) = &c.version else { continue };
        let found = dirs.iter().find_map(|d| {
            std::fs::read_to_string(d.join(format!("{}-{version}", c.name)).join("Cargo.toml")).ok()
        });
        let license = found.and_then(|text| {
            let manifest: toml::Table = toml::from_str(&text).ok()?;
            manifest.get("package")?.get("license")?.as_str().map(str::to_string)
        });
        if let Some(license) = license {
            licenses.insert((c.name.clone(), version.clone()), license);
        }
    }
    licenses
}

/// Licenses from `cargo metadata` (offline, locked), keyed by `(name, version)`; an error when
/// cargo cannot answer without the network or the lockfile would change.
pub fn metadata_licenses(dir: &Path) -> Result<BTreeMap<(String, String), String>> {
    #[derive(Deserialize)]
    struct Metadata {
        packages: Vec<MetaPackage>,
    }
    #[derive(Deserialize)]
    struct MetaPackage {
        name: String,
        version: String,
        license: Option<String>,
    }
    let output = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .output()
        .map_err(|e| Error::failed(format!("cannot run cargo metadata: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return Err(Error::failed(format!("cargo metadata failed: {}", last.trim())));
    }
    let metadata: Metadata = serde_json::from_slice(&output.stdout)
        .map_err(|e| Error::failed(format!("cargo metadata printed unexpected JSON: {e}")))?;
    Ok(metadata.packages.into_iter().filter_map(|p| Some(((p.name, p.version), p.license?))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["serde", "rand 0.8.5", "mine"]

[[package]]
name = "serde"
version = "1.0.200"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "ddc6f9cc94d67c0e21aaf7eda3a010fd3af78ebf6e096aa6e2e13c79749cce4f"

[[package]]
name = "rand"
version = "0.8.5"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "34af8d1a0e25924bc5b7c43c7f8a3f0d9f0ab6ee6a1a0b5b3a9f2d3c4e5f6a7b"

[[package]]
name = "rand"
version = "0.9.0"
source = "sparse+https://index.crates.io/"

[[package]]
name = "mine"
version = "0.2.0"
source = "git+https://github.com/acme/mine?branch=main#0123456789abcdef0123456789abcdef01234567"
dependencies = ["rand 0.9.0 (sparse+https://index.crates.io/)"]
"#;

    #[test]
    fn every_locked_package_with_edges_and_locations() {
        let c = parse_lock("Cargo.lock", LOCK, None).unwrap();
        assert_eq!(c.components.len(), 5);
        assert_eq!(c.roots, [0]);
        assert_eq!(c.depends_on, [(0, 1), (0, 2), (0, 4), (4, 3)]);
        let locations: Vec<&str> = c.components.iter().map(|c| c.download_location.as_str()).collect();
        assert_eq!(
            locations,
            [
                "NOASSERTION",
                "https://crates.io/api/v1/crates/serde/1.0.200/download",
                "https://crates.io/api/v1/crates/rand/0.8.5/download",
                "https://crates.io/api/v1/crates/rand/0.9.0/download",
                "git+https://github.com/acme/mine@0123456789abcdef0123456789abcdef01234567",
            ]
        );
        assert_eq!(c.components[1].checksums[0].algorithm, "SHA256");
    }

    #[test]
    fn ambiguous_or_missing_dependency_names_the_package() {
        let broken = LOCK.replace("\"rand 0.8.5\"", "\"rand\"");
        let e = parse_lock("Cargo.lock", &broken, None).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message().contains("Cargo.lock: package `app` dependencies[1]: `rand` matches 2"), "{e}");
        let e = parse_lock("Cargo.lock", "[[package]]\nname = 1", None).unwrap_err();
        assert!(e.message().starts_with("Cargo.lock: line 2:"), "{e}");
    }
}
