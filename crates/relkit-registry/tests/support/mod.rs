//! Test support: a real registry (Debian's `docker-registry`, CNCF distribution) on 127.0.0.1,
//! skopeo as the independent judge, OCI-layout fixtures built here, and a fault-injecting proxy.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use relkit_registry::manifest::{OCI_INDEX, OCI_MANIFEST};
use relkit_registry::ops::copy::Endpoint;
use relkit_registry::ops::{copy, referrers};
use relkit_registry::{Digest, HttpOptions, ImageRef, LayoutRegistry, RawManifest, Registry, RetryPolicy};
use tempfile::TempDir;

pub use relkit_testkit::registry::TestRegistry;

/// What the registry tests ask of the test registry in relkit's own types.
pub trait RegistryExt {
    /// `127.0.0.1:PORT/repo:tag` as a reference.
    fn image(&self, repo_and_tag: &str) -> ImageRef;
    /// The digest skopeo sees for `repo:tag`.
    fn digest_of(&self, reference: &str) -> Option<Digest>;
    /// Every manifest and blob of the image at `reference` exists (checked with skopeo for
    /// manifests and plain HEAD requests for blobs).
    fn assert_complete(&self, repo: &str, reference: &str);
}

impl RegistryExt for TestRegistry {
    fn image(&self, repo_and_tag: &str) -> ImageRef {
        ImageRef::parse(&format!("{}/{repo_and_tag}", self.host)).unwrap()
    }

    fn digest_of(&self, reference: &str) -> Option<Digest> {
        self.inspect_raw(reference).map(|b| Digest::of(&b))
    }

    fn assert_complete(&self, repo: &str, reference: &str) {
        let raw = self
            .inspect_raw(&format!(
                "{repo}{}{reference}",
                if reference.starts_with("sha256:") { "@" } else { ":" }
            ))
            .unwrap_or_else(|| panic!("{repo} {reference} does not resolve"));
        let m: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        if let Some(children) = m["manifests"].as_array() {
            for c in children {
                self.assert_complete(repo, c["digest"].as_str().unwrap());
            }
        }
        let mut blobs: Vec<&str> = m["layers"]
            .as_array()
            .map(|l| l.iter().map(|b| b["digest"].as_str().unwrap()).collect())
            .unwrap_or_default();
        if let Some(c) = m["config"]["digest"].as_str() {
            blobs.push(c);
        }
        for blob in blobs {
            let url = format!("http://{}/v2/{repo}/blobs/{blob}", self.host);
            let mut cmd = Command::new("curl");
            cmd.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-I", &url]);
            if let Some((u, p)) = &self.creds {
                cmd.args(["-u", &format!("{u}:{p}")]);
            }
            let code =
                cmd.output().map(|o| String::from_utf8_lossy(&o.stdout).to_string()).unwrap_or_default();
            assert_eq!(code, "200", "blob {blob} of {repo} {reference} is missing");
        }
    }
}

/// Fast retries for tests.
pub fn options(registry: &TestRegistry) -> HttpOptions {
    let mut options = HttpOptions {
        retry: RetryPolicy {
            max_retries: 8,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        },
        ..Default::default()
    };
    if let Some((u, p)) = &registry.creds {
        options.credentials.insert(
            registry.host.clone(),
            relkit_registry::auth::Credential::Basic { username: u.clone(), password: p.clone() },
        );
    }
    options
}

// ---------- fixtures: OCI layouts built here ----------

/// Deterministic pseudo-random bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn blob(layout: &LayoutRegistry, data: Vec<u8>) -> (Digest, usize) {
    let d = Digest::of(&data);
    let len = data.len();
    layout.put_blob("", &d, data.into()).await.unwrap();
    (d, len)
}

/// A single-platform image (one layer of `layer_size` pseudo-random bytes) labelled `version`.
pub async fn image_manifest(
    layout: &LayoutRegistry,
    seed: u64,
    version: &str,
    arch: &str,
    layer_size: usize,
) -> RawManifest {
    let (layer, layer_len) = blob(layout, noise(seed, layer_size)).await;
    let config = serde_json::json!({
        "architecture": arch, "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"Labels": {"org.opencontainers.image.version": version}},
        "rootfs": {"type": "layers", "diff_ids": [layer.as_str()]}
    });
    let (config, config_len) = blob(layout, serde_json::to_vec(&config).unwrap()).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.as_str(), "size": config_len},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.as_str(), "size": layer_len}],
        "annotations": {"org.opencontainers.image.version": version}
    });
    // Pretty-printed on purpose: a re-serializing client would change the digest.
    let m = RawManifest::new(serde_json::to_vec_pretty(&manifest).unwrap(), Some(OCI_MANIFEST)).unwrap();
    layout.put_manifest("", m.digest.as_str(), &m, None).await.unwrap();
    m
}

