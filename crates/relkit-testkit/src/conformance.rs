//! The offline half of sigstore-conformance: every case of `bundle-verify/` run through a client
//! entrypoint with the suite's `verify-bundle` command lines (a PATH and a DIGEST variant per
//! case), expecting exit 0 unless the case name ends in `_fail`. The production trusted root from
//! `sigstore-trust/` stands in for the TUF lookup of cases that ship no `trusted_root.json`.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::tools::sha256_digest;

/// The identity a case verifies against when it has no `identity` file (the suite's default).
pub const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
/// The issuer a case verifies against when it has no `issuer` file.
pub const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// `../shared` beside the workspace root: `conformance-assets/` and `sigstore-trust/`.
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// One directory of `bundle-verify/`.
#[derive(Debug, Clone)]
pub struct Case {
    /// The directory name, e.g. `happy-path-v0.3` or `checkpoint-wrong-roothash_fail`.
    pub name: String,
    /// `bundle.sigstore.json`.
    pub bundle: PathBuf,
    /// The case's `artifact`, else `bundle-verify/a.txt`.
    pub artifact: PathBuf,
    /// The case's `identity`, else [`DEFAULT_IDENTITY`].
    pub identity: String,
    /// The case's `issuer`, else [`DEFAULT_ISSUER`].
    pub issuer: String,
    /// `key.pub`, verified with `--key` instead of an identity.
    pub key: Option<PathBuf>,
    /// The case's own `trusted_root.json`.
    pub trusted_root: Option<PathBuf>,
    /// False for `_fail` cases.
    pub expect_success: bool,
}

/// How the artifact is handed to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The artifact's path.
    Path,
    /// `sha256:<hex>` of the artifact.
    Digest,
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Input::Path => "PATH",
            Input::Digest => "DIGEST",
        })
    }
}

impl Case {
    /// The `verify-bundle` arguments (after the entrypoint) as the suite builds them:
    /// `--bundle`, then `--key` or `--certificate-identity`/`--certificate-oidc-issuer`, then
    /// `--trusted-root` (the case's, else `production_root`), then the artifact or its digest.
    pub fn verify_args(&self, input: Input, production_root: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> =
            vec!["verify-bundle".into(), "--bundle".into(), self.bundle.clone().into()];
        match &self.key {
            Some(key) => args.extend(["--key".into(), key.clone().into()]),
            None => args.extend([
                "--certificate-identity".into(),
                self.identity.clone().into(),
                "--certificate-oidc-issuer".into(),
                self.issuer.clone().into(),
            ]),
        }
        let root = self.trusted_root.clone().unwrap_or_else(|| production_root.to_path_buf());
        args.extend(["--trusted-root".into(), root.into()]);
        args.push(match input {
            Input::Path => self.artifact.clone().into(),
            Input::Digest => sha256_digest(&std::fs::read(&self.artifact).unwrap()).into(),
        });
        args
    }
}

/// Every case under `assets/bundle-verify/`, sorted by name. Panics when the directory is
/// missing or a case has no bundle.
pub fn cases(assets: &Path) -> Vec<Case> {
    let root = assets.join("bundle-verify");
    let entries = std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let mut cases: Vec<Case> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .map(|dir| {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let read =
                |file: &str| std::fs::read_to_string(dir.join(file)).ok().map(|s| s.trim().to_string());
            let existing = |file: &str| Some(dir.join(file)).filter(|path| path.is_file());
            let bundle = dir.join("bundle.sigstore.json");
            assert!(bundle.is_file(), "{}: no bundle.sigstore.json", dir.display());
            Case {
                bundle,
                artifact: existing("artifact").unwrap_or_else(|| root.join("a.txt")),
                identity: read("identity").unwrap_or_else(|| DEFAULT_IDENTITY.to_string()),
                issuer: read("issuer").unwrap_or_else(|| DEFAULT_ISSUER.to_string()),
                key: existing("key.pub"),
                trusted_root: existing("trusted_root.json"),
                expect_success: !name.ends_with("_fail"),
                name,
            }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// The outcome of a run: a case passes when both its PATH and DIGEST runs end as expected.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Cases whose runs all ended as expected.
    pub passed: usize,
    /// Cases with at least one unexpected outcome.
    pub failed: usize,
    /// One line per unexpected run: `case [PATH|DIGEST]: expected ..., got ...: <last stderr line>`.
    pub failures: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} passed, {} failed", self.passed, self.failed)?;
        for failure in &self.failures {
            writeln!(f, "  {failure}")?;
        }
        Ok(())
    }
}

/// Runs every case of `assets` (the `conformance-assets` directory) through `entrypoint`, with
/// `trust/production-trusted_root.json` for cases without a root of their own, and prints the
/// report.
pub fn run(entrypoint: &Path, assets: &Path, trust: &Path) -> Report {
    run_cases(entrypoint, &cases(assets), trust)
}

/// Runs `cases` through `entrypoint`, as many at a time as there are cores, and prints the
/// report (`N passed, M failed` and one line per unexpected run).
pub fn run_cases(entrypoint: &Path, cases: &[Case], trust: &Path) -> Report {
    run_cases_with(entrypoint, &[], cases, trust)
}

/// [`run_cases`] for an entrypoint that is a subcommand: `program LEADING_ARGS... verify-bundle
/// ...`, e.g. `sign conformance`.
pub fn run_cases_with(program: &Path, leading_args: &[&str], cases: &[Case], trust: &Path) -> Report {
    let production_root = trust.join("production-trusted_root.json");
    assert!(production_root.is_file(), "{}: missing", production_root.display());
    let runs: Vec<(usize, Input)> =
        (0..cases.len()).flat_map(|i| [(i, Input::Path), (i, Input::Digest)]).collect();
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(&(i, input)) = runs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let failure = run_one(program, leading_args, &cases[i], input, &production_root);
                    outcomes.lock().unwrap().push((i, input, failure));
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|(i, input, _)| (*i, *input == Input::Digest));
    let mut failures_by_case = vec![Vec::new(); cases.len()];
    for (i, _, failure) in outcomes {
        failures_by_case[i].extend(failure);
    }
    let mut report = Report::default();
    for failures in failures_by_case {
        if failures.is_empty() {
            report.passed += 1;
        } else {
            report.failed += 1;
            report.failures.extend(failures);
        }
    }
    print!("{report}");
    report
}

/// `None` when the run ended as expected, else the failure line.
fn run_one(
    program: &Path,
    leading_args: &[&str],
    case: &Case,
    input: Input,
    production_root: &Path,
) -> Option<String> {
    let out = Command::new(program)
        .args(leading_args)
        .args(case.verify_args(input, production_root))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    if out.status.success() == case.expect_success {
        return None;
    }
    let expected = if case.expect_success { "success" } else { "failure" };
    let got = match out.status.code() {
        Some(code) => format!("exit {code}"),
        None => "killed by a signal".to_string(),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The last line that says something (not a "run with --verbose" hint).
    let reason = stderr
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty() && !line.contains("--verbose"))
        .unwrap_or("");
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(format!("{} [{input}]: expected {expected}, got {got}: {reason}", case.name))
}
