//! A directory → one SPDX document: finds the lockfiles at its top, catalogues each, checks
//! that each lockfile matches its manifest (seed 002: what built green is what ships) and
//! builds the document.

use std::path::Path;

use relkit_core::{Error, Result};

use crate::build;
use crate::catalog::{self, Catalog, Purpose, cargo, golang, npm, python};
use crate::model::Document;

/// The lockfiles we read, in the order their catalogs appear in the document.
pub const LOCKFILES: [&str; 5] = ["Cargo.lock", "package-lock.json", "go.mod", "uv.lock", "poetry.lock"];

/// How to generate.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// Generate even when a lockfile is out of sync with its manifest (said in the notes).
    pub allow_stale_lock: bool,
    /// Ask `cargo metadata` (offline) for the licenses of crates missing from cargo's registry
    /// cache, when cargo is on PATH.
    pub cargo_metadata: bool,
    /// `SOURCE_DATE_EPOCH`, for a reproducible `created`.
    pub source_date_epoch: Option<String>,
    /// The document name [default: the first root's `name-version`].
    pub name: Option<String>,
}

/// A generated document with what the user should know about it.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The document.
    pub document: Document,
    /// Its bytes (what gets written, attached or attested).
    pub bytes: Vec<u8>,
    /// `(lockfile, packages)`: what each lockfile contributed.
    pub lockfiles: Vec<(String, usize)>,
    /// Remarks (licenses unavailable, stale lock overridden).
    pub notes: Vec<String>,
}

/// Catalogues every lockfile at the top of `dir`.
pub fn catalog_dir(dir: &Path, options: &GenerateOptions) -> Result<(Vec<Catalog>, Vec<String>)> {
    let mut catalogs = Vec::new();
    let mut stale = Vec::new();
    let mut notes = Vec::new();
    for name in LOCKFILES {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        let text = catalog::read(&path)?;
        let mut c = match name {
            "Cargo.lock" => {
                let workspace =
                    dir.join("Cargo.toml").is_file().then(|| cargo::read_workspace(dir)).transpose()?;
                let mut c = cargo::parse_lock(name, &text, workspace.as_ref().map(|w| &w.members))?;
                if let Some(ws) = &workspace {
                    for component in c.components.iter_mut().filter(|c| c.purpose == Purpose::Application) {
                        component.license = ws.licenses.get(&component.name).cloned();
                    }
                    stale.extend(cargo::missing_from_lock(ws, &c).into_iter().map(|(member, dep)| {
                        format!("{dep} (a dependency of {member} in Cargo.toml, missing from Cargo.lock)")
                    }));
                }
                c
            }
            "package-lock.json" => {
                stale.extend(npm::stale_entries(dir, name, &text)?);
                npm::parse_lock(name, &text)?
            }
            "go.mod" => {
                let sum = std::fs::read_to_string(dir.join("go.sum")).ok();
                golang::parse_mod(name, &text, sum.as_deref())?
            }
            "uv.lock" => python::parse_uv(name, &text)?,
            _ => {
                let pyproject = std::fs::read_to_string(dir.join("pyproject.toml")).ok();
                python::parse_poetry(name, &text, pyproject.as_deref().map(|t| ("pyproject.toml", t)))?
            }
        };
        if name == "Cargo.lock" {
            add_crate_licenses(dir, &mut c, options, &mut notes);
        }
        notes.extend(c.notes.drain(..).map(|n| format!("{name}: {n}")));
        catalogs.push(c);
    }
    if catalogs.is_empty() {
        return Err(Error::usage(format!(
            "no lockfile in {} (looked for {}); generate one, or pass an existing SBOM with --sbom",
            dir.display(),
            LOCKFILES.join(", ")
        )));
    }
    if !stale.is_empty() {
        let list = stale.join("; ");
        if !options.allow_stale_lock {
            return Err(Error::usage(format!(
                "the lockfile is out of sync with its manifest: {list}; update the lockfile (cargo update -w, npm install) and commit it, or pass --allow-stale-lock"
            )));
        }
        notes.push(format!("--allow-stale-lock: the lockfile is out of sync with its manifest: {list}"));
    }
    Ok((catalogs, notes))
}

/// Crate licenses: from the manifests in cargo's registry cache; for crates not there, from
/// `cargo metadata` (offline) when allowed and cargo is on PATH; otherwise NOASSERTION, said
/// in the notes.
fn add_crate_licenses(dir: &Path, catalog: &mut Catalog, options: &GenerateOptions, notes: &mut Vec<String>) {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let mut licenses = cargo_home.map(|home| cargo::cached_licenses(catalog, &home)).unwrap_or_default();
    let missing = |licenses: &std::collections::BTreeMap<(String, String), String>| {
        catalog
            .components
            .iter()
            .filter(|c| c.purpose != Purpose::Application)
            .filter(|c| !licenses.contains_key(&(c.name.clone(), c.version.clone().unwrap_or_default())))
            .count()
    };
    if missing(&licenses) > 0 && options.cargo_metadata && dir.join("Cargo.toml").is_file() {
        match cargo::metadata_licenses(dir) {
            Ok(found) => licenses.extend(found),
            Err(e) => notes.push(format!("cargo metadata: {e}")),
        }
    }
    let still_missing = missing(&licenses);
    if still_missing > 0 {
        notes.push(format!("{still_missing} crates have no known license (NOASSERTION): not in cargo's registry cache (run `cargo fetch`)"));
    }
    for component in catalog.components.iter_mut().filter(|c| c.purpose != Purpose::Application) {
        if let Some(version) = &component.version {
            component.license = licenses.get(&(component.name.clone(), version.clone())).cloned();
        }
    }
}

/// Generates the document for `dir`.
pub fn generate_dir(dir: &Path, options: &GenerateOptions) -> Result<Generated> {
    let (catalogs, notes) = catalog_dir(dir, options)?;
    let fallback = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "sbom".into());
    from_catalogs(&fallback, catalogs, notes, options)
}

/// Builds the document for catalogs, named `options.name`, else after the one root, else
/// `fallback_name` (a workspace with several roots: its directory).
pub fn from_catalogs(
    fallback_name: &str,
    catalogs: Vec<Catalog>,
    notes: Vec<String>,
    options: &GenerateOptions,
) -> Result<Generated> {
    let created = build::created(options.source_date_epoch.as_deref())?;
    let name = options.name.clone().unwrap_or_else(|| {
        let roots: Vec<_> = catalogs.iter().flat_map(|c| c.roots.iter().map(|&r| &c.components[r])).collect();
        roots
            .first()
            .filter(|_| roots.len() == 1)
            .map(|root| match &root.version {
                Some(v) => format!("{}-{v}", root.name),
                None => root.name.clone(),
            })
            .unwrap_or_else(|| fallback_name.to_string())
    });
    let document = build::document(&name, &catalogs, &created);
    let bytes = build::to_bytes(&document);
    let lockfiles = catalogs.iter().map(|c| (c.source.clone(), c.components.len())).collect();
    Ok(Generated { document, bytes, lockfiles, notes })
}
