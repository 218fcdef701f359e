//! `--generate-image`: an image's layers (from a registry or an OCI layout, through
//! relkit-registry) catalogued per platform: the OS (`etc/os-release`), dpkg and apk databases,
//! and the lockfiles found in the filesystem. An index gives one document per platform bound to
//! that platform's digest, plus an index-level document that references them.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};

use relkit_core::{Error, Result};
use relkit_registry::manifest::ManifestView;
use relkit_registry::ops::resolve_digest;
use relkit_registry::{Digest, ImageRef, Location, RawManifest, Registry};
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use serde::Deserialize;
use sha1::Digest as _;

use crate::build;
use crate::catalog::dpkg::Distro;
use crate::catalog::{Catalog, Component, Purpose, apk, cargo, dpkg, golang, npm, os_release, python};
use crate::generate::{GenerateOptions, Generated, LOCKFILES, from_catalogs};
use crate::model::{Checksum, ExternalDocumentRef, Relationship};

/// Files larger than this are not read from layers (no package database or lockfile is).
const MAX_FILE: u64 = 256 * 1024 * 1024;

/// The SBOM of one platform image, bound to its digest.
#[derive(Debug, Clone)]
pub struct PlatformSbom {
    /// The platform image's manifest digest (what the SBOM is attached to).
    pub subject: Digest,
    /// `os/arch[/variant]`, when the image says.
    pub platform: Option<String>,
    /// The document.
    pub generated: Generated,
}

/// The SBOMs of an image: one per platform, and for an index, the index-level document.
#[derive(Debug, Clone)]
pub struct ImageSboms {
    /// The digest the reference resolved to.
    pub root: Digest,
    /// Per platform (one entry for a single-platform image).
    pub platforms: Vec<PlatformSbom>,
    /// For an index: the document that references the platform documents.
    pub index: Option<Generated>,
}

#[derive(Deserialize, Default)]
struct ImageConfig {
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
}

/// Generates the SBOMs of the image `reference` points to.
pub async fn generate_image<R: Registry>(
    registry: &R,
    reference: &ImageRef,
    options: &GenerateOptions,
) -> Result<ImageSboms> {
    let repo = reference.repository();
    let root = resolve_digest(registry, reference).await?;
    let manifest = read_manifest(registry, repo, &root).await?;
    let view = manifest.view()?;
    let name = image_name(reference);
    if !view.is_index(&manifest.media_type) {
        let platform = platform_sbom(registry, reference, &name, manifest, options).await?;
        return Ok(ImageSboms { root, platforms: vec![platform], index: None });
    }
    let mut platforms = Vec::new();
    for child in &view.manifests {
        let is_attestation =
            child.annotations.get("vnd.docker.reference.type").is_some_and(|t| t == "attestation-manifest");
        let unknown =
            child.extra.get("platform").and_then(|p| p.get("os")).and_then(|o| o.as_str()) == Some("unknown");
        if is_attestation || unknown {
            continue;
        }
        let child_manifest = read_manifest(registry, repo, &child.digest).await?;
        platforms.push(platform_sbom(registry, reference, &name, child_manifest, options).await?);
    }
    if platforms.is_empty() {
        return Err(Error::usage(format!(
            "{reference} is an index without platform images; nothing to catalogue"
        )));
    }
    let index = index_document(reference, &name, &root, &platforms, options)?;
    Ok(ImageSboms { root, platforms, index: Some(index) })
}

async fn read_manifest<R: Registry>(registry: &R, repo: &str, digest: &Digest) -> Result<RawManifest> {
    let fetched = registry.get_manifest(repo, digest.as_str()).await?.ok_or_else(|| {
        Error::failed(format!("manifest {digest} is missing from {repo} on {}", registry.name()))
    })?;
    Ok(fetched.manifest)
}

/// The image's name for documents and purls: the repository path's last segment.
fn image_name(reference: &ImageRef) -> String {
    match &reference.location {
        Location::Registry { repository, .. } => {
            repository.rsplit('/').next().unwrap_or(repository).to_string()
        }
        Location::Layout { dir } => {
            dir.file_name().map_or_else(|| "image".into(), |n| n.to_string_lossy().into_owned())
        }
    }
}

