//! `package-lock.json` v2/v3: every entry of `packages` (links resolved to their targets),
//! edges by node's lookup (the nearest `node_modules/NAME` up the tree), SRI `integrity` as
//! checksums, `license` as stated; and the stale-lock check against `package.json`.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use relkit_core::Result;
use serde::Deserialize;
use serde_json::Value;

use super::{Catalog, Component, Purpose, hex, invalid};
use crate::model::Checksum;
use crate::validate::is_valid_download_location;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lock {
    name: Option<String>,
    lockfile_version: Option<u64>,
    packages: Option<BTreeMap<String, Entry>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Entry {
    name: Option<String>,
    version: Option<String>,
    resolved: Option<String>,
    integrity: Option<String>,
    license: Option<Value>,
    #[serde(default)]
    link: bool,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, String>,
    #[serde(default)]
    peer_dependencies: BTreeMap<String, String>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, String>,
}

fn parse(file: &str, text: &str) -> Result<(Option<String>, BTreeMap<String, Entry>)> {
    let lock: Lock =
        serde_json::from_str(text).map_err(|e| invalid(file, &format!("line {}", e.line()), e))?;
    match (lock.lockfile_version, lock.packages) {
        (Some(2 | 3), Some(packages)) => Ok((lock.name, packages)),
        (version, _) => Err(invalid(
            file,
            "$.lockfileVersion",
            format!(
                "lockfileVersion {} has no `packages` map; regenerate it with npm 7 or later (`npm install --package-lock-only`)",
                version.map_or("(missing)".to_string(), |v| v.to_string())
            ),
        )),
    }
}

/// The installed name of an entry: what follows the last `node_modules/`.
fn install_name(key: &str) -> Option<&str> {
    key.rfind("node_modules/").map(|i| &key[i + "node_modules/".len()..])
}

/// The directory a lookup moves to after `key`: the enclosing package, or the root.
fn parent(key: &str) -> &str {
    match key.rfind("/node_modules/") {
        Some(i) => &key[..i],
        None => "",
    }
}

/// Node's lookup of `name` from the package at `key`, following links.
fn resolve<'a>(packages: &'a BTreeMap<String, Entry>, key: &str, name: &str) -> Option<&'a str> {
    let mut base = key;
    loop {
        let candidate = if base.is_empty() {
            format!("node_modules/{name}")
        } else {
            format!("{base}/node_modules/{name}")
        };
        if let Some((found, entry)) = packages.get_key_value(&candidate) {
            if entry.link {
                let target = entry.resolved.as_deref()?;
                return packages.get_key_value(target).map(|(k, _)| k.as_str());
            }
            return Some(found.as_str());
        }
        if base.is_empty() {
            return None;
        }
        base = parent(base);
    }
}

/// Parses the lockfile text into a catalog.
pub fn parse_lock(file: &str, text: &str) -> Result<Catalog> {
    let (lock_name, packages) = parse(file, text)?;
    let mut catalog = Catalog { source: file.to_string(), ..Default::default() };
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (key, entry) in &packages {
        if entry.link {
            continue;
        }
        let is_root = !key.contains("node_modules/");
        let name = entry
            .name
            .clone()
            .or_else(|| install_name(key).map(str::to_string))
            .or_else(|| lock_name.clone())
            .unwrap_or_else(|| key.rsplit('/').next().unwrap_or("root").to_string());
        let name = if name.is_empty() { "root".to_string() } else { name };
        let version = entry.version.as_deref();
        let mut c = Component::new("npm", &name, version, crate::purl::npm(&name, version));
        if let Some(resolved) = &entry.resolved {
            let location = match resolved.split_once('#') {
                Some((url, commit)) if url.starts_with("git+") => format!("{url}@{commit}"),
                _ => resolved.clone(),
            };
            if is_valid_download_location(&location) {
                c.download_location = location;
            }
        }
        c.checksums = entry.integrity.as_deref().map(integrity_checksums).unwrap_or_default();
        c.license = match &entry.license {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(o)) => o.get("type").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        if is_root {
            c.purpose = Purpose::Application;
            catalog.roots.push(catalog.components.len());
        }
        index.insert(key, catalog.components.len());
        catalog.components.push(c);
    }
    for (key, entry) in &packages {
        let Some(&from) = index.get(key.as_str()) else { continue };
        let names = entry
            .dependencies
            .keys()
            .chain(entry.optional_dependencies.keys())
            .chain(entry.peer_dependencies.keys())
            .chain(entry.dev_dependencies.keys());
        for name in names {
            if let Some(to) = resolve(&packages, key, name).and_then(|k| index.get(k)) {
                catalog.depends_on.push((from, *to));
            }
        }
    }
    Ok(catalog)
}

/// SRI strings (`sha512-<base64> sha1-<base64>`) as SPDX checksums; unknown algorithms skipped.
fn integrity_checksums(integrity: &str) -> Vec<Checksum> {
    integrity
        .split_whitespace()
        .filter_map(|item| {
            let (algorithm, b64) = item.split_once('-')?;
            let algorithm = match algorithm {
                "sha1" => "SHA1",
                "sha256" => "SHA256",
                "sha384" => "SHA384",
                "sha512" => "SHA512",
                _ => return None,
            };
            let b64 = b64.split('?').next().unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            Some(Checksum { algorithm: algorithm.into(), checksum_value: hex(&bytes) })
        })
        .collect()
}

