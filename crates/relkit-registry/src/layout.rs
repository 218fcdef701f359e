//! An OCI image layout directory as a registry: `oci-layout`, `index.json` (tags are the
//! `org.opencontainers.image.ref.name` annotations of its entries) and `blobs/sha256/<hex>`.
//! Manifests are blobs too; a manifest stored by digest only is reachable through its parent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use relkit_core::{Error, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::digest::{Digest, DigestHasher};
use crate::manifest::{Descriptor, OCI_INDEX, RawManifest};
use crate::registry::{BlobStream, Fetched, PutOutcome, Registry, verify_stream};

/// The annotation holding a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI image layout on disk. Writes to `index.json` are serialized and atomic (write then
/// rename), so a crash never leaves a half-written index.
#[derive(Debug)]
pub struct LayoutRegistry {
    dir: PathBuf,
    index_lock: Mutex<()>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexFile {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(flatten)]
    extra: BTreeMap<String, serde_json::Value>,
}

impl LayoutRegistry {
    /// A layout rooted at `dir` (created on first write).
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), index_lock: Mutex::new(()) }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs").join("sha256").join(digest.hex())
    }

    fn io_error(&self, what: &str, e: std::io::Error) -> Error {
        Error::failed(format!("{what} in OCI layout {}: {e}", self.dir.display()))
    }

    async fn read_index(&self) -> Result<IndexFile> {
        match tokio::fs::read(self.dir.join("index.json")).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::failed(format!(
                    "{}/index.json is not a valid OCI image index ({e}); fix or remove the layout",
                    self.dir.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(IndexFile {
                schema_version: 2,
                media_type: Some(OCI_INDEX.to_string()),
                manifests: Vec::new(),
                extra: BTreeMap::new(),
            }),
            Err(e) => Err(self.io_error("cannot read index.json", e)),
        }
    }

    async fn write_index(&self, index: &IndexFile) -> Result<()> {
        self.ensure_layout().await?;
        let bytes = serde_json::to_vec(index).expect("index serializes");
        write_atomic(&self.dir.join("index.json"), &bytes)
            .await
            .map_err(|e| self.io_error("cannot write index.json", e))
    }

    async fn ensure_layout(&self) -> Result<()> {
        tokio::fs::create_dir_all(self.dir.join("blobs").join("sha256"))
            .await
            .map_err(|e| self.io_error("cannot create blobs/sha256", e))?;
        let marker = self.dir.join("oci-layout");
        if !tokio::fs::try_exists(&marker).await.unwrap_or(false) {
            write_atomic(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .await
                .map_err(|e| self.io_error("cannot write oci-layout", e))?;
        }
        Ok(())
    }

    async fn read_blob_file(&self, digest: &Digest) -> Result<Option<Bytes>> {
        match tokio::fs::read(self.blob_path(digest)).await {
            Ok(bytes) => {
                if Digest::of(&bytes) != *digest {
                    return Err(Error::failed(format!(
                        "blob {digest} in OCI layout {} is corrupt (content does not match its digest)",
                        self.dir.display()
                    )));
                }
                Ok(Some(Bytes::from(bytes)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_error(&format!("cannot read blob {digest}"), e)),
        }
    }

    async fn write_blob_file(&self, digest: &Digest, data: &[u8]) -> Result<()> {
        if Digest::of(data) != *digest {
            return Err(Error::failed(format!(
                "refusing to store blob {digest}: content does not match the digest"
            )));
        }
        let path = self.blob_path(digest);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(());
        }
        self.ensure_layout().await?;
        write_atomic(&path, data).await.map_err(|e| self.io_error(&format!("cannot write blob {digest}"), e))
    }

    /// The digest a tag or digest reference resolves to, with the descriptor from index.json.
    async fn resolve(&self, reference: &str) -> Result<Option<Descriptor>> {
        let index = self.read_index().await?;
        if let Ok(digest) = reference.parse::<Digest>() {
            if let Some(entry) = index.manifests.iter().find(|m| m.digest == digest) {
                return Ok(Some(entry.clone()));
            }
            return Ok(self
                .read_blob_file(&digest)
                .await?
                .and_then(|bytes| RawManifest::new(bytes, None).ok().map(|m| m.descriptor())));
        }
        Ok(index
            .manifests
            .into_iter()
            .find(|m| m.annotations.get(REF_NAME).map(String::as_str) == Some(reference)))
    }
}

/// A temporary file name beside `path`, unique within the process.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(".{file_name}.{}.{n}.tmp", std::process::id()))
}

/// Writes `data` to a temporary file beside `path`, then renames it into place.
async fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(path);
    tokio::fs::write(&tmp, data).await?;
    tokio::fs::rename(&tmp, path).await
}

/// Blob files are read in pieces of this size.
const CHUNK: usize = 256 * 1024;

impl Registry for LayoutRegistry {
    fn name(&self) -> String {
        format!("oci:{}", self.dir.display())
    }

    async fn head_manifest(&self, _repo: &str, reference: &str) -> Result<Option<Descriptor>> {
        Ok(self.resolve(reference).await?.map(|mut d| {
            d.annotations.remove(REF_NAME);
            d
        }))
    }

    async fn get_manifest(&self, _repo: &str, reference: &str) -> Result<Option<Fetched>> {
        let Some(desc) = self.resolve(reference).await? else { return Ok(None) };
        let Some(bytes) = self.read_blob_file(&desc.digest).await? else {
            return Err(Error::failed(format!(
                "OCI layout {} lists {reference} as {} but the blob is missing",
                self.dir.display(),
                desc.digest
            )));
        };
        let manifest = RawManifest::new(bytes, Some(&desc.media_type))?;
        Ok(Some(Fetched { etag: Some(format!("\"{}\"", manifest.digest)), manifest }))
    }

