//! A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution) on a free
//! loopback port, optionally with htpasswd basic auth, and skopeo as the independent judge of
//! what it holds.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::tools::{free_port, require_tool, sha256_digest};

/// A running `docker-registry serve`, stopped when dropped.
pub struct TestRegistry {
    /// The port on 127.0.0.1.
    pub port: u16,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// Storage, config and the access log (`registry.log`).
    pub dir: TempDir,
    /// Basic-auth user and password, when the registry requires them.
    pub creds: Option<(String, String)>,
    child: Child,
}

impl TestRegistry {
    /// Starts a registry (with htpasswd basic auth when `creds` is set). `None`, after a SKIPPED
    /// line, when docker-registry or skopeo is missing outside CI.
    pub fn start(test: &str, creds: Option<(&str, &str)>) -> Option<Self> {
        Self::start_with(test, creds, None, None)
    }

    /// Starts a registry serving TLS with `cert`/`key` (PEM); with `client_ca`, it requires
    /// client certificates issued by that CA.
    pub fn start_tls(test: &str, cert: &Path, key: &Path, client_ca: Option<&Path>) -> Option<Self> {
        let mut tls = format!("  tls:\n    certificate: {}\n    key: {}\n", cert.display(), key.display());
        if let Some(ca) = client_ca {
            tls.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
        }
        Self::start_with(test, None, Some(tls), None)
    }

    /// Starts a registry enforcing Docker token auth (`auth: token`, the ghcr.io and Docker Hub
    /// scheme): `realm` is the token server's URL, tokens must be issued by `issuer` for
    /// `service` and signed by a key whose certificate chains to `root_cert` (PEM).
    pub fn start_token_auth(
        test: &str,
        realm: &str,
        service: &str,
        issuer: &str,
        root_cert: &Path,
    ) -> Option<Self> {
        let auth = format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
            root_cert.display()
        );
        Self::start_with(test, None, None, Some(auth))
    }

    fn start_with(
        test: &str,
        creds: Option<(&str, &str)>,
        http: Option<String>,
        auth: Option<String>,
    ) -> Option<Self> {
        if !require_tool(test, "docker-registry") || !require_tool(test, "skopeo") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.path().join("data").display()
        );
        if let Some(http) = http {
            config.push_str(&http);
        }
        if let Some((user, pass)) = creds {
            if !require_tool(test, "htpasswd") {
                return None;
            }
            let out = Command::new("htpasswd").args(["-Bbn", user, pass]).output().unwrap();
            assert!(out.status.success());
            std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: relkit-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        if let Some(auth) = auth {
            config.push_str(&auth);
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("docker-registry starts");
        let registry =
            Self { port, host, dir, creds: creds.map(|(u, p)| (u.to_string(), p.to_string())), child };
        registry.wait_ready();
        Some(registry)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(&self.host) {
                let _ = stream.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
                let mut reply = String::new();
                let _ = stream.read_to_string(&mut reply);
                // 200 without auth, 401 with it: either way the registry answers.
                if reply.starts_with("HTTP/1.0 200")
                    || reply.starts_with("HTTP/1.1 200")
                    || reply.contains(" 401 ")
                    || reply.contains("HTTP request to an HTTPS server")
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry on {} did not answer /v2/ within 20 s: {}", self.host, self.log());
    }

    /// The registry's own log (access log included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Runs skopeo with this registry's credentials.
    pub fn skopeo(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("skopeo");
        cmd.args(args).env("HOME", self.dir.path());
        if let Some((u, p)) = &self.creds {
            cmd.arg(format!("--creds={u}:{p}"));
        }
        cmd.output().unwrap()
    }

    /// The exact manifest bytes skopeo reads for `repo:tag` or `repo@digest`, or `None`.
    pub fn inspect_raw(&self, reference: &str) -> Option<Vec<u8>> {
        let target = format!("docker://{}/{reference}", self.host);
        let out = self.skopeo(&["inspect", "--raw", "--tls-verify=false", &target]);
        out.status.success().then_some(out.stdout)
    }

    /// `sha256:<hex>` of the manifest skopeo reads for `repo:tag`, or `None`.
    pub fn manifest_digest(&self, reference: &str) -> Option<String> {
        self.inspect_raw(reference).map(|raw| sha256_digest(&raw))
    }

    /// The tags skopeo lists for `repo`, sorted.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let target = format!("docker://{}/{repo}", self.host);
        let out = self.skopeo(&["list-tags", "--tls-verify=false", &target]);
        if !out.status.success() {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut tags: Vec<String> =
            v["Tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
        tags.sort();
        tags
    }

    /// Pushes the image (or index, with all its platforms) tagged `tag` in the OCI layout `layout`
    /// to `repo:tag` with skopeo.
    pub fn push_layout(&self, layout: &Path, tag: &str, repo: &str) {
        let source = format!("oci:{}:{tag}", layout.display());
        let dest = format!("docker://{}/{repo}:{tag}", self.host);
        let out = self.skopeo(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--quiet",
            "--dest-tls-verify=false",
            &source,
            &dest,
        ]);
        assert!(
            out.status.success(),
            "skopeo copy {source} {dest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl TestRegistry {
    /// The first layer of the artifact manifest `repo@digest` (a referrer: an SBOM, a Sigstore
    /// bundle), copied by skopeo into a `dir:` copy under `scratch`; returns the layer's file.
    pub fn artifact_layer(&self, repo: &str, digest: &str, scratch: &Path) -> PathBuf {
        let target = scratch.join(format!("artifact-{}", &digest[7..19]));
        let source = format!("docker://{}/{repo}@{digest}", self.host);
        let out = self.skopeo(&[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &source,
            &format!("dir:{}", target.display()),
        ]);
        assert!(out.status.success(), "skopeo copy {source}: {}", String::from_utf8_lossy(&out.stderr));
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(target.join("manifest.json")).unwrap()).unwrap();
        let layer = manifest["layers"][0]["digest"].as_str().expect("an artifact manifest has a layer");
        target.join(layer.trim_start_matches("sha256:"))
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
