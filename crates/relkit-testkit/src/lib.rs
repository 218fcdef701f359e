//! Test support: runs the real `git` with a fixed identity and date, so that tests build
//! repositories whose commit ids are the same on every run; [`tools`] decides whether a test
//! whose tool is missing skips or fails; [`registry`] runs a real OCI registry on loopback;
//! [`sigstore`] runs a private Sigstore instance and the independent judges of bundles; [`github`]
//! fakes the GitHub release API for end-to-end runs;
//! [`conformance`] drives a sigstore-conformance client over the offline bundle cases;
//! [`token_issuer`] is a Docker token server for a registry with token auth.

pub mod conformance;
pub mod github;
pub mod proxy;
pub mod registry;
pub mod sigstore;
pub mod token_issuer;
pub mod tools;

use std::path::Path;
use std::process::Command;

/// The fixed author and committer date of every commit made through [`git`].
pub const DATE: &str = "2026-01-02T03:04:05Z";

/// Runs `git ARGS` in `dir` with a fixed identity and date; panics with git's stderr if it
/// fails; returns trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .env("GIT_AUTHOR_DATE", DATE)
        .env("GIT_COMMITTER_DATE", DATE)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8").trim().to_string()
}

/// `git init -b main` in `dir`.
pub fn init(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
}

/// An empty commit with `message`; returns its id.
pub fn commit(dir: &Path, message: &str) -> String {
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}