fn repository_url(reference: &ImageRef) -> Option<String> {
    match &reference.location {
        Location::Registry { registry, repository } => Some(format!("{registry}/{repository}")),
        Location::Layout { .. } => None,
    }
}

async fn platform_sbom<R: Registry>(
    registry: &R,
    reference: &ImageRef,
    name: &str,
    manifest: RawManifest,
    options: &GenerateOptions,
) -> Result<PlatformSbom> {
    let repo = reference.repository();
    let view: ManifestView = manifest.view()?;
    let config: ImageConfig = match &view.config {
        Some(c) => serde_json::from_slice(&registry.get_blob(repo, &c.digest).await?).unwrap_or_default(),
        None => ImageConfig::default(),
    };
    let mut files = Filesystem::default();
    for layer in &view.layers {
        let spooled = spool(registry, repo, &layer.digest).await?;
        files
            .apply_layer(&layer.media_type, std::io::BufReader::new(spooled))
            .map_err(|e| e.context(format!("layer {}", layer.digest)))?;
    }
    let platform = match (&config.os, &config.architecture) {
        (Some(os), Some(arch)) => Some(match &config.variant {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        }),
        _ => None,
    };
    let subject = manifest.digest.clone();
    let mut image = Component::new(
        "oci",
        name,
        Some(subject.as_str()),
        crate::purl::oci(
            repository_url(reference).as_deref(),
            name,
            subject.as_str(),
            config.architecture.as_deref(),
        ),
    );
    image.purpose = Purpose::Application;
    image.checksums.push(Checksum { algorithm: "SHA256".into(), checksum_value: subject.hex().to_string() });
    let source = format!("image {}@{subject}", reference.repository_name());
    let mut catalog =
        Catalog { source: source.clone(), components: vec![image], roots: vec![0], ..Default::default() };
    let (found, notes) = files.catalogs();
    for Found { catalog: other, every_package } in found {
        let roots: Vec<usize> =
            if every_package { (0..other.components.len()).collect() } else { other.roots.clone() };
        let offset = catalog.append(other);
        catalog.depends_on.extend(roots.into_iter().map(|r| (0, r + offset)));
    }
    let mut options = options.clone();
    let doc_name = match &platform {
        Some(p) => format!("{}@{subject} ({p})", reference.repository_name()),
        None => format!("{}@{subject}", reference.repository_name()),
    };
    options.name.get_or_insert(doc_name);
    let generated = from_catalogs(name, vec![catalog], notes, &options)?;
    Ok(PlatformSbom { subject, platform, generated })
}

fn index_document(
    reference: &ImageRef,
    name: &str,
    root: &Digest,
    platforms: &[PlatformSbom],
    options: &GenerateOptions,
) -> Result<Generated> {
    let url = repository_url(reference);
    let mut index = Component::new(
        "oci",
        name,
        Some(root.as_str()),
        crate::purl::oci(url.as_deref(), name, root.as_str(), None),
    );
    index.purpose = Purpose::Application;
    index.checksums.push(Checksum { algorithm: "SHA256".into(), checksum_value: root.hex().to_string() });
    let mut catalog = Catalog {
        source: format!("image index {}@{root}", reference.repository_name()),
        components: vec![index],
        roots: vec![0],
        ..Default::default()
    };
    for p in platforms {
        let arch = p.platform.as_deref().and_then(|p| p.split('/').nth(1));
        let mut c = Component::new(
            "oci",
            name,
            Some(p.subject.as_str()),
            crate::purl::oci(url.as_deref(), name, p.subject.as_str(), arch),
        );
        c.checksums
            .push(Checksum { algorithm: "SHA256".into(), checksum_value: p.subject.hex().to_string() });
        catalog.depends_on.push((0, catalog.components.len()));
        catalog.components.push(c);
    }
    let mut options = options.clone();
    options.name.get_or_insert(format!("{}@{root} (index)", reference.repository_name()));
    let mut generated = from_catalogs(name, vec![catalog], Vec::new(), &options)?;
    let document = &mut generated.document;
    for (i, p) in platforms.iter().enumerate() {
        let ref_id = format!("DocumentRef-platform-{}", i + 1);
        let sha1: String =
            sha1::Sha1::digest(&p.generated.bytes).iter().map(|b| format!("{b:02x}")).collect();
        document.external_document_refs.push(ExternalDocumentRef {
            external_document_id: ref_id.clone(),
            spdx_document: p.generated.document.document_namespace.clone(),
            checksum: Checksum { algorithm: "SHA1".into(), checksum_value: sha1 },
        });
        let package_id = document.packages[i + 1].spdx_id.clone();
        document.relationships.push(Relationship::new(
            &package_id,
            "DESCRIBED_BY",
            &format!("{ref_id}:SPDXRef-DOCUMENT"),
        ));
    }
    build::seal(document);
    generated.bytes = build::to_bytes(document);
    Ok(generated)
}

