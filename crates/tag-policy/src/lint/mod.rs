//! `tag-policy lint`: finds mutable references — images not pinned by digest in Dockerfiles,
//! Containerfiles, workflows, actions and compose files, and `uses:` not pinned to a commit SHA
//! — and with `--fix` pins them in place.
//!
//! Each file kind has a pure parser ([`dockerfile`], [`workflow`], [`compose`]) producing
//! [`Hit`]s; [`lint`] finds the files, runs the parsers and applies the allowlist; [`fix`]
//! resolves and rewrites.

pub mod allow;
pub mod checks;
pub mod cli;
pub mod compose;
pub mod dockerfile;
pub mod files;
pub mod finding;
pub mod fix;
pub mod live;
pub mod reference;
pub mod workflow;
pub mod yaml;

use std::path::Path;

use relkit_core::config::LintConfig;
use relkit_core::{Error, Result};
use serde::Serialize;

pub use allow::Allowlist;
pub use files::{FileKind, Target};
pub use finding::{Finding, Hit, Rule, Severity};

/// The findings of one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file.
    pub target: Target,
    /// Its text as linted.
    pub source: String,
    /// What was found (allowlisted references removed).
    pub findings: Vec<Finding>,
}

/// The result of a lint run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every file linted, in path order.
    pub files: Vec<FileReport>,
    /// References that broke a rule but are allowlisted.
    pub allowed: usize,
}

impl Report {
    /// Every finding, in file and line order.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.files.iter().flat_map(|f| f.findings.iter())
    }

    /// Number of findings of a severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings().filter(|f| f.severity == severity).count()
    }

    /// 2 when there is an error finding, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.count(Severity::Error) > 0 { 2 } else { 0 }
    }

    /// One `file:line: severity: message` line per finding.
    pub fn to_text(&self) -> String {
        self.findings().map(|f| f.to_line() + "\n").collect()
    }

    /// The report as a JSON document.
    pub fn to_json(&self, fixed: Option<usize>) -> String {
        #[derive(Serialize)]
        struct Json<'a> {
            files_checked: usize,
            errors: usize,
            warnings: usize,
            allowed: usize,
            #[serde(skip_serializing_if = "Option::is_none")]
            fixed: Option<usize>,
            findings: Vec<&'a Finding>,
        }
        let json = Json {
            files_checked: self.files.len(),
            errors: self.count(Severity::Error),
            warnings: self.count(Severity::Warning),
            allowed: self.allowed,
            fixed,
            findings: self.findings().collect(),
        };
        serde_json::to_string_pretty(&json).expect("the report serializes") + "\n"
    }
}

/// The findings of one file's text, by kind. Pure: no I/O, never panics.
pub fn scan(kind: FileKind, source: &str) -> Vec<Hit> {
    match kind {
        FileKind::Dockerfile => dockerfile::scan_dockerfile(source),
        FileKind::Workflow => workflow::scan_workflow(source),
        FileKind::Action => workflow::scan_action(source),
        FileKind::Compose => compose::scan_compose(source),
    }
}

/// `uses: $/path` references whose path holds no action (`action.yml`/`action.yaml`, or a
/// `Dockerfile`) or, for a job's `uses:`, no workflow file, in the repository at `root`.
fn missing_self_references(root: &Path, kind: FileKind, source: &str) -> Vec<Hit> {
    let is_workflow = match kind {
        FileKind::Workflow => true,
        FileKind::Action => false,
        FileKind::Dockerfile | FileKind::Compose => return Vec::new(),
    };
    workflow::self_references(source, is_workflow)
        .into_iter()
        .filter(|(_, path)| {
            let at = root.join(path);
            !(at.is_file()
                || ["action.yml", "action.yaml", "Dockerfile"].iter().any(|f| at.join(f).is_file()))
        })
        .map(|(line, path)| {
            Hit::error(
                line,
                Rule::MissingPath,
                format!(
                    "uses: $/{path}: no action or workflow at {path} in this repository; fix the path \
                     ($/ is the repository root)"
                ),
            )
            .with_reference(format!("$/{path}"))
        })
        .collect()
}

/// Lints the files under `root` that `settings` select.
pub fn lint(root: &Path, settings: &LintConfig) -> Result<Report> {
    let allow = Allowlist::new(settings.allow.iter().cloned());
    let mut report = Report::default();
    for target in files::discover(root, &settings.paths, &settings.exclude)? {
        let bytes = std::fs::read(&target.path)
            .map_err(|e| Error::failed(format!("cannot read {}: {e}", target.path.display())))?;
        let (source, hits) = match String::from_utf8(bytes) {
            Ok(source) => {
                let mut hits = scan(target.kind, &source);
                hits.extend(missing_self_references(root, target.kind, &source));
                (source, hits)
            }
            Err(_) => {
                let hit = Hit::error(
                    1,
                    Rule::Unparsable,
                    "not UTF-8 text: save the file as UTF-8 so it can be checked",
                );
                (String::new(), vec![hit])
            }
        };
        let (allowed, kept): (Vec<Hit>, Vec<Hit>) = hits.into_iter().partition(|h| allow.allows(&h.subject));
        report.allowed += allowed.len();
        let findings = kept.into_iter().map(|h| Finding::new(&target.display, h)).collect();
        report.files.push(FileReport { target, source, findings });
    }
    Ok(report)
}

