//! The validator for SPDX 2.2 / 2.3 JSON from any tool. It reads the document as plain JSON
//! (never into our structs: a third-party SBOM stays opaque bytes plus a digest) and checks the
//! rules pyspdxtools enforces, the JSON schema's closed field sets (unknown fields), and a
//! DESCRIBES relationship. Each problem names the JSON path and the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use relkit_core::{Error, Result};
use relkit_registry::Digest;
use serde_json::Value;
use spdx::{Expression, LicenseItem, ParseMode};

/// The media type of SPDX JSON (the referrer `artifactType`).
pub const SPDX_JSON_MEDIA_TYPE: &str = "application/spdx+json";

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON path, e.g. `$.packages[3].downloadLocation`.
    pub path: String,
    /// The rule's short name, e.g. `download-location`.
    pub rule: &'static str,
    /// What is wrong and what is allowed.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.path, self.detail, self.rule)
    }
}

/// A package as a verifier needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSummary {
    /// `name`.
    pub name: String,
    /// `versionInfo`.
    pub version: Option<String>,
    /// The purls of its external references.
    pub purls: Vec<String>,
}

/// A document that passed validation: its exact bytes, their digest and what a verifier reads.
#[derive(Debug, Clone)]
pub struct ValidSbom {
    /// The bytes as given (never re-serialized).
    pub bytes: Vec<u8>,
    /// `sha256:` of the bytes.
    pub digest: Digest,
    /// `SPDX-2.2` or `SPDX-2.3`.
    pub spdx_version: String,
    /// The document name.
    pub name: String,
    /// Every package.
    pub packages: Vec<PackageSummary>,
    /// SPDXIDs the document DESCRIBES.
    pub describes: Vec<String>,
}

/// Validates `bytes` (read from `file`, named in messages). On failure the error names the
/// first problem and how many more there are; [`check`] lists them all.
pub fn validate(file: &str, bytes: Vec<u8>) -> Result<ValidSbom> {
    let (summary, violations) = check(&bytes);
    match (summary, violations.first()) {
        (Some(summary), None) => Ok(ValidSbom { digest: Digest::of(&bytes), bytes, ..summary }),
        (_, first) => {
            let first = first.map_or_else(|| "not an SPDX document".to_string(), ToString::to_string);
            let more = match violations.len() {
                0 | 1 => String::new(),
                n => format!(" (and {} more; run `sbom-attach validate {file}` to list them)", n - 1),
            };
            Err(Error::usage(format!("{file} is not valid SPDX: {first}{more}")))
        }
    }
}

/// Every rule broken by the document (empty when valid), and its summary when it parsed.
pub fn check(bytes: &[u8]) -> (Option<ValidSbom>, Vec<Violation>) {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            let v = Violation { path: "$".into(), rule: "json", detail: format!("not JSON: {e}") };
            return (None, vec![v]);
        }
    };
    let mut checker = Checker::default();
    let summary = checker.document(&value);
    (summary, checker.violations)
}

const DOCUMENT_FIELDS: &[&str] = &[
    "$schema",
    "SPDXID",
    "annotations",
    "comment",
    "creationInfo",
    "dataLicense",
    "documentDescribes",
    "documentNamespace",
    "externalDocumentRefs",
    "files",
    "hasExtractedLicensingInfos",
    "name",
    "packages",
    "relationships",
    "revieweds",
    "snippets",
    "spdxVersion",
];
const DOCUMENT_REQUIRED: &[&str] =
    &["SPDXID", "creationInfo", "dataLicense", "name", "spdxVersion", "documentNamespace"];