/// The `package.json` dependencies (root and workspace members) that the lockfile does not
/// hold, or holds at a version outside the range: `"name (wanted RANGE, locked VERSION)"`.
pub fn stale_entries(dir: &Path, file: &str, text: &str) -> Result<Vec<String>> {
    let (_, packages) = parse(file, text)?;
    let mut stale = Vec::new();
    for key in packages.keys().filter(|k| !k.contains("node_modules/")) {
        let manifest_path = dir.join(key).join("package.json");
        let Ok(manifest_text) = std::fs::read_to_string(&manifest_path) else { continue };
        let manifest_file = manifest_path.display().to_string();
        let manifest: Value = serde_json::from_str(&manifest_text)
            .map_err(|e| invalid(&manifest_file, &format!("line {}", e.line()), e))?;
        for section in ["dependencies", "devDependencies", "optionalDependencies"] {
            let Some(deps) = manifest.get(section).and_then(Value::as_object) else { continue };
            for (name, spec) in deps {
                let spec = spec.as_str().unwrap_or_default();
                let (real_name, range) = match spec.strip_prefix("npm:") {
                    Some(alias) => match alias.rfind('@').filter(|&i| i > 0) {
                        Some(i) => (&alias[..i], &alias[i + 1..]),
                        None => (alias, ""),
                    },
                    None => (name.as_str(), spec),
                };
                let Some(found) = resolve(&packages, key, name) else {
                    if section != "optionalDependencies" {
                        stale.push(format!("{name} (in {manifest_file} {section}, missing from {file})"));
                    }
                    continue;
                };
                let entry = &packages[found];
                let locked = entry.version.as_deref().unwrap_or_default();
                let locked_name = entry.name.as_deref().or_else(|| install_name(found)).unwrap_or_default();
                if locked_name != real_name {
                    stale.push(format!("{name} (wanted {real_name}, locked {locked_name})"));
                    continue;
                }
                let (Ok(range), Ok(version)) =
                    (nodejs_semver::Range::parse(range), nodejs_semver::Version::parse(locked))
                else {
                    continue;
                };
                if !range.satisfies(&version) {
                    stale.push(format!(
                        "{name} (wanted {spec} in {manifest_file}, locked {locked} in {file})"
                    ));
                }
            }
        }
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
  "name": "web", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {
    "": { "name": "web", "version": "1.0.0", "license": "MIT", "workspaces": ["packages/ui"],
          "dependencies": { "@types/node": "^20.0.0", "left-pad": "1.3.0" } },
    "node_modules/@types/node": { "version": "20.1.0", "resolved": "https://registry.npmjs.org/@types/node/-/node-20.1.0.tgz",
          "integrity": "sha512-AAAA", "license": "MIT", "dependencies": { "left-pad": "^1.0.0" } },
    "node_modules/@types/node/node_modules/left-pad": { "version": "1.1.0", "license": "WTFPL" },
    "node_modules/left-pad": { "version": "1.3.0", "resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz",
          "integrity": "sha1-AAECAwQFBgcICQoLDA0ODxAREhM=", "license": "WTFPL" },
    "node_modules/ui": { "resolved": "packages/ui", "link": true },
    "node_modules/mine": { "version": "0.1.0", "resolved": "git+ssh://git@github.com/acme/mine.git#0123abcd" },
    "packages/ui": { "name": "ui", "version": "0.0.1", "dependencies": { "left-pad": "*", "mine": "github:acme/mine" } }
  }
}"#;

    #[test]
    fn every_entry_but_links_with_node_lookup_edges() {
        let c = parse_lock("package-lock.json", LOCK).unwrap();
        let names: Vec<&str> = c.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["web", "@types/node", "left-pad", "left-pad", "mine", "ui"]);
        assert_eq!(c.roots, [0, 5]);
        // web → @types/node, web → left-pad 1.3.0; @types/node → its nested left-pad 1.1.0;
        // ui → the hoisted left-pad and mine.
        assert_eq!(c.depends_on, [(0, 1), (0, 3), (1, 2), (5, 3), (5, 4)]);
        assert_eq!(c.components[1].purl.as_deref(), Some("pkg:npm/%40types/node@20.1.0"));
        assert_eq!(c.components[3].checksums[0].checksum_value, "000102030405060708090a0b0c0d0e0f10111213");
        assert_eq!(c.components[4].download_location, "git+ssh://git@github.com/acme/mine.git@0123abcd");
        assert_eq!(c.components[2].download_location, "NOASSERTION");
    }

    #[test]
    fn lockfile_v1_is_refused_with_the_fix() {
        let e = parse_lock("package-lock.json", r#"{"lockfileVersion":1,"dependencies":{}}"#).unwrap_err();
        assert!(e.message().contains("lockfileVersion 1 has no `packages` map; regenerate"), "{e}");
    }

    #[test]
    fn stale_lock_names_the_package() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"name":"web","dependencies":{"@types/node":"^21.0.0","left-pad":"1.3.0","is-odd":"^3"}}"#,
        )
        .unwrap();
        let stale = stale_entries(dir.path(), "package-lock.json", LOCK).unwrap();
        assert_eq!(stale.len(), 2, "{stale:?}");
        assert!(stale[0].starts_with("@types/node (wanted ^21.0.0"), "{stale:?}");
        assert!(stale[1].starts_with("is-odd (in "), "{stale:?}");
    }
}