    async fn put_manifest(
        &self,
        _repo: &str,
        reference: &str,
        manifest: &RawManifest,
        if_match: Option<&str>,
    ) -> Result<PutOutcome> {
        self.write_blob_file(&manifest.digest, &manifest.bytes).await?;
        if reference.parse::<Digest>().is_ok() {
            return Ok(PutOutcome::Stored);
        }
        let _guard = self.index_lock.lock().await;
        let mut index = self.read_index().await?;
        let current = index
            .manifests
            .iter()
            .position(|m| m.annotations.get(REF_NAME).map(String::as_str) == Some(reference));
        if let Some(expected) = if_match {
            let current_etag = current.map(|i| format!("\"{}\"", index.manifests[i].digest));
            if current_etag.as_deref() != Some(expected) {
                return Ok(PutOutcome::PreconditionFailed);
            }
        }
        let mut entry = manifest.descriptor();
        entry.annotations.insert(REF_NAME.to_string(), reference.to_string());
        match current {
            Some(i) if index.manifests[i] == entry => return Ok(PutOutcome::Stored),
            Some(i) => index.manifests[i] = entry,
            None => index.manifests.push(entry),
        }
        self.write_index(&index).await?;
        Ok(PutOutcome::Stored)
    }

    async fn delete_manifest(&self, _repo: &str, digest: &Digest) -> Result<bool> {
        let _guard = self.index_lock.lock().await;
        let mut index = self.read_index().await?;
        let before = index.manifests.len();
        index.manifests.retain(|m| m.digest != *digest);
        if index.manifests.len() != before {
            self.write_index(&index).await?;
        }
        match tokio::fs::remove_file(self.blob_path(digest)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(index.manifests.len() != before),
            Err(e) => Err(self.io_error(&format!("cannot delete manifest {digest}"), e)),
        }
    }

    async fn delete_tag(&self, _repo: &str, tag: &str) -> Result<bool> {
        let _guard = self.index_lock.lock().await;
        let mut index = self.read_index().await?;
        let before = index.manifests.len();
        index.manifests.retain(|m| m.annotations.get(REF_NAME).map(String::as_str) != Some(tag));
        if index.manifests.len() != before {
            self.write_index(&index).await?;
        }
        Ok(true)
    }

    async fn blob_exists(&self, _repo: &str, digest: &Digest) -> Result<bool> {
        Ok(tokio::fs::try_exists(self.blob_path(digest)).await.unwrap_or(false))
    }

    async fn get_blob(&self, _repo: &str, digest: &Digest) -> Result<Bytes> {
        self.read_blob_file(digest).await?.ok_or_else(|| {
            Error::failed(format!("blob {digest} is missing from OCI layout {}", self.dir.display()))
        })
    }

    async fn put_blob(&self, _repo: &str, digest: &Digest, data: Bytes) -> Result<()> {
        self.write_blob_file(digest, &data).await
    }

    async fn open_blob(&self, _repo: &str, digest: &Digest) -> Result<BlobStream> {
        use tokio::io::AsyncReadExt as _;
        let file = tokio::fs::File::open(self.blob_path(digest)).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::failed(format!("blob {digest} is missing from OCI layout {}", self.dir.display()))
            } else {
                self.io_error(&format!("cannot read blob {digest}"), e)
            }
        })?;
        let what = format!("blob {digest} in OCI layout {}", self.dir.display());
        let chunks = futures::stream::try_unfold(file, move |mut file| {
            let what = what.clone();
            async move {
                let mut buf = vec![0u8; CHUNK];
                let n = file
                    .read(&mut buf)
                    .await
                    .map_err(|e| Error::failed(format!("cannot read {what}: {e}")))?;
                if n == 0 {
                    return Ok(None);
                }
                buf.truncate(n);
                Ok(Some((Bytes::from(buf), file)))
            }
        });
        Ok(verify_stream(digest.clone(), format!("OCI layout {}", self.dir.display()), Box::pin(chunks)))
    }

    async fn put_blob_stream(
        &self,
        _repo: &str,
        digest: &Digest,
        _size: u64,
        mut data: BlobStream,
    ) -> Result<()> {
        use futures::StreamExt as _;
        use tokio::io::AsyncWriteExt as _;
        let path = self.blob_path(digest);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(());
        }
        self.ensure_layout().await?;
        let tmp = temp_path(&path);
        let written = async {
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| self.io_error("cannot create a blob file", e))?;
            let mut hasher = DigestHasher::default();
            while let Some(chunk) = data.next().await {
                let chunk = chunk?;
                hasher.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(|e| self.io_error(&format!("cannot write blob {digest}"), e))?;
            }
            file.flush().await.map_err(|e| self.io_error(&format!("cannot write blob {digest}"), e))?;
            let actual = hasher.finish();
            if actual != *digest {
                return Err(Error::failed(format!(
                    "refusing to store blob {digest}: content does not match the digest ({actual})"
                )));
            }
            tokio::fs::rename(&tmp, &path)
                .await
                .map_err(|e| self.io_error(&format!("cannot store blob {digest}"), e))
        }
        .await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        written
    }

    async fn mount_blob(&self, _repo: &str, _from_repo: &str, digest: &Digest) -> Result<bool> {
        self.blob_exists("", digest).await
    }

    async fn list_tags(&self, _repo: &str) -> Result<Vec<String>> {
        let index = self.read_index().await?;
        let mut tags: Vec<String> =
            index.manifests.iter().filter_map(|m| m.annotations.get(REF_NAME).cloned()).collect();
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    async fn referrers(&self, _repo: &str, _digest: &Digest) -> Result<Option<Vec<Descriptor>>> {
        Ok(None)
    }
}