const CREATION_FIELDS: &[&str] = &["comment", "created", "creators", "licenseListVersion"];
const PACKAGE_FIELDS: &[&str] = &[
    "SPDXID",
    "annotations",
    "attributionTexts",
    "builtDate",
    "checksums",
    "comment",
    "copyrightText",
    "description",
    "downloadLocation",
    "externalRefs",
    "filesAnalyzed",
    "hasFiles",
    "homepage",
    "licenseComments",
    "licenseConcluded",
    "licenseDeclared",
    "licenseInfoFromFiles",
    "name",
    "originator",
    "packageFileName",
    "packageVerificationCode",
    "primaryPackagePurpose",
    "releaseDate",
    "sourceInfo",
    "summary",
    "supplier",
    "validUntilDate",
    "versionInfo",
];
const FILE_FIELDS: &[&str] = &[
    "SPDXID",
    "annotations",
    "artifactOfs",
    "attributionTexts",
    "checksums",
    "comment",
    "copyrightText",
    "fileContributors",
    "fileDependencies",
    "fileName",
    "fileTypes",
    "licenseComments",
    "licenseConcluded",
    "licenseInfoInFiles",
    "noticeText",
];
const SNIPPET_FIELDS: &[&str] = &[
    "SPDXID",
    "annotations",
    "attributionTexts",
    "comment",
    "copyrightText",
    "licenseComments",
    "licenseConcluded",
    "licenseInfoInSnippets",
    "name",
    "ranges",
    "snippetFromFile",
];
const RELATIONSHIP_FIELDS: &[&str] = &["comment", "relatedSpdxElement", "relationshipType", "spdxElementId"];
const CHECKSUM_FIELDS: &[&str] = &["algorithm", "checksumValue"];
const EXTERNAL_REF_FIELDS: &[&str] = &["comment", "referenceCategory", "referenceLocator", "referenceType"];
const VERIFICATION_CODE_FIELDS: &[&str] =
    &["packageVerificationCodeExcludedFiles", "packageVerificationCodeValue"];
const ANNOTATION_FIELDS: &[&str] = &["annotationDate", "annotationType", "annotator", "comment"];
const EXTRACTED_FIELDS: &[&str] = &["comment", "crossRefs", "extractedText", "licenseId", "name", "seeAlsos"];
const EXTERNAL_DOCUMENT_FIELDS: &[&str] = &["checksum", "externalDocumentId", "spdxDocument"];
const REVIEW_FIELDS: &[&str] = &["comment", "reviewDate", "reviewer"];

/// Checksum algorithms of the 2.3 schema, with the hex length where it is fixed.
const CHECKSUM_ALGORITHMS: &[(&str, Option<usize>)] = &[
    ("SHA1", Some(40)),
    ("SHA224", Some(56)),
    ("SHA256", Some(64)),
    ("SHA384", Some(96)),
    ("SHA512", Some(128)),
    ("SHA3-256", Some(64)),
    ("SHA3-384", Some(96)),
    ("SHA3-512", Some(128)),
    ("BLAKE2b-256", Some(64)),
    ("BLAKE2b-384", Some(96)),
    ("BLAKE2b-512", Some(128)),
    ("BLAKE3", None),
    ("MD2", Some(32)),
    ("MD4", Some(32)),
    ("MD5", Some(32)),
    ("MD6", None),
    ("ADLER32", Some(8)),
];
const REFERENCE_CATEGORIES: &[&str] =
    &["OTHER", "PERSISTENT-ID", "PERSISTENT_ID", "SECURITY", "PACKAGE-MANAGER", "PACKAGE_MANAGER"];
const PURPOSES: &[&str] = &[
    "OTHER",
    "INSTALL",
    "ARCHIVE",
    "FIRMWARE",
    "APPLICATION",
    "FRAMEWORK",
    "LIBRARY",
    "CONTAINER",
    "SOURCE",
    "DEVICE",
    "OPERATING_SYSTEM",
    "FILE",
];
const RELATIONSHIP_TYPES: &[&str] = &[
    "AMENDS",
    "ANCESTOR_OF",
    "BUILD_DEPENDENCY_OF",
    "BUILD_TOOL_OF",
    "CONTAINED_BY",
    "CONTAINS",
    "COPY_OF",
    "DATA_FILE_OF",
    "DEPENDENCY_MANIFEST_OF",
    "DEPENDENCY_OF",
    "DEPENDS_ON",
    "DESCENDANT_OF",
    "DESCRIBED_BY",
    "DESCRIBES",
    "DEV_DEPENDENCY_OF",
    "DEV_TOOL_OF",
    "DISTRIBUTION_ARTIFACT",
    "DOCUMENTATION_OF",
    "DYNAMIC_LINK",
    "EXAMPLE_OF",
    "EXPANDED_FROM_ARCHIVE",
    "FILE_ADDED",
    "FILE_DELETED",
    "FILE_MODIFIED",
    "GENERATED_FROM",
    "GENERATES",
    "HAS_PREREQUISITE",
    "METAFILE_OF",
    "OPTIONAL_COMPONENT_OF",
    "OPTIONAL_DEPENDENCY_OF",
    "OTHER",
    "PACKAGE_OF",
    "PATCH_APPLIED",
    "PATCH_FOR",
    "PREREQUISITE_FOR",
    "PROVIDED_DEPENDENCY_OF",
    "REQUIREMENT_DESCRIPTION_FOR",
    "RUNTIME_DEPENDENCY_OF",
    "SPECIFICATION_FOR",
    "STATIC_LINK",
    "TEST_CASE_OF",
    "TEST_DEPENDENCY_OF",
    "TEST_OF",
    "TEST_TOOL_OF",
    "VARIANT_OF",
];

