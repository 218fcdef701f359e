//! Real git repositories built by running `git`, with fixed names and dates so that commit ids
//! (and so the golden outputs) are the same on every machine.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch repository.
pub struct GitRepo {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    clock: u64,
}

impl GitRepo {
    /// `git init` on branch `main`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("repo");
        std::fs::create_dir(&path).unwrap();
        let mut repo = Self { _dir: dir, path, clock: 1_700_000_000 };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// Runs git with a fixed identity and clock; panics with stderr on failure.
    pub fn git(&mut self, args: &[&str]) -> String {
        self.git_as(args, "Ann Author", "ann@example.org")
    }

    /// Runs git as the given author.
    pub fn git_as(&mut self, args: &[&str], name: &str, email: &str) -> String {
        self.clock += 60;
        let date = format!("@{} +0000", self.clock);
        run_git(
            &self.path,
            args,
            &[
                ("GIT_AUTHOR_NAME", name),
                ("GIT_AUTHOR_EMAIL", email),
                ("GIT_COMMITTER_NAME", name),
                ("GIT_COMMITTER_EMAIL", email),
                ("GIT_AUTHOR_DATE", &date),
                ("GIT_COMMITTER_DATE", &date),
            ],
        )
    }

    /// Writes a file (creating directories) relative to the work tree.
    pub fn write(&self, file: &str, text: &str) {
        let p = self.path.join(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Commits a change to `file` with `message` by Ann.
    pub fn commit(&mut self, message: &str) -> String {
        self.commit_as(message, "Ann Author", "ann@example.org")
    }

    /// Commits a change by someone else.
    pub fn commit_as(&mut self, message: &str, name: &str, email: &str) -> String {
        let n = self.clock;
        let log = self.path.join("changes.log");
        let mut text = std::fs::read_to_string(&log).unwrap_or_default();
        text.push_str(&format!("{n}\n"));
        std::fs::write(&log, text).unwrap();
        self.git_as(&["add", "-A"], name, email);
        self.git_as(&["commit", "-q", "-m", message], name, email);
        self.head()
    }

    /// The HEAD commit id.
    pub fn head(&mut self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// An annotated tag on HEAD.
    pub fn annotated_tag(&mut self, name: &str) {
        self.git(&["tag", "-a", name, "-m", name]);
    }

    /// A lightweight tag on HEAD.
    pub fn light_tag(&mut self, name: &str) {
        self.git(&["tag", name]);
    }
}

/// Runs git in `dir` with extra environment.
pub fn run_git(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git is installed");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The notes-gen binary with a clean environment (no GITHUB_* leaking in from the caller).
pub fn notes_gen(repo: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("notes-gen").expect("binary built");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .current_dir(repo);
    cmd
}
