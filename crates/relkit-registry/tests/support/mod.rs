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

/// One token request as the issuer received it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The `scope` parameters, in order.
    pub scopes: Vec<String>,
    /// Whether it carried `Authorization`.
    pub authorized: bool,
    /// `grant_type` and `refresh_token` of an OAuth2 POST (an identity token exchange).
    pub grant: Option<(String, String)>,
}

/// A token server for `TestRegistry::start_token_auth`: grants what is asked, signs RS256 JWTs
/// with a key and certificate it generates (openssl), and logs every request.
pub struct TokenIssuer {
    pub port: u16,
    pub dir: TempDir,
    pub log: Arc<Mutex<Vec<TokenRequest>>>,
    /// `expires_in` of the answers.
    pub expires_in: Arc<AtomicU64>,
    /// When false, tokens name another audience: the registry refuses a token the client
    /// believes valid (as when a registry revokes one early).
    pub valid: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub const TOKEN_SERVICE: &str = "relkit-test-registry";
pub const TOKEN_ISSUER: &str = "relkit-test-issuer";

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TokenIssuer {
    /// Generates the key and certificate and starts serving `/token`. `None` without openssl
    /// (outside CI).
    pub async fn start(test: &str) -> Option<Self> {
        if !relkit_testkit::tools::require_tool(test, "openssl") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=relkit-test-issuer",
            ])
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("root.crt"))
            .output()
            .unwrap();
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
        let der = std::process::Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(dir.path().join("root.crt"))
            .output()
            .unwrap()
            .stdout;
        use base64::Engine as _;
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let expires_in = Arc::new(AtomicU64::new(300));
        let valid = Arc::new(AtomicBool::new(true));
        let key = dir.path().join("key.pem");
        let (l, e, v) = (log.clone(), expires_in.clone(), valid.clone());
        let task = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let mut buf = vec![0u8; 16384];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => read += n,
                    }
                }
                let text = String::from_utf8_lossy(&buf[..read]).to_string();
                let (head, mut body) = text
                    .split_once("\r\n\r\n")
                    .map(|(h, b)| (h.to_string(), b.to_string()))
                    .unwrap_or_default();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                while body.len() < length {
                    let mut more = vec![0u8; length - body.len()];
                    match stream.read(&mut more).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => body.push_str(&String::from_utf8_lossy(&more[..n])),
                    }
                }
                let target = head.split(' ').nth(1).unwrap_or("/").to_string();
                let url = url::Url::parse(&format!("http://x{target}")).unwrap();
                let mut scopes: Vec<String> =
                    url.query_pairs().filter(|(k, _)| k == "scope").map(|(_, v)| v.to_string()).collect();
                let form: std::collections::HashMap<String, String> =
                    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
                let grant = form
                    .get("grant_type")
                    .map(|g| (g.clone(), form.get("refresh_token").cloned().unwrap_or_default()));
                if let Some(scope) = form.get("scope") {
                    scopes.extend(scope.split(' ').map(str::to_string));
                }
                let authorized = head.lines().any(|l| l.to_ascii_lowercase().starts_with("authorization:"));
                l.lock().unwrap().push(TokenRequest { scopes: scopes.clone(), authorized, grant });
                let token = sign_jwt(&key, &x5c, &scopes, v.load(Ordering::SeqCst));
                let body =
                    serde_json::json!({"token": token, "access_token": token, "expires_in": e.load(Ordering::SeqCst)})
                        .to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        Some(Self { port, dir, log, expires_in, valid, task })
    }

    /// The realm URL.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.log.lock().unwrap().clone()
    }
}

fn sign_jwt(key: &Path, x5c: &str, scopes: &[String], valid: bool) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = jiff::Timestamp::now().as_second();
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let mut parts = s.split(':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER, "sub": "relkit", "aud": if valid { TOKEN_SERVICE } else { "another-registry" },
        "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("{now}-{}", noise(now as u64, 4).iter().map(|b| format!("{b:02x}")).collect::<String>()),
        "access": access,
    });
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let signature = child.wait_with_output().unwrap().stdout;
    format!("{input}.{}", b64(&signature))
}
