//! Debian's package database: `var/lib/dpkg/status` (packages whose status is installed) and the
//! one-file-per-package `var/lib/dpkg/status.d/` of distroless images; edges from
//! `Depends`/`Pre-Depends` (first installed alternative, `Provides` honoured).

use std::collections::BTreeMap;

use super::{Catalog, Component};

/// Paragraphs of `Field: value` lines (continuation lines start with whitespace).
pub(crate) fn paragraphs(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut current: BTreeMap<String, String> = BTreeMap::new();
    let mut last_key: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            last_key = None;
        } else if line.starts_with([' ', '\t']) {
            if let Some(value) = last_key.as_ref().and_then(|k| current.get_mut(k)) {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            current.insert(key.trim().to_string(), value.trim().to_string());
            last_key = Some(key.trim().to_string());
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The distro for purls: `debian-12` from os-release's `ID` and `VERSION_ID`.
#[derive(Debug, Clone, Default)]
pub struct Distro {
    /// `ID` (`debian`, `ubuntu`, `alpine`).
    pub id: Option<String>,
    /// `VERSION_ID`.
    pub version_id: Option<String>,
}

impl Distro {
    /// `ID-VERSION_ID`, when both are known.
    pub fn qualifier(&self) -> Option<String> {
        Some(format!("{}-{}", self.id.as_deref()?, self.version_id.as_deref()?))
    }
}

/// Parses the status database texts (`status`, or each `status.d/` file) found at `source`.
pub fn parse_status(source: &str, texts: &[&str], distro: &Distro) -> Catalog {
    let vendor = distro.id.clone().unwrap_or_else(|| "debian".into());
    let mut catalog = Catalog { source: source.to_string(), ..Default::default() };
    let mut entries = Vec::new();
    for text in texts {
        for p in paragraphs(text) {
            let installed = p.get("Status").is_none_or(|s| s.ends_with(" installed"));
            if let (Some(name), Some(version), true) = (p.get("Package"), p.get("Version"), installed) {
                let arch = p.get("Architecture").map(String::as_str);
                let purl = crate::purl::deb(&vendor, name, version, arch, distro.qualifier().as_deref());
                let c = Component::new("deb", name, Some(version), purl);
                catalog.components.push(c);
                entries.push(p);
            }
        }
    }
    let mut provider: BTreeMap<String, usize> = BTreeMap::new();
    for (i, p) in entries.iter().enumerate() {
        provider.entry(p["Package"].clone()).or_insert(i);
    }
    for (i, p) in entries.iter().enumerate() {
        for provided in p.get("Provides").map(|v| relation_names(v)).unwrap_or_default() {
            provider.entry(provided.into_iter().next().unwrap_or_default()).or_insert(i);
        }
    }
    for (i, p) in entries.iter().enumerate() {
        for field in ["Pre-Depends", "Depends"] {
            for alternatives in p.get(field).map(|v| relation_names(v)).unwrap_or_default() {
                if let Some(&j) = alternatives.iter().find_map(|name| provider.get(name)) {
                    catalog.depends_on.push((i, j));
                }
            }
        }
    }
    catalog
}

/// `a (>= 1), b:any | c` → `[[a], [b, c]]`.
fn relation_names(value: &str) -> Vec<Vec<String>> {
    value
        .split(',')
        .map(|group| {
            group
                .split('|')
                .filter_map(|alt| {
                    let name = alt.trim().split([' ', '(', '[']).next()?.split(':').next()?;
                    (!name.is_empty()).then(|| name.to_string())
                })
                .collect()
        })
        .filter(|g: &Vec<String>| !g.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u7\nDepends: libgcc-s1\nDescription: GNU C Library\n multi-line\n\nPackage: libgcc-s1\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.2.0-14\nProvides: libgcc1 (= 1:12.2.0-14)\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: app\nStatus: install ok installed\nVersion: 1.0\nPre-Depends: libc6:any (>= 2.34)\nDepends: missing | libgcc1, libc6\n";

    #[test]
    fn installed_packages_purls_and_edges() {
        let distro = Distro { id: Some("debian".into()), version_id: Some("12".into()) };
        let c = parse_status("var/lib/dpkg/status", &[STATUS], &distro);
        let names: Vec<&str> = c.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["libc6", "libgcc-s1", "app"]);
        assert_eq!(
            c.components[0].purl.as_deref(),
            Some("pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12")
        );
        assert_eq!(c.depends_on, [(0, 1), (2, 0), (2, 1), (2, 0)]);
    }
}
