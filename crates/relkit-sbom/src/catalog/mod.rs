//! Catalogers: each reads one kind of lockfile (or OS package database) into a [`Catalog`], a
//! plain list of components with the dependency edges between them. [`crate::build`] turns
//! catalogs into an SPDX document.

pub mod apk;
pub mod cargo;
pub mod dpkg;
pub mod golang;
pub mod npm;
pub mod os_release;
pub mod python;

use std::path::Path;

use relkit_core::{Error, Result};

use crate::model::Checksum;

/// What a component is, for `primaryPackagePurpose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A root: what the lockfile is for.
    Application,
    /// A dependency.
    Library,
    /// The operating system of an image.
    OperatingSystem,
}

/// One package found in a lockfile or database.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// The name as the ecosystem spells it.
    pub name: String,
    /// The version, when the source states one.
    pub version: Option<String>,
    /// The purl.
    pub purl: Option<String>,
    /// A valid SPDX `downloadLocation` (URL, `git+…@rev`, or `NOASSERTION`).
    pub download_location: String,
    /// Checksums from the source's integrity fields.
    pub checksums: Vec<Checksum>,
    /// The license as the source states it.
    pub license: Option<String>,
    /// `Organization: …` / `Person: …`, when the source names a maintainer.
    pub supplier: Option<String>,
    /// What it is.
    pub purpose: Purpose,
    /// The ecosystem, for SPDXIDs (`cargo`, `npm`, `golang`, `pypi`, `deb`, `apk`, `oci`).
    pub ecosystem: &'static str,
    /// Where it was found, when not the catalog's own source (merged catalogs).
    pub found_in: Option<String>,
}

impl Component {
    /// A dependency with no checksum, license or supplier yet.
    pub fn new(ecosystem: &'static str, name: &str, version: Option<&str>, purl: Option<String>) -> Self {
        Self {
            name: name.to_string(),
            version: version.map(str::to_string),
            purl,
            download_location: crate::model::NOASSERTION.to_string(),
            checksums: Vec::new(),
            license: None,
            supplier: None,
            purpose: Purpose::Library,
            ecosystem,
            found_in: None,
        }
    }
}

/// The components of one lockfile (or database) and the edges between them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Where the components came from (a path relative to the scanned directory or image).
    pub source: String,
    /// The components, in the source's order.
    pub components: Vec<Component>,
    /// Indexes of the roots (what the lockfile is for; the document DESCRIBES them).
    pub roots: Vec<usize>,
    /// `(from, to)`: component `from` DEPENDS_ON component `to`.
    pub depends_on: Vec<(usize, usize)>,
    /// Remarks for the user (missing licenses, overrides).
    pub notes: Vec<String>,
}

impl Catalog {
    /// Adds `other`'s components and edges (remembering where each came from); returns the
    /// index `other`'s first component now has.
    pub fn append(&mut self, other: Catalog) -> usize {
        let offset = self.components.len();
        for mut c in other.components {
            c.found_in.get_or_insert_with(|| other.source.clone());
            self.components.push(c);
        }
        self.depends_on.extend(other.depends_on.iter().map(|&(a, b)| (a + offset, b + offset)));
        self.notes.extend(other.notes);
        offset
    }
}

/// Reads a file of a lockfile catalog; a missing or unreadable file names itself.
pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::usage(format!("cannot read {}: {e}", path.display())))
}

/// A parse error naming the file, the location and the rule.
pub(crate) fn invalid(file: &str, location: &str, problem: impl std::fmt::Display) -> Error {
    Error::usage(format!("{file}: {location}: {problem}"))
}

/// Parses a TOML lockfile or manifest, naming the file and the line on failure.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].lines().count().max(1));
        let location = line.map_or_else(|| "document".to_string(), |l| format!("line {l}"));
        invalid(file, &location, e.message())
    })
}

/// Lowercase hex of some bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