/// Pins every fixable finding of `report` in place; returns how many references were pinned.
pub fn fix_report(report: &Report, resolver: &dyn fix::Resolver) -> Result<usize> {
    let files: Vec<fix::FileFixes<'_>> = report
        .files
        .iter()
        .map(|f| fix::FileFixes {
            path: &f.target.path,
            source: &f.source,
            findings: f.findings.iter().filter(|x| x.fix.is_some()).collect(),
        })
        .filter(|f| !f.findings.is_empty())
        .collect();
    Ok(fix::fix_files(&files, resolver)?.fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl fix::Resolver for Fixed {
        fn image_digest(&self, image: &str) -> Result<String> {
            match image {
                "missing:1" => Err(Error::failed("manifest unknown")),
                _ => Ok(format!("sha256:{}", "a".repeat(64))),
            }
        }
        fn action_commit(&self, _repo: &str, _git_ref: &str) -> Result<String> {
            Ok("b".repeat(40))
        }
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn lint_reports_allows_and_fixes_idempotently() {
        let dir = tree(&[
            ("Dockerfile", "ARG BASE=debian:12\nFROM ${BASE} AS a\nFROM $BASE\nFROM ghcr.io/myorg/tool:1\n"),
            (
                ".github/workflows/ci.yml",
                "jobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n      - uses: o/r@v1\n",
            ),
            ("compose.yaml", "services:\n  db:\n    image: postgres:16 # db\n"),
        ]);
        let settings = LintConfig {
            allow: vec!["ghcr.io/myorg/*".into(), "actions/checkout".into()],
            ..LintConfig::default()
        };
        let report = lint(dir.path(), &settings).unwrap();
        assert_eq!(report.to_text().lines().count(), 4, "{}", report.to_text());
        assert_eq!(report.allowed, 2);
        assert_eq!(report.exit_code(), 2);
        assert!(report.to_text().contains(".github/workflows/ci.yml:5: error: uses: o/r@v1"));

        assert_eq!(fix_report(&report, &Fixed).unwrap(), 4);
        let a = "a".repeat(64);
        let docker = std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap();
        assert_eq!(
            docker,
            format!(
                "ARG BASE=debian:12@sha256:{a}\nFROM ${{BASE}} AS a\nFROM $BASE\nFROM ghcr.io/myorg/tool:1\n"
            )
        );
        let wf = std::fs::read_to_string(dir.path().join(".github/workflows/ci.yml")).unwrap();
        assert!(wf.ends_with(&format!("      - uses: o/r@{} # v1\n", "b".repeat(40))), "{wf}");
        let compose = std::fs::read_to_string(dir.path().join("compose.yaml")).unwrap();
        assert_eq!(compose, format!("services:\n  db:\n    image: postgres:16@sha256:{a} # db\n"));

        let again = lint(dir.path(), &settings).unwrap();
        assert_eq!(again.findings().count(), 0, "{}", again.to_text());
        assert_eq!(again.exit_code(), 0);
        assert_eq!(fix_report(&again, &Fixed).unwrap(), 0);
    }

    #[test]
    fn a_failed_lookup_changes_nothing() {
        let text = "FROM debian:12\nFROM missing:1\n";
        let dir = tree(&[("Dockerfile", text)]);
        let report = lint(dir.path(), &LintConfig::default()).unwrap();
        let err = fix_report(&report, &Fixed).unwrap_err();
        assert!(err.message().contains("missing:1: manifest unknown"), "{err}");
        assert!(err.message().contains("no file was changed"));
        assert_eq!(std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap(), text);
    }

    #[test]
    fn json_report_counts() {
        let dir = tree(&[("Dockerfile", "ARG B\nFROM $B\nFROM x:1\n"), ("bin/Dockerfile", "")]);
        std::fs::write(dir.path().join("bin/Dockerfile"), [0xffu8, 0xfe]).unwrap();
        let report = lint(dir.path(), &LintConfig::default()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&report.to_json(None)).unwrap();
        assert_eq!(json["files_checked"], 2);
        assert_eq!(json["errors"], 2);
        assert_eq!(json["warnings"], 1);
        assert_eq!(json["findings"][0]["file"], "Dockerfile");
        assert_eq!(json["findings"][0]["rule"], "unresolved");
        assert_eq!(json["findings"][2]["rule"], "unparsable");
    }
}