/// A 4-platform index labelled `version`.
pub async fn index_manifest(layout: &LayoutRegistry, seed: u64, version: &str) -> RawManifest {
    let mut entries = Vec::new();
    for (i, (arch, variant)) in
        [("amd64", None), ("arm64", None), ("arm", Some("v7")), ("ppc64le", None)].into_iter().enumerate()
    {
        let m = image_manifest(layout, seed * 10 + i as u64, version, arch, 2048).await;
        let mut platform = serde_json::json!({"os": "linux", "architecture": arch});
        if let Some(v) = variant {
            platform["variant"] = v.into();
        }
        entries.push(serde_json::json!({"mediaType": OCI_MANIFEST, "digest": m.digest.as_str(), "size": m.bytes.len(), "platform": platform}));
    }
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
        "annotations": {"org.opencontainers.image.version": version}
    });
    let m = RawManifest::new(serde_json::to_vec_pretty(&index).unwrap(), Some(OCI_INDEX)).unwrap();
    layout.put_manifest("", m.digest.as_str(), &m, None).await.unwrap();
    m
}

/// A cosign-style legacy signature manifest, tagged `sha256-<hex>.sig`.
pub async fn cosign_signature(layout: &LayoutRegistry, subject: &Digest) -> RawManifest {
    let payload = serde_json::json!({"critical": {"image": {"docker-manifest-digest": subject.as_str()}, "type": "cosign container image signature"}});
    let (layer, layer_len) = blob(layout, serde_json::to_vec(&payload).unwrap()).await;
    let (config, config_len) = blob(layout, b"{}".to_vec()).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.as_str(), "size": config_len},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": layer.as_str(), "size": layer_len,
                    "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ=="}}]
    });
    let m = RawManifest::new(serde_json::to_vec(&manifest).unwrap(), Some(OCI_MANIFEST)).unwrap();
    layout.put_manifest("", &subject.cosign_tag("sig"), &m, None).await.unwrap();
    m
}

/// The artifact type of the test referrer.
pub const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// An OCI 1.1 referrer (a sigstore-bundle-shaped artifact) whose subject is `subject`.
pub async fn referrer(layout: &LayoutRegistry, subject: &RawManifest) -> RawManifest {
    let (layer, layer_len) =
        blob(layout, br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#.to_vec()).await;
    let (config, config_len) = blob(layout, b"{}".to_vec()).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": BUNDLE_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config.as_str(), "size": config_len},
        "layers": [{"mediaType": BUNDLE_TYPE, "digest": layer.as_str(), "size": layer_len}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest.as_str(), "size": subject.bytes.len()}
    });
    let m = RawManifest::new(serde_json::to_vec(&manifest).unwrap(), Some(OCI_MANIFEST)).unwrap();
    layout.put_manifest("", m.digest.as_str(), &m, None).await.unwrap();
    referrers::register(layout, "", &subject.digest, &m).await.unwrap();
    m
}

/// Pushes a manifest (and its tree) from a layout into `repo` under `tag`.
pub async fn push<R: Registry>(
    layout: &LayoutRegistry,
    registry: &R,
    repo: &str,
    manifest: &RawManifest,
    tag: &str,
) {
    let src = Endpoint { registry: layout, repo: "" };
    let dst = Endpoint { registry, repo };
    copy::copy_image(&src, &dst, &manifest.digest, false, 4).await.unwrap();
    registry.put_manifest(repo, tag, manifest, None).await.unwrap();
}

// ---------- fault-injecting proxy ----------

pub use relkit_testkit::proxy::{Answer, Proxy, ProxyConfig, Seen};

/// A proxy that fails `percent` % of requests (seeded, so runs are reproducible).
pub async fn fault_proxy(upstream: u16, percent: u64, seed: u64) -> Proxy {
    Proxy::start(ProxyConfig { upstream, fail_percent: percent, seed, ..Default::default() }).await
}

/// A temp dir for OCI layouts.
pub fn layout_dir() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layout");
    (dir, path)
}

pub fn layout_at(path: &Path) -> LayoutRegistry {
    LayoutRegistry::new(path)
}

// ---------- a Docker token server of our own ----------

pub use relkit_testkit::token_issuer::{TOKEN_SERVICE, TokenIssuer};