/// Streams a blob (digest-checked as it flows) into an anonymous temporary file, so a layer of
/// any size is read with bounded memory.
async fn spool<R: Registry>(registry: &R, repo: &str, digest: &Digest) -> Result<std::fs::File> {
    use futures::StreamExt as _;
    use std::io::{Seek as _, Write as _};
    let failed =
        |e: std::io::Error| Error::failed(format!("cannot spool layer {digest} to a temporary file: {e}"));
    let mut file = tempfile::tempfile().map_err(failed)?;
    let mut stream = registry.open_blob(repo, digest).await?;
    while let Some(chunk) = stream.next().await {
        file.write_all(&chunk?).map_err(failed)?;
    }
    file.rewind().map_err(failed)?;
    Ok(file)
}

/// A zstd stream of one or more frames (as zstd:chunked layers are), skippable frames skipped.
struct ZstdFrames<R: BufRead> {
    source: R,
    decoder: FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                while self.decoder.can_collect() < buf.len() && !self.decoder.is_finished() {
                    let wanted = BlockDecodingStrategy::UptoBytes(buf.len() - self.decoder.can_collect());
                    self.decoder.decode_blocks(&mut self.source, wanted).map_err(std::io::Error::other)?;
                }
                let n = self.decoder.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                self.in_frame = false;
            }
            if self.source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            match self.decoder.init(&mut self.source) {
                Ok(()) => self.in_frame = true,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    std::io::copy(&mut (&mut self.source).take(u64::from(length)), &mut std::io::sink())?;
                }
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
    }
}

/// The files of interest in an image's merged layers: package databases, os-release and
/// lockfiles with their manifests.
#[derive(Debug, Default)]
pub struct Filesystem {
    files: BTreeMap<String, Vec<u8>>,
}

/// Basenames worth keeping besides the lockfiles.
const COMPANIONS: [&str; 4] = ["Cargo.toml", "go.sum", "pyproject.toml", "package.json"];

fn interesting(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    matches!(path, "var/lib/dpkg/status" | "lib/apk/db/installed" | "etc/os-release" | "usr/lib/os-release")
        || path.starts_with("var/lib/dpkg/status.d/")
        || ((LOCKFILES.contains(&base) || COMPANIONS.contains(&base)) && !path.contains("node_modules/"))
}

