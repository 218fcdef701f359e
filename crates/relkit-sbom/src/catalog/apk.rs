//! Alpine's package database `lib/apk/db/installed`: one paragraph of `K:value` lines per
//! package (`P` name, `V` version, `A` arch, `L` license, `D` dependencies, `p` provides).

use std::collections::BTreeMap;

use super::dpkg::Distro;
use super::{Catalog, Component};

/// Parses the installed database found at `source`.
pub fn parse_installed(source: &str, text: &str, distro: &Distro) -> Catalog {
    let vendor = distro.id.clone().unwrap_or_else(|| "alpine".into());
    let mut catalog = Catalog { source: source.to_string(), ..Default::default() };
    let mut entries: Vec<BTreeMap<char, Vec<String>>> = Vec::new();
    let mut current: BTreeMap<char, Vec<String>> = BTreeMap::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if current.contains_key(&'P') {
                entries.push(std::mem::take(&mut current));
            }
            current.clear();
            continue;
        }
        let mut chars = line.chars();
        if let (Some(key), Some(':')) = (chars.next(), chars.next()) {
            current.entry(key).or_default().push(chars.as_str().to_string());
        }
    }
    let first = |e: &BTreeMap<char, Vec<String>>, k: char| e.get(&k).and_then(|v| v.first()).cloned();
    for e in &entries {
        let name = first(e, 'P').unwrap_or_default();
        let version = first(e, 'V').unwrap_or_default();
        let arch = first(e, 'A');
        let purl = crate::purl::apk(&vendor, &name, &version, arch.as_deref(), distro.qualifier().as_deref());
        let mut c = Component::new("apk", &name, Some(&version), purl);
        c.license = first(e, 'L');
        catalog.components.push(c);
    }
    let mut provider: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        provider.entry(first(e, 'P').unwrap_or_default()).or_insert(i);
        for provided in e.get(&'p').into_iter().flatten().flat_map(|v| v.split_whitespace()) {
            provider.entry(dependency_name(provided).to_string()).or_insert(i);
        }
    }
    for (i, e) in entries.iter().enumerate() {
        for dep in e.get(&'D').into_iter().flatten().flat_map(|v| v.split_whitespace()) {
            if dep.starts_with('!') {
                continue;
            }
            if let Some(&j) = provider.get(dependency_name(dep)) {
                catalog.depends_on.push((i, j));
            }
        }
    }
    catalog
}

/// `so:libc.musl-x86_64.so.1=1` or `musl>=1.2` → the name before any version operator.
fn dependency_name(dep: &str) -> &str {
    dep.split(['=', '<', '>', '~']).next().unwrap_or(dep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_licenses_and_edges_through_provides() {
        let db = "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\np:so:libc.musl-x86_64.so.1=1\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\nL:GPL-2.0-only\nD:so:libc.musl-x86_64.so.1 !busybox-extras\n";
        let distro = Distro { id: Some("alpine".into()), version_id: Some("3.20.3".into()) };
        let c = parse_installed("lib/apk/db/installed", db, &distro);
        assert_eq!(c.components.len(), 2);
        assert_eq!(
            c.components[1].purl.as_deref(),
            Some("pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3")
        );
        assert_eq!(c.components[0].license.as_deref(), Some("MIT"));
        assert_eq!(c.depends_on, [(1, 0)]);
    }
}
