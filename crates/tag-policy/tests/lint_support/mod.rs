//! What the lint tests share: scratch trees, a real `docker-registry` on 127.0.0.1 with an
//! image pushed by skopeo from an OCI layout the test writes, and real git repositories standing
//! in for action repositories.

#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

/// True when running under CI (`CI=true`), where a missing tool fails the test.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Whether `tool` is on `PATH`; when not, prints a loud SKIPPED line (or panics under CI).
pub fn require_tool(test: &str, tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    if !found {
        assert!(!in_ci(), "{test}: {tool} is not installed and CI=true (run scripts/install-test-deps)");
        eprintln!("SKIPPED: {test}: {tool} not installed (run scripts/install-test-deps)");
    }
    found
}

/// Writes files (path, text) under a new temporary directory.
pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A `docker-registry` (CNCF distribution) serving a temp directory on a free loopback port;
/// stopped when dropped.
pub struct TestRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    /// Starts a registry, or `None` (after a SKIPPED line) when docker-registry or skopeo is missing.
    pub fn start(test: &str) -> Option<Self> {
        if !require_tool(test, "docker-registry") || !require_tool(test, "skopeo") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {host}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let registry = Self { child, host, _dir: dir };
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
                if reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry on {} did not answer /v2/ within 20 s", self.host);
    }

    /// Pushes a one-layer image (content varies with `seed`) as `repo:tag` with skopeo.
    pub fn push_image(&self, repo: &str, tag: &str, seed: &str) {
        let layout = tempfile::tempdir().unwrap();
        write_layout(layout.path(), tag, seed);
        run(Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:{tag}", layout.path().display()))
            .arg(format!("docker://{}/{repo}:{tag}", self.host)));
    }

    /// The digest of `repo:tag` as skopeo reads it (sha256 of the raw manifest bytes).
    pub fn digest(&self, repo: &str, tag: &str) -> String {
        let raw = run(Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/{repo}:{tag}", self.host)));
        sha256(&raw)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An OCI image layout holding one image tagged `tag`, written by relkit's own image writer
/// (a one-file tar layer whose content is `seed`); skopeo then pushes it independently.
fn write_layout(dir: &Path, tag: &str, seed: &str) {
    let spec = relkit_registry::image::ImageSpec {
        files: vec![("hello.txt".to_string(), seed.as_bytes().to_vec())],
        ..Default::default()
    };
    let layout = relkit_registry::LayoutRegistry::new(dir);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(relkit_registry::image::write_image(&layout, &spec, Some(tag))).unwrap();
}

/// A bare git repository at `<server>/<owner>/<repo>.git` with a lightweight tag, an annotated
/// tag and a branch; returns (commit of the lightweight tag, commit the annotated tag points to).
pub fn action_repo(
    server: &Path,
    owner_repo: &str,
    light: &str,
    annotated: &str,
    branch: &str,
) -> (String, String) {
    let work = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| -> String {
        let out = run(Command::new("git")
            .current_dir(work.path())
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "tag.gpgsign=false",
            ])
            .args(args));
        String::from_utf8(out).unwrap().trim().to_string()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["commit", "-q", "--allow-empty", "-m", "one"]);
    git(&["tag", light]);
    let first = git(&["rev-parse", "HEAD"]);
    git(&["commit", "-q", "--allow-empty", "-m", "two"]);
    git(&["tag", "-a", annotated, "-m", annotated]);
    git(&["branch", branch]);
    let second = git(&["rev-parse", "HEAD"]);
    let bare: PathBuf = server.join(format!("{owner_repo}.git"));
    std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
    run(Command::new("git").args(["clone", "-q", "--bare"]).arg(work.path()).arg(&bare));
    (first, second)
}