impl Filesystem {
    /// Applies one layer (tar, gzip- or zstd-compressed or not) on top of what is there, honouring
    /// whiteouts (`.wh.NAME` deletes, `.wh..wh..opq` empties a directory).
    pub fn apply_layer(&mut self, media_type: &str, mut layer: impl BufRead) -> Result<()> {
        let head = layer.fill_buf().map_err(|e| Error::failed(format!("cannot read layer: {e}")))?;
        let gzip = media_type.ends_with("gzip") || head.starts_with(&[0x1f, 0x8b]);
        let zstd = media_type.ends_with("zstd") || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        let reader: Box<dyn Read + '_> = if gzip {
            Box::new(flate2::read::GzDecoder::new(layer))
        } else if zstd {
            Box::new(ZstdFrames { source: layer, decoder: FrameDecoder::new(), in_frame: false })
        } else {
            Box::new(layer)
        };
        let mut archive = tar::Archive::new(reader);
        let entries =
            archive.entries().map_err(|e| Error::failed(format!("layer is not a tar archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::failed(format!("layer is not a tar archive: {e}")))?;
            let raw_path = entry
                .path()
                .map_err(|e| Error::failed(format!("bad path in layer: {e}")))?
                .to_string_lossy()
                .into_owned();
            let path =
                raw_path.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/').to_string();
            let (dir, base) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            if base == ".wh..wh..opq" {
                let prefix = format!("{dir}/");
                self.files.retain(|k, _| !k.starts_with(&prefix));
                continue;
            }
            if let Some(deleted) = base.strip_prefix(".wh.") {
                let target = if dir.is_empty() { deleted.to_string() } else { format!("{dir}/{deleted}") };
                let prefix = format!("{target}/");
                self.files.retain(|k, _| *k != target && !k.starts_with(&prefix));
                continue;
            }
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                continue;
            }
            // A file replaced by a symlink or anything else is gone from our view.
            self.files.remove(&path);
            if kind.is_file() && interesting(&path) && entry.size() <= MAX_FILE {
                let mut content = Vec::with_capacity(entry.size() as usize);
                entry
                    .read_to_end(&mut content)
                    .map_err(|e| Error::failed(format!("cannot read {path} from layer: {e}")))?;
                self.files.insert(path, content);
            }
        }
        Ok(())
    }

    fn text(&self, path: &str) -> Option<String> {
        self.files.get(path).map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// The catalogs found, and notes on lockfiles that could not be read.
    pub fn catalogs(&self) -> (Vec<Found>, Vec<String>) {
        let mut out = Vec::new();
        let mut notes = Vec::new();
        let release = self
            .text("etc/os-release")
            .or_else(|| self.text("usr/lib/os-release"))
            .map(|t| os_release::parse(&t))
            .unwrap_or_default();
        let distro =
            Distro { id: release.get("ID").cloned(), version_id: release.get("VERSION_ID").cloned() };
        if let Some(id) = &distro.id {
            let mut os = Component::new("os", id, distro.version_id.as_deref(), None);
            os.purpose = Purpose::OperatingSystem;
            os.supplier = None;
            let source = if self.files.contains_key("etc/os-release") {
                "etc/os-release"
            } else {
                "usr/lib/os-release"
            };
            let catalog =
                Catalog { source: source.into(), components: vec![os], roots: vec![0], ..Default::default() };
            out.push(Found { catalog, every_package: true });
        }
        let mut status_texts: Vec<String> = self.text("var/lib/dpkg/status").into_iter().collect();
        status_texts.extend(
            self.files
                .iter()
                .filter(|(k, _)| k.starts_with("var/lib/dpkg/status.d/") && !k.ends_with(".md5sums"))
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned()),
        );
        if !status_texts.is_empty() {
            let texts: Vec<&str> = status_texts.iter().map(String::as_str).collect();
            out.push(Found {
                catalog: dpkg::parse_status("var/lib/dpkg/status", &texts, &distro),
                every_package: true,
            });
        }
        if let Some(db) = self.text("lib/apk/db/installed") {
            out.push(Found {
                catalog: apk::parse_installed("lib/apk/db/installed", &db, &distro),
                every_package: true,
            });
        }
        for (path, bytes) in &self.files {
            let (dir, base) = path.rsplit_once('/').map_or(("", path.as_str()), |(d, b)| (d, b));
            if !LOCKFILES.contains(&base) {
                continue;
            }
            let text = String::from_utf8_lossy(bytes);
            let sibling = |name: &str| {
                self.text(&if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") })
            };
            let parsed = match base {
                "Cargo.lock" => cargo::parse_lock(path, &text, None),
                "package-lock.json" => npm::parse_lock(path, &text),
                "go.mod" => golang::parse_mod(path, &text, sibling("go.sum").as_deref()),
                "uv.lock" => python::parse_uv(path, &text),
                _ => {
                    let pyproject = sibling("pyproject.toml");
                    python::parse_poetry(path, &text, pyproject.as_deref().map(|t| ("pyproject.toml", t)))
                }
            };
            match parsed {
                Ok(catalog) => out.push(Found { catalog, every_package: false }),
                Err(e) => notes.push(format!("skipped {path}: {e}")),
            }
        }
        (out, notes)
    }
}

/// A catalog found in an image.
#[derive(Debug)]
pub struct Found {
    /// The packages.
    pub catalog: Catalog,
    /// True when the image depends on every package (OS databases), false when only on the
    /// catalog's roots (lockfiles).
    pub every_package: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use relkit_registry::image::tar;