static SPDX_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^SPDXRef-[A-Za-z0-9.\-]+$").unwrap());
// ASCII digits (`[0-9]`): a timestamp has no others, and Unicode `\d` takes 0.3 ms to compile.
static CREATED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$").unwrap());
static PURL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^pkg:.+(/.+)?/.+(@.+)?(\?.+)?(#.+)?$").unwrap());
static URI: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s#]+$").unwrap());
static DOWNLOAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)^(?:(?:(?:git|hg|svn|bzr)\+)?(?:https?|ssh|git|svn|sftp|ftp)://",
        r"(?:[\w\-.!~*'()%;:&=+$,]+@)?[a-z0-9]+(?:[\-.][a-z0-9]+)*\.[a-z]{2,5}(?::[0-9]{1,5})?(?:/\S*)?",
        r"|git\+git@[a-z0-9.\-]+:[a-z0-9/\\.@\-]+|bzr\+lp:[a-z0-9.\-]+)$",
    ))
    .unwrap()
});

/// True when `location` is a valid SPDX `downloadLocation`: `NONE`, `NOASSERTION`, a URL on a
/// DNS host, or a VCS location (`git+https://host/repo@rev`). Catalogers write `NOASSERTION`
/// for anything else (registries on IP addresses, local paths).
pub fn is_valid_download_location(location: &str) -> bool {
    matches!(location, "NONE" | "NOASSERTION") || DOWNLOAD.is_match(location)
}

#[derive(Default)]
struct Checker {
    violations: Vec<Violation>,
    ids: BTreeMap<String, String>,
}

impl Checker {
    fn report(&mut self, path: &str, rule: &'static str, detail: impl Into<String>) {
        self.violations.push(Violation { path: path.to_string(), rule, detail: detail.into() });
    }

    fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        fields: &[&str],
        required: &[&str],
    ) -> Option<&'v serde_json::Map<String, Value>> {
        let Some(map) = value.as_object() else {
            self.report(path, "type", "must be a JSON object");
            return None;
        };
        for key in map.keys() {
            if !fields.contains(&key.as_str()) {
                self.report(
                    &format!("{path}.{key}"),
                    "unknown-field",
                    format!("`{key}` is not an SPDX 2.3 field here"),
                );
            }
        }
        for key in required {
            if !map.contains_key(*key) {
                self.report(&format!("{path}.{key}"), "required", format!("`{key}` is required"));
            }
        }
        Some(map)
    }

    fn string<'v>(
        &mut self,
        map: &'v serde_json::Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v str> {
        let value = map.get(key)?;
        let s = value.as_str();
        if s.is_none() {
            self.report(&format!("{path}.{key}"), "type", "must be a string");
        }
        s
    }

    fn array<'v>(&mut self, map: &'v serde_json::Map<String, Value>, path: &str, key: &str) -> &'v [Value] {
        match map.get(key) {
            None => &[],
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.report(&format!("{path}.{key}"), "type", "must be an array");
                &[]
            }
        }
    }

    fn id(&mut self, path: &str, id: &str) {
        if !SPDX_ID.is_match(id) {
            self.report(path, "spdxid", format!("`{id}` must match SPDXRef-[A-Za-z0-9.-]+ (no `_`)"));
        }
        if let Some(first) = self.ids.insert(id.to_string(), path.to_string()) {
            self.report(path, "spdxid-unique", format!("`{id}` is already used at {first}"));
        }
    }

    fn document(&mut self, value: &Value) -> Option<ValidSbom> {
        let doc = self.object(value, "$", DOCUMENT_FIELDS, DOCUMENT_REQUIRED)?;
        let version = self.string(doc, "$", "spdxVersion").unwrap_or_default().to_string();
        if doc.contains_key("spdxVersion") && !matches!(version.as_str(), "SPDX-2.2" | "SPDX-2.3") {
            self.report("$.spdxVersion", "spdx-version", format!("`{version}` must be SPDX-2.2 or SPDX-2.3"));
        }
        if let Some(license) = self.string(doc, "$", "dataLicense")
            && license != "CC0-1.0"
        {
            self.report("$.dataLicense", "data-license", format!("`{license}` must be CC0-1.0"));
        }
        if let Some(id) = self.string(doc, "$", "SPDXID") {
            // Relationships name the document as SPDXRef-DOCUMENT whatever its SPDXID says.
            self.ids.insert("SPDXRef-DOCUMENT".into(), "$.SPDXID".into());
            if id != "SPDXRef-DOCUMENT" {
                self.report("$.SPDXID", "document-id", format!("`{id}` must be SPDXRef-DOCUMENT"));
            }
        }
        let name = self.string(doc, "$", "name").unwrap_or_default().to_string();
        if let Some(ns) = self.string(doc, "$", "documentNamespace")
            && !URI.is_match(ns)
        {
            self.report(
                "$.documentNamespace",
                "namespace",
                format!("`{ns}` must be an absolute URI with a scheme and no `#`"),
            );
        }
        if let Some(info) = doc.get("creationInfo") {
            self.creation_info(info);
        }
        let declared: BTreeSet<String> = self
            .array(doc, "$", "hasExtractedLicensingInfos")
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let path = format!("$.hasExtractedLicensingInfos[{i}]");
                let map = self.object(item, &path, EXTRACTED_FIELDS, &["extractedText", "licenseId"])?;
                let id = self.string(map, &path, "licenseId")?;
                if !id.starts_with("LicenseRef-") {
                    self.report(
                        &format!("{path}.licenseId"),
                        "license-ref",
                        format!("`{id}` must start with LicenseRef-"),
                    );
                }
                Some(id.to_string())
            })
            .collect();
        for (i, item) in self.array(doc, "$", "externalDocumentRefs").iter().enumerate() {
            let path = format!("$.externalDocumentRefs[{i}]");
            if let Some(map) = self.object(item, &path, EXTERNAL_DOCUMENT_FIELDS, EXTERNAL_DOCUMENT_FIELDS)
                && let Some(checksum) = map.get("checksum")
            {
                self.checksum(checksum, &format!("{path}.checksum"));
            }
        }
        for (i, item) in self.array(doc, "$", "revieweds").iter().enumerate() {
            self.object(item, &format!("$.revieweds[{i}]"), REVIEW_FIELDS, &["reviewDate"]);
        }
        self.annotations(doc, "$");
        let mut packages = Vec::new();
        let mut unanalyzed = BTreeSet::new();
        for (i, item) in self.array(doc, "$", "packages").iter().enumerate() {
            let path = format!("$.packages[{i}]");
            if let Some(summary) = self.package(item, &path, &declared, &mut unanalyzed) {
                packages.push(summary);
            }
        }
        for (i, item) in self.array(doc, "$", "files").iter().enumerate() {
            self.file(item, &format!("$.files[{i}]"), &declared);
        }
        for (i, item) in self.array(doc, "$", "snippets").iter().enumerate() {
            let path = format!("$.snippets[{i}]");
            if let Some(map) =
                self.object(item, &path, SNIPPET_FIELDS, &["SPDXID", "name", "ranges", "snippetFromFile"])
                && let Some(id) = self.string(map, &path, "SPDXID")
            {
                self.id(&format!("{path}.SPDXID"), id);
            }
        }
        let mut describes: Vec<String> = Vec::new();
        for (i, item) in self.array(doc, "$", "documentDescribes").iter().enumerate() {
            match item.as_str() {
                Some(id) => describes.push(id.to_string()),
                None => self.report(&format!("$.documentDescribes[{i}]"), "type", "must be a string"),
            }
        }
        for (i, item) in self.array(doc, "$", "relationships").iter().enumerate() {
            let path = format!("$.relationships[{i}]");
            if let Some((from, kind, to)) = self.relationship(item, &path, &unanalyzed) {
                match kind.as_str() {
                    "DESCRIBES" if from == "SPDXRef-DOCUMENT" => describes.push(to),
                    "DESCRIBED_BY" if to == "SPDXRef-DOCUMENT" => describes.push(from),
                    _ => {}
                }
            }
        }
        for (i, id) in describes.iter().enumerate() {
            if !self.ids.contains_key(id) && !is_external(id) {
                self.report(
                    &format!("$.documentDescribes[{i}]"),
                    "relationship-endpoint",
                    format!("`{id}` is not an element of the document"),
                );
            }
        }
        if describes.is_empty() {
            self.report(
                "$.relationships",
                "describes",
                "no `SPDXRef-DOCUMENT DESCRIBES …` relationship names what the document is about",
            );
        }
        describes.sort();
        describes.dedup();
        Some(ValidSbom {
            bytes: Vec::new(),
            digest: Digest::of(b""),
            spdx_version: version,
            name,
            packages,
            describes,
        })
    }

    fn creation_info(&mut self, info: &Value) {
        let path = "$.creationInfo";
        let Some(map) = self.object(info, path, CREATION_FIELDS, &["created", "creators"]) else { return };
        if let Some(created) = self.string(map, path, "created")
            && (!CREATED.is_match(created)
                || created.trim_end_matches('Z').parse::<jiff::civil::DateTime>().is_err())
        {
            self.report(
                "$.creationInfo.created",
                "created",
                format!("`{created}` must be YYYY-MM-DDThh:mm:ssZ (UTC, no fractional seconds)"),
            );
        }
        let creators = self.array(map, path, "creators");
        if map.contains_key("creators") && creators.is_empty() {
            self.report("$.creationInfo.creators", "creators", "must name at least one creator");
        }
        for (i, creator) in creators.iter().enumerate() {
            let ok = creator.as_str().is_some_and(|c| {
                ["Tool: ", "Organization: ", "Person: "]
                    .iter()
                    .any(|p| c.strip_prefix(p).is_some_and(|rest| !rest.trim().is_empty()))
            });
            if !ok {
                self.report(
                    &format!("$.creationInfo.creators[{i}]"),
                    "creators",
                    format!("{creator} must start with `Tool: `, `Organization: ` or `Person: `"),
                );
            }
        }
    }

    fn annotations(&mut self, map: &serde_json::Map<String, Value>, path: &str) {
        for (i, item) in self.array(map, path, "annotations").iter().enumerate() {
            self.object(item, &format!("{path}.annotations[{i}]"), ANNOTATION_FIELDS, ANNOTATION_FIELDS);
        }
    }

    fn checksum(&mut self, value: &Value, path: &str) {
        let Some(map) = self.object(value, path, CHECKSUM_FIELDS, CHECKSUM_FIELDS) else { return };
        let (Some(algorithm), Some(hex)) =
            (self.string(map, path, "algorithm"), self.string(map, path, "checksumValue"))
        else {
            return;
        };
        match CHECKSUM_ALGORITHMS.iter().find(|(a, _)| *a == algorithm) {
            None => self.report(
                &format!("{path}.algorithm"),
                "checksum",
                format!("`{algorithm}` is not an SPDX checksum algorithm"),
            ),
            Some((_, len)) => {
                let hex_ok = hex.bytes().all(|b| b.is_ascii_hexdigit()) && len.is_none_or(|l| hex.len() == l);
                if !hex_ok {
                    self.report(
                        &format!("{path}.checksumValue"),
                        "checksum",
                        format!("`{hex}` is not a {algorithm} value in hex"),
                    );
                }
            }
        }
    }

    fn license(&mut self, path: &str, expression: &str, declared: &BTreeSet<String>) {
        if matches!(expression, "NONE" | "NOASSERTION") {
            return;
        }
        let mode = ParseMode { allow_deprecated: true, ..ParseMode::STRICT };
        match Expression::parse_mode(expression, mode) {
            Err(e) => self.report(
                path,
                "license-expression",
                format!("`{expression}` is not an SPDX license expression: {}", e.reason),
            ),
            Ok(parsed) => {
                for req in parsed.requirements() {
                    if let LicenseItem::Other(r) = &req.req.license
                        && r.doc_ref.is_none()
                        && !declared.contains(&format!("LicenseRef-{}", r.lic_ref))
                    {
                        self.report(
                            path,
                            "license-ref-undeclared",
                            format!(
                                "`LicenseRef-{}` is not declared in hasExtractedLicensingInfos",
                                r.lic_ref
                            ),
                        );
                    }
                }
            }
        }
    }

    fn package(
        &mut self,
        value: &Value,
        path: &str,
        declared: &BTreeSet<String>,
        unanalyzed: &mut BTreeSet<String>,
    ) -> Option<PackageSummary> {
        let map = self.object(value, path, PACKAGE_FIELDS, &["SPDXID", "name", "downloadLocation"])?;
        let id = self.string(map, path, "SPDXID");
        if let Some(id) = id {
            self.id(&format!("{path}.SPDXID"), id);
        }
        if let Some(location) = self.string(map, path, "downloadLocation")
            && !is_valid_download_location(location)
        {
            self.report(&format!("{path}.downloadLocation"), "download-location", format!("`{location}` must be NONE, NOASSERTION, a URL or a VCS location like git+https://host/repo@rev"));
        }
        for key in ["licenseConcluded", "licenseDeclared"] {
            if let Some(expression) = self.string(map, path, key) {
                self.license(&format!("{path}.{key}"), expression, declared);
            }
        }
        let from_files = self.array(map, path, "licenseInfoFromFiles");
        for (i, item) in from_files.iter().enumerate() {
            if let Some(expression) = item.as_str() {
                self.license(&format!("{path}.licenseInfoFromFiles[{i}]"), expression, declared);
            }
        }
        if let Some(purpose) = self.string(map, path, "primaryPackagePurpose")
            && !PURPOSES.contains(&purpose)
        {
            self.report(
                &format!("{path}.primaryPackagePurpose"),
                "primary-package-purpose",
                format!("`{purpose}` is not one of {}", PURPOSES.join(", ")),
            );
        }
        match map.get("filesAnalyzed") {
            Some(Value::Bool(false)) => {
                for key in ["licenseInfoFromFiles", "packageVerificationCode", "hasFiles"] {
                    if map.contains_key(key) {
                        self.report(
                            &format!("{path}.{key}"),
                            "files-analyzed",
                            format!("`{key}` is not allowed when filesAnalyzed is false"),
                        );
                    }
                }
                unanalyzed.extend(id.map(str::to_string));
            }
            Some(Value::Bool(true)) | None => {}
            Some(_) => self.report(&format!("{path}.filesAnalyzed"), "type", "must be true or false"),
        }
        if let Some(code) = map.get("packageVerificationCode") {
            self.object(
                code,
                &format!("{path}.packageVerificationCode"),
                VERIFICATION_CODE_FIELDS,
                &["packageVerificationCodeValue"],
            );
        }
        for (i, item) in self.array(map, path, "checksums").iter().enumerate() {
            self.checksum(item, &format!("{path}.checksums[{i}]"));
        }
        self.annotations(map, path);
        let mut purls = Vec::new();
        for (i, item) in self.array(map, path, "externalRefs").iter().enumerate() {
            let ref_path = format!("{path}.externalRefs[{i}]");
            let Some(r) = self.object(
                item,
                &ref_path,
                EXTERNAL_REF_FIELDS,
                &["referenceCategory", "referenceLocator", "referenceType"],
            ) else {
                continue;
            };
            if let Some(category) = self.string(r, &ref_path, "referenceCategory")
                && !REFERENCE_CATEGORIES.contains(&category)
            {
                self.report(
                    &format!("{ref_path}.referenceCategory"),
                    "reference-category",
                    format!("`{category}` is not one of {}", REFERENCE_CATEGORIES.join(", ")),
                );
            }
            if self.string(r, &ref_path, "referenceType") == Some("purl")
                && let Some(locator) = self.string(r, &ref_path, "referenceLocator")
            {
                if PURL.is_match(locator) {
                    purls.push(locator.to_string());
                } else {
                    self.report(
                        &format!("{ref_path}.referenceLocator"),
                        "purl",
                        format!("`{locator}` is not a purl (pkg:type/namespace/name@version)"),
                    );
                }
            }
        }
        Some(PackageSummary {
            name: self.string(map, path, "name").unwrap_or_default().to_string(),
            version: map.get("versionInfo").and_then(Value::as_str).map(str::to_string),
            purls,
        })
    }

    fn file(&mut self, value: &Value, path: &str, declared: &BTreeSet<String>) {
        let Some(map) = self.object(value, path, FILE_FIELDS, &["SPDXID", "checksums", "fileName"]) else {
            return;
        };
        if let Some(id) = self.string(map, path, "SPDXID") {
            self.id(&format!("{path}.SPDXID"), id);
        }
        for (i, item) in self.array(map, path, "checksums").iter().enumerate() {
            self.checksum(item, &format!("{path}.checksums[{i}]"));
        }
        if let Some(expression) = self.string(map, path, "licenseConcluded") {
            self.license(&format!("{path}.licenseConcluded"), expression, declared);
        }
        self.annotations(map, path);
    }

    fn relationship(
        &mut self,
        value: &Value,
        path: &str,
        unanalyzed: &BTreeSet<String>,
    ) -> Option<(String, String, String)> {
        let map = self.object(
            value,
            path,
            RELATIONSHIP_FIELDS,
            &["spdxElementId", "relatedSpdxElement", "relationshipType"],
        )?;
        let from = self.string(map, path, "spdxElementId")?;
        let kind = self.string(map, path, "relationshipType")?;
        let to = self.string(map, path, "relatedSpdxElement")?;
        if !RELATIONSHIP_TYPES.contains(&kind) {
            self.report(
                &format!("{path}.relationshipType"),
                "relationship-type",
                format!("`{kind}` is not an SPDX 2.3 relationship type"),
            );
        }
        for (key, id) in [("spdxElementId", from), ("relatedSpdxElement", to)] {
            let known = self.ids.contains_key(id)
                || is_external(id)
                || (key == "relatedSpdxElement" && matches!(id, "NONE" | "NOASSERTION"));
            if !known {
                self.report(
                    &format!("{path}.{key}"),
                    "relationship-endpoint",
                    format!("`{id}` is not an element of the document"),
                );
            }
        }
        if kind == "CONTAINS"
            && unanalyzed.contains(from)
            && self.ids.get(to).is_some_and(|p| p.starts_with("$.files"))
        {
            self.report(
                path,
                "files-analyzed",
                format!("`{from}` has filesAnalyzed false and cannot CONTAIN file `{to}`"),
            );
        }
        Some((from.to_string(), kind.to_string(), to.to_string()))
    }
}

