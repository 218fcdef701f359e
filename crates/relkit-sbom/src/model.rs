//! The SPDX 2.3 JSON we emit: only the fields we write, in the spec's spelling. Documents made by
//! other tools are never parsed into these structs (see [`crate::validate`]).

use serde::{Deserialize, Serialize};

/// The SPDX version we write.
pub const SPDX_VERSION: &str = "SPDX-2.3";
/// The only data license SPDX allows.
pub const DATA_LICENSE: &str = "CC0-1.0";
/// The document's own identifier.
pub const DOCUMENT_ID: &str = "SPDXRef-DOCUMENT";
/// "No statement is made": the SPDX spelling for an unknown value.
pub const NOASSERTION: &str = "NOASSERTION";

/// An SPDX document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// Always [`SPDX_VERSION`].
    pub spdx_version: String,
    /// Always [`DATA_LICENSE`].
    pub data_license: String,
    /// Always [`DOCUMENT_ID`].
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    /// What the document describes, e.g. `relkit-0.1.0`.
    pub name: String,
    /// A unique absolute URI without `#`, derived from the content.
    pub document_namespace: String,
    /// Other SPDX documents this one refers to (an index document → its platforms' documents).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_document_refs: Vec<ExternalDocumentRef>,
    /// When and by what the document was made.
    pub creation_info: CreationInfo,
    /// The packages.
    pub packages: Vec<Package>,
    /// DESCRIBES and DEPENDS_ON edges.
    pub relationships: Vec<Relationship>,
    /// Declarations of the `LicenseRef-` identifiers used by the packages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub has_extracted_licensing_infos: Vec<ExtractedLicense>,
}

/// `creationInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreationInfo {
    /// `YYYY-MM-DDThh:mm:ssZ`, whole seconds.
    pub created: String,
    /// `Tool: name-version`, `Organization: …` or `Person: …`.
    pub creators: Vec<String>,
}

/// One package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    /// Package name as the ecosystem spells it.
    pub name: String,
    /// `SPDXRef-…`, unique in the document.
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    /// The version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_info: Option<String>,
    /// A URL, a VCS location (`git+https://…@rev`), `NONE` or `NOASSERTION`.
    pub download_location: String,
    /// Always false: we catalogue packages, not their files.
    pub files_analyzed: bool,
    /// Checksums of the distributed archive, from the lockfile's integrity fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<Checksum>,
    /// Always `NOASSERTION`: we do not conclude licenses.
    pub license_concluded: String,
    /// The license the package states, or `NOASSERTION`.
    pub license_declared: String,
    /// Always `NOASSERTION`.
    pub copyright_text: String,
    /// The package's purl.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_refs: Vec<ExternalRef>,
    /// `APPLICATION` for roots, `LIBRARY` for dependencies, `OPERATING_SYSTEM` for the OS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_package_purpose: Option<String>,
    /// Supplier (`Organization: …`, `Person: …` or `NOASSERTION`), when the source states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    /// Where the package was found (lockfile path, image layer, database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_info: Option<String>,
}

/// A checksum of a package archive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checksum {
    /// `SHA1`, `SHA256`, `SHA512`, …
    pub algorithm: String,
    /// Lowercase hex.
    pub checksum_value: String,
}

/// An external reference (we write purls).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRef {
    /// `PACKAGE-MANAGER` for purls.
    pub reference_category: String,
    /// `purl`.
    pub reference_type: String,
    /// The purl.
    pub reference_locator: String,
}

impl ExternalRef {
    /// A purl reference.
    pub fn purl(purl: impl Into<String>) -> Self {
        Self {
            reference_category: "PACKAGE-MANAGER".into(),
            reference_type: "purl".into(),
            reference_locator: purl.into(),
        }
    }
}

/// A relationship between two elements.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    /// The subject element.
    pub spdx_element_id: String,
    /// `DESCRIBES`, `DEPENDS_ON`, …
    pub relationship_type: String,
    /// The object element.
    pub related_spdx_element: String,
}

impl Relationship {
    /// `from TYPE to`.
    pub fn new(from: &str, kind: &str, to: &str) -> Self {
        Self { spdx_element_id: from.into(), relationship_type: kind.into(), related_spdx_element: to.into() }
    }
}

/// A declared `LicenseRef-` license.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtractedLicense {
    /// `LicenseRef-…`.
    pub license_id: String,
    /// The text (or what the source said instead of an SPDX identifier).
    pub extracted_text: String,
    /// A short name.
    pub name: String,
}

/// A reference to another SPDX document, by namespace and SHA1 of its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalDocumentRef {
    /// `DocumentRef-…`.
    pub external_document_id: String,
    /// The referenced document's `documentNamespace`.
    pub spdx_document: String,
    /// SHA1 of the referenced document's bytes.
    pub checksum: Checksum,
}