    #[test]
    fn layers_merge_with_whiteouts() {
        let mut fs = Filesystem::default();
        let first = tar(&[
            ("etc/os-release".into(), b"ID=debian\nVERSION_ID=\"12\"\n".to_vec()),
            ("app/Cargo.lock".into(), b"version = 4\n".to_vec()),
            ("srv/node_modules/x/package-lock.json".into(), b"{}".to_vec()),
            (
                "var/lib/dpkg/status".into(),
                b"Package: a\nStatus: install ok installed\nVersion: 1\n".to_vec(),
            ),
        ])
        .unwrap();
        fs.apply_layer("application/vnd.oci.image.layer.v1.tar", &first[..]).unwrap();
        assert_eq!(fs.files.len(), 3, "node_modules lockfiles are not ours");
        let second =
            tar(&[("app/.wh.Cargo.lock".into(), vec![]), ("var/lib/dpkg/.wh..wh..opq".into(), vec![])])
                .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &second).unwrap();
        fs.apply_layer("application/vnd.oci.image.layer.v1.tar+gzip", &gz.finish().unwrap()[..]).unwrap();
        assert_eq!(fs.files.keys().collect::<Vec<_>>(), ["etc/os-release"]);
        let (found, _) = fs.catalogs();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].catalog.components[0].name, "debian");
    }

    #[test]
    fn distroless_status_d_files_are_catalogued() {
        let mut fs = Filesystem::default();
        let layer = tar(&[
            ("usr/lib/os-release".into(), b"ID=debian\nVERSION_ID=\"12\"\n".to_vec()),
            (
                "var/lib/dpkg/status.d/base-files".into(),
                b"Package: base-files\nVersion: 12.4+deb12u7\nArchitecture: amd64\n".to_vec(),
            ),
            (
                "var/lib/dpkg/status.d/libc6".into(),
                b"Package: libc6\nVersion: 2.36-9+deb12u7\nArchitecture: amd64\n".to_vec(),
            ),
            (
                "var/lib/dpkg/status.d/libc6.md5sums".into(),
                b"d41d8cd98f00b204e9800998ecf8427e  lib/x\n".to_vec(),
            ),
        ])
        .unwrap();
        fs.apply_layer("application/vnd.oci.image.layer.v1.tar", &layer[..]).unwrap();
        let (found, _) = fs.catalogs();
        assert_eq!(found.len(), 2, "the OS and the dpkg database");
        let names: Vec<&str> = found[1].catalog.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["base-files", "libc6"]);
        assert_eq!(
            found[1].catalog.components[1].purl.as_deref(),
            Some("pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12")
        );
    }

    #[test]
    fn zstd_layers_of_several_frames_with_a_skippable_one() {
        use ruzstd::encoding::{CompressionLevel, compress_to_vec};
        let layer = tar(&[
            ("etc/os-release".into(), b"ID=alpine\nVERSION_ID=3.20.3\n".to_vec()),
            ("lib/apk/db/installed".into(), b"P:musl\nV:1.2.5-r0\nA:x86_64\n".to_vec()),
        ])
        .unwrap();
        let (first, second) = layer.split_at(700);
        let mut zstd = compress_to_vec(first, CompressionLevel::Fastest);
        // A skippable frame (magic 0x184D2A50, 4-byte length, payload) between the two.
        zstd.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        zstd.extend(compress_to_vec(second, CompressionLevel::Fastest));
        let mut fs = Filesystem::default();
        fs.apply_layer("application/vnd.oci.image.layer.v1.tar+zstd", &zstd[..]).unwrap();
        let (found, _) = fs.catalogs();
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[1].catalog.components[0].purl.as_deref(),
            Some("pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3")
        );
    }
}
