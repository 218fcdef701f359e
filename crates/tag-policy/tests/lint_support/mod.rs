//! What the lint tests share: scratch trees, a real `docker-registry` on 127.0.0.1 with an
//! image pushed by skopeo from an OCI layout the test writes, and real git repositories standing
//! in for action repositories.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

pub use relkit_testkit::registry::TestRegistry;

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

/// The lint tests' images on the test registry.
pub trait PushImage {
    /// Pushes a one-layer image (content varies with `seed`) as `repo:tag` with skopeo.
    fn push_image(&self, repo: &str, tag: &str, seed: &str);
    /// The digest of `repo:tag` as skopeo reads it (sha256 of the raw manifest bytes).
    fn digest(&self, repo: &str, tag: &str) -> String;
}

impl PushImage for TestRegistry {
    fn push_image(&self, repo: &str, tag: &str, seed: &str) {
        let layout = tempfile::tempdir().unwrap();
        write_layout(layout.path(), tag, seed);
        self.push_layout(layout.path(), tag, repo);
    }

    fn digest(&self, repo: &str, tag: &str) -> String {
        self.manifest_digest(&format!("{repo}:{tag}"))
            .unwrap_or_else(|| panic!("{repo}:{tag} does not resolve"))
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