fn is_external(id: &str) -> bool {
    id.starts_with("DocumentRef-") && id.contains(":SPDXRef-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        serde_json::from_str(include_str!("../tests/data/minimal.spdx.json")).unwrap()
    }

    fn rules_broken(doc: &Value) -> Vec<(String, &'static str)> {
        check(&serde_json::to_vec(doc).unwrap()).1.into_iter().map(|v| (v.path, v.rule)).collect()
    }

    #[test]
    fn the_minimal_document_is_valid() {
        let (summary, violations) = check(&serde_json::to_vec(&minimal()).unwrap());
        assert_eq!(violations, vec![]);
        let summary = summary.unwrap();
        assert_eq!(summary.packages.len(), 2);
        assert_eq!(summary.describes, ["SPDXRef-Package-example"]);
        assert_eq!(summary.packages[0].purls, ["pkg:cargo/example@1.0.0"]);
    }

    /// Each mutation of the minimal document breaks exactly the named rule at the named path.
    #[test]
    fn each_mutation_breaks_its_rule() {
        type Mutation = fn(&mut Value);
        let cases: &[(&str, Mutation, &str, &str)] = &[
            ("version", |d| d["spdxVersion"] = json!("SPDX-2.1"), "$.spdxVersion", "spdx-version"),
            ("data license", |d| d["dataLicense"] = json!("MIT"), "$.dataLicense", "data-license"),
            ("document id", |d| d["SPDXID"] = json!("SPDXRef-DOC"), "$.SPDXID", "document-id"),
            (
                "namespace #",
                |d| d["documentNamespace"] = json!("https://x.org/a#b"),
                "$.documentNamespace",
                "namespace",
            ),
            (
                "namespace relative",
                |d| d["documentNamespace"] = json!("spdxdocs/a"),
                "$.documentNamespace",
                "namespace",
            ),
            (
                "fractional seconds",
                |d| d["creationInfo"]["created"] = json!("2024-01-01T00:00:00.5Z"),
                "$.creationInfo.created",
                "created",
            ),
            (
                "bare creator",
                |d| d["creationInfo"]["creators"] = json!(["mytool"]),
                "$.creationInfo.creators[0]",
                "creators",
            ),
            (
                "no creators",
                |d| d["creationInfo"]["creators"] = json!([]),
                "$.creationInfo.creators",
                "creators",
            ),
            ("unknown top field", |d| d["extra"] = json!(1), "$.extra", "unknown-field"),
            (
                "unknown package field",
                |d| d["packages"][0]["purl"] = json!("x"),
                "$.packages[0].purl",
                "unknown-field",
            ),
            (
                "missing name",
                |d| {
                    d["packages"][1].as_object_mut().unwrap().remove("name");
                },
                "$.packages[1].name",
                "required",
            ),
            (
                "underscore id",
                |d| {
                    d["packages"][1]["SPDXID"] = json!("SPDXRef-serde_json");
                    d["relationships"][1]["relatedSpdxElement"] = json!("SPDXRef-serde_json");
                },
                "$.packages[1].SPDXID",
                "spdxid",
            ),
            (
                "duplicate id",
                |d| {
                    d["packages"][1]["SPDXID"] = json!("SPDXRef-Package-example");
                    d["relationships"].as_array_mut().unwrap().pop();
                },
                "$.packages[1].SPDXID",
                "spdxid-unique",
            ),
            (
                "bad location",
                |d| {
                    d["packages"][1]["downloadLocation"] =
                        json!("registry+https://github.com/rust-lang/crates.io-index")
                },
                "$.packages[1].downloadLocation",
                "download-location",
            ),
            (
                "ip location",
                |d| d["packages"][1]["downloadLocation"] = json!("http://127.0.0.1:5000/x"),
                "$.packages[1].downloadLocation",
                "download-location",
            ),
            (
                "bad license",
                |d| d["packages"][0]["licenseDeclared"] = json!("MIT/Apache-2.0"),
                "$.packages[0].licenseDeclared",
                "license-expression",
            ),
            (
                "undeclared ref",
                |d| d["packages"][0]["licenseDeclared"] = json!("LicenseRef-mine"),
                "$.packages[0].licenseDeclared",
                "license-ref-undeclared",
            ),
            (
                "bad purl",
                |d| d["packages"][0]["externalRefs"][0]["referenceLocator"] = json!("cargo/example"),
                "$.packages[0].externalRefs[0].referenceLocator",
                "purl",
            ),
            (
                "bad category",
                |d| d["packages"][0]["externalRefs"][0]["referenceCategory"] = json!("PACKAGE"),
                "$.packages[0].externalRefs[0].referenceCategory",
                "reference-category",
            ),
            (
                "bad checksum",
                |d| d["packages"][1]["checksums"] = json!([{"algorithm":"SHA256","checksumValue":"abc"}]),
                "$.packages[1].checksums[0].checksumValue",
                "checksum",
            ),
            (
                "unknown algorithm",
                |d| d["packages"][1]["checksums"] = json!([{"algorithm":"CRC32","checksumValue":"abc"}]),
                "$.packages[1].checksums[0].algorithm",
                "checksum",
            ),
            (
                "files not analyzed",
                |d| d["packages"][1]["licenseInfoFromFiles"] = json!(["MIT"]),
                "$.packages[1].licenseInfoFromFiles",
                "files-analyzed",
            ),
            (
                "bad purpose",
                |d| d["packages"][1]["primaryPackagePurpose"] = json!("LIB"),
                "$.packages[1].primaryPackagePurpose",
                "primary-package-purpose",
            ),
            (
                "bad relationship",
                |d| d["relationships"][1]["relationshipType"] = json!("USES"),
                "$.relationships[1].relationshipType",
                "relationship-type",
            ),
            (
                "dangling endpoint",
                |d| d["relationships"][1]["relatedSpdxElement"] = json!("SPDXRef-nope"),
                "$.relationships[1].relatedSpdxElement",
                "relationship-endpoint",
            ),
            (
                "no describes",
                |d| {
                    d["relationships"].as_array_mut().unwrap().remove(0);
                },
                "$.relationships",
                "describes",
            ),
        ];
        for (name, mutate, path, rule) in cases {
            let mut doc = minimal();
            mutate(&mut doc);
            assert_eq!(rules_broken(&doc), vec![(path.to_string(), *rule)], "{name}");
        }
    }

    #[test]
    fn describes_may_come_from_document_describes_and_refs_may_be_declared() {
        let mut doc = minimal();
        doc["relationships"].as_array_mut().unwrap().remove(0);
        doc["documentDescribes"] = json!(["SPDXRef-Package-example"]);
        doc["packages"][0]["licenseDeclared"] = json!("LicenseRef-mine OR MIT");
        doc["hasExtractedLicensingInfos"] =
            json!([{"licenseId":"LicenseRef-mine","extractedText":"mine","name":"mine"}]);
        doc["$schema"] = json!("https://example/schema.json");
        doc["spdxVersion"] = json!("SPDX-2.2");
        assert_eq!(rules_broken(&doc), vec![]);
    }

    #[test]
    fn validate_keeps_the_bytes_and_names_the_file() {
        let bytes = serde_json::to_vec_pretty(&minimal()).unwrap();
        let valid = validate("sbom.json", bytes.clone()).unwrap();
        assert_eq!(valid.bytes, bytes);
        assert_eq!(valid.digest, Digest::of(&bytes));
        let e = validate("bad.json", b"{\"spdxVersion\":1}".to_vec()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message().starts_with("bad.json is not valid SPDX: $."), "{e}");
        assert!(e.message().contains("more; run `sbom-attach validate bad.json`"), "{e}");
    }

    #[test]
    fn download_locations() {
        for ok in [
            "NONE",
            "NOASSERTION",
            "https://crates.io/api/v1/crates/a/1/download",
            "git+https://github.com/a/b@0123abc",
            "git+git@github.com:a/b.git",
            "https://registry.npmjs.org/@types/node/-/node-1.0.0.tgz",
        ] {
            assert!(is_valid_download_location(ok), "{ok}");
        }
        for bad in [
            "",
            "registry+https://github.com/rust-lang/crates.io-index",
            "path+file:///x",
            "file:///x",
            "http://localhost/x",
            "./vendor",
        ] {
            assert!(!is_valid_download_location(bad), "{bad}");
        }
    }
}
