//! Catalogs → one deterministic SPDX 2.3 document: SPDXIDs unique and valid, the roots
//! DESCRIBED, DEPENDS_ON edges, licenses as SPDX expressions or declared `LicenseRef-`s,
//! `created` from `SOURCE_DATE_EPOCH` (whole seconds), the namespace from the content.

use std::collections::BTreeSet;

use relkit_core::{Error, Result};
use sha2::{Digest as _, Sha256};

use crate::catalog::{Catalog, Purpose};
use crate::license::{Licenses, sanitize};
use crate::model::{
    CreationInfo, DATA_LICENSE, DOCUMENT_ID, Document, ExternalRef, NOASSERTION, Package, Relationship,
    SPDX_VERSION,
};

/// Where namespaces live: the project's URL; the rest is the name and a content digest.
pub const NAMESPACE_BASE: &str = "https://github.com/relkit/relkit/spdxdocs";

/// The creator we write.
pub fn creator() -> String {
    format!("Tool: relkit-sbom-{}", env!("CARGO_PKG_VERSION"))
}

/// The document time: `SOURCE_DATE_EPOCH` (seconds) when given, else now; whole seconds, UTC.
pub fn created(source_date_epoch: Option<&str>) -> Result<String> {
    let timestamp = match source_date_epoch.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => {
            let seconds: i64 = s.parse().map_err(|_| {
                Error::usage(format!("SOURCE_DATE_EPOCH `{s}` is not a number of seconds since 1970"))
            })?;
            jiff::Timestamp::from_second(seconds)
                .map_err(|e| Error::usage(format!("SOURCE_DATE_EPOCH `{s}` is out of range: {e}")))?
        }
        None => jiff::Timestamp::now(),
    };
    Ok(timestamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Builds the document named `name` from `catalogs`, made at `created`.
pub fn document(name: &str, catalogs: &[Catalog], created: &str) -> Document {
    let mut licenses = Licenses::default();
    let mut used_ids = BTreeSet::new();
    let mut packages = Vec::new();
    let mut describes = Vec::new();
    let mut depends = Vec::new();
    for catalog in catalogs {
        let ids: Vec<String> = catalog
            .components
            .iter()
            .map(|c| {
                let hint = match &c.version {
                    Some(v) => format!("{}-{}-{}", c.ecosystem, c.name, v),
                    None => format!("{}-{}", c.ecosystem, c.name),
                };
                unique_id(&mut used_ids, &format!("SPDXRef-Package-{}", sanitize_id(&hint)))
            })
            .collect();
        for (component, id) in catalog.components.iter().zip(&ids) {
            let purpose = match component.purpose {
                Purpose::Application => "APPLICATION",
                Purpose::Library => "LIBRARY",
                Purpose::OperatingSystem => "OPERATING_SYSTEM",
            };
            let mut checksums = component.checksums.clone();
            checksums.sort();
            checksums.dedup();
            packages.push(Package {
                name: component.name.clone(),
                spdx_id: id.clone(),
                version_info: component.version.clone(),
                download_location: component.download_location.clone(),
                files_analyzed: false,
                checksums,
                license_concluded: NOASSERTION.into(),
                license_declared: licenses.declared(component.license.as_deref()),
                copyright_text: NOASSERTION.into(),
                external_refs: component.purl.iter().map(ExternalRef::purl).collect(),
                primary_package_purpose: Some(purpose.into()),
                supplier: component.supplier.clone(),
                source_info: Some(format!(
                    "catalogued from {}",
                    component.found_in.as_deref().unwrap_or(&catalog.source)
                )),
            });
        }
        if catalog.roots.is_empty() {
            // No stated root (an image's package database): describe what nothing depends on.
            let depended: BTreeSet<usize> = catalog.depends_on.iter().map(|&(_, to)| to).collect();
            describes.extend((0..ids.len()).filter(|i| !depended.contains(i)).map(|i| ids[i].clone()));
        } else {
            describes.extend(catalog.roots.iter().map(|&r| ids[r].clone()));
        }
        let mut edges: Vec<Relationship> = catalog
            .depends_on
            .iter()
            .filter(|(from, to)| from != to)
            .map(|&(from, to)| Relationship::new(&ids[from], "DEPENDS_ON", &ids[to]))
            .collect();
        edges.sort();
        edges.dedup();
        depends.extend(edges);
    }
    let mut relationships: Vec<Relationship> =
        describes.iter().map(|id| Relationship::new(DOCUMENT_ID, "DESCRIBES", id)).collect();
    relationships.dedup();
    relationships.extend(depends);
    let mut document = Document {
        spdx_version: SPDX_VERSION.into(),
        data_license: DATA_LICENSE.into(),
        spdx_id: DOCUMENT_ID.into(),
        name: name.to_string(),
        document_namespace: String::new(),
        external_document_refs: Vec::new(),
        creation_info: CreationInfo { created: created.to_string(), creators: vec![creator()] },
        packages,
        relationships,
        has_extracted_licensing_infos: licenses.into_declarations(),
    };
    seal(&mut document);
    document
}

/// Sets `documentNamespace` from the rest of the content (call again after changing it).
pub fn seal(document: &mut Document) {
    document.document_namespace = String::new();
    let digest = Sha256::digest(to_bytes(document));
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    document.document_namespace = format!("{NAMESPACE_BASE}/{}-{hex}", sanitize(&document.name));
}

/// The document's JSON bytes (pretty, with a final newline): the same document gives the same
/// bytes.
pub fn to_bytes(document: &Document) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(document).expect("an SPDX document always serializes");
    bytes.push(b'\n');
    bytes
}

fn sanitize_id(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect()
}

fn unique_id(used: &mut BTreeSet<String>, base: &str) -> String {
    let mut id = base.to_string();
    let mut n = 2;
    while !used.insert(id.clone()) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Component;

    fn sample() -> Catalog {
        let mut root = Component::new("cargo", "app", Some("1.0.0"), crate::purl::cargo("app", "1.0.0"));
        root.purpose = Purpose::Application;
        let mut dep = Component::new("cargo", "serde_json", Some("1.0.0"), None);
        dep.license = Some("MIT/Apache-2.0".into());
        let twin = Component::new("cargo", "serde-json", Some("1.0.0"), None);
        Catalog {
            source: "Cargo.lock".into(),
            components: vec![root, dep, twin],
            roots: vec![0],
            depends_on: vec![(0, 1), (0, 2), (0, 1)],
            notes: vec![],
        }
    }

    #[test]
    fn ids_are_valid_and_unique_and_roots_are_described() {
        let doc = document("app-1.0.0", &[sample()], "2024-01-01T00:00:00Z");
        let ids: Vec<&str> = doc.packages.iter().map(|p| p.spdx_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "SPDXRef-Package-cargo-app-1.0.0",
                "SPDXRef-Package-cargo-serde-json-1.0.0",
                "SPDXRef-Package-cargo-serde-json-1.0.0-2"
            ]
        );
        assert_eq!(doc.relationships[0], Relationship::new(DOCUMENT_ID, "DESCRIBES", ids[0]));
        assert_eq!(doc.relationships.len(), 3, "duplicate edges collapse");
        assert_eq!(doc.packages[1].license_declared, "MIT OR Apache-2.0");
    }

    #[test]
    fn same_input_same_bytes_and_namespace_follows_content() {
        let a = to_bytes(&document("app", &[sample()], "2024-01-01T00:00:00Z"));
        let b = to_bytes(&document("app", &[sample()], "2024-01-01T00:00:00Z"));
        assert_eq!(a, b);
        let c = document("app", &[sample()], "2024-01-01T00:00:01Z");
        assert_ne!(
            document("app", &[sample()], "2024-01-01T00:00:00Z").document_namespace,
            c.document_namespace
        );
    }

    #[test]
    fn created_is_whole_seconds_from_source_date_epoch() {
        assert_eq!(created(Some("1700000000")).unwrap(), "2023-11-14T22:13:20Z");
        assert!(created(None).unwrap().ends_with('Z'));
        assert_eq!(created(Some("soon")).unwrap_err().exit_code(), 2);
    }
}
