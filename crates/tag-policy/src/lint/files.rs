//! Which files are linted: found by name under the lint paths, honouring `.gitignore` and the
//! `exclude` globs.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use relkit_core::{Error, Result};

/// The kinds of file the lint reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `Dockerfile`, `*.Dockerfile`, `Dockerfile.*`, `Containerfile*`.
    Dockerfile,
    /// `.github/workflows/*.yml|yaml`.
    Workflow,
    /// `action.yml|yaml`.
    Action,
    /// `compose.yml|yaml`, `compose.*.yml|yaml`, `docker-compose*.yml|yaml`.
    Compose,
}

/// The kind of a file from its path (relative, `/`-separated), or `None` for other files.
pub fn classify(path: &str) -> Option<FileKind> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    let yaml = lower.ends_with(".yml") || lower.ends_with(".yaml");
    if lower.ends_with(".dockerignore") {
        None
    } else if lower == "dockerfile"
        || lower.starts_with("dockerfile.")
        || lower.ends_with(".dockerfile")
        || lower.starts_with("containerfile")
    {
        Some(FileKind::Dockerfile)
    } else if yaml && (path.starts_with(".github/workflows/") || path.contains("/.github/workflows/")) && {
        let dir = &path[..path.len() - name.len()];
        dir.ends_with(".github/workflows/")
    } {
        Some(FileKind::Workflow)
    } else if lower == "action.yml" || lower == "action.yaml" {
        Some(FileKind::Action)
    } else if yaml && (lower.starts_with("compose.") || lower.starts_with("docker-compose")) {
        Some(FileKind::Compose)
    } else {
        None
    }
}

/// A file to lint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Path relative to the root, `/`-separated (as printed in findings).
    pub display: String,
    /// Path to read.
    pub path: PathBuf,
    /// How to read it.
    pub kind: FileKind,
}

/// Every file to lint under `paths` (relative to `root`; the root itself when empty), sorted.
/// A path that names a file is linted when its name says what it is, and is an error otherwise.
pub fn discover(root: &Path, paths: &[String], exclude: &[String]) -> Result<Vec<Target>> {
    let excluded = exclude_set(exclude)?;
    let roots: Vec<PathBuf> = if paths.is_empty() {
        vec![root.to_path_buf()]
    } else {
        paths.iter().map(|p| root.join(p)).collect()
    };
    let mut targets = Vec::new();
    for start in &roots {
        let meta = std::fs::metadata(start).map_err(|e| {
            Error::usage(format!(
                "lint path {} cannot be read ({e}): name a file or directory that exists",
                start.display()
            ))
        })?;
        if meta.is_file() {
            let display = display_path(root, start);
            let kind = classify(&display).ok_or_else(|| {
                Error::usage(format!(
                    "{display} is not a Dockerfile, Containerfile, workflow, action.yml or compose file: \
                     rename it or name its directory instead"
                ))
            })?;
            targets.push(Target { display, path: start.clone(), kind });
            continue;
        }
        let walk = ignore::WalkBuilder::new(start)
            .hidden(false)
            .require_git(false)
            .filter_entry(|entry| entry.file_name() != ".git")
            .build();
        for entry in walk {
            let entry = entry.map_err(|e| Error::failed(format!("cannot walk {}: {e}", start.display())))?;
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let display = display_path(root, entry.path());
            if excluded.is_match(&display) {
                continue;
            }
            if let Some(kind) = classify(&display) {
                targets.push(Target { display, path: entry.path().to_path_buf(), kind });
            }
        }
    }
    targets.sort_by(|a, b| a.display.cmp(&b.display));
    targets.dedup_by(|a, b| a.display == b.display);
    Ok(targets)
}

fn exclude_set(patterns: &[String]) -> Result<GlobSet> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = globset::GlobBuilder::new(pattern).literal_separator(true).build().map_err(|e| {
            Error::usage(format!(
                "lint.exclude pattern {pattern:?} is not a valid glob ({e}); see docs/configuration.md"
            ))
        })?;
        set.add(glob);
        // `dir/**` also excludes `dir` itself being walked into: match the files below as well.
        if let Ok(below) = Glob::new(&format!("{}/**", pattern.trim_end_matches('/'))) {
            set.add(below);
        }
    }
    set.build().map_err(|e| Error::usage(format!("lint.exclude: {e}")))
}

fn display_path(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let text: Vec<String> =
        relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    text.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_name() {
        let cases = [
            ("Dockerfile", Some(FileKind::Dockerfile)),
            ("docker/Dockerfile.prod", Some(FileKind::Dockerfile)),
            ("web.Dockerfile", Some(FileKind::Dockerfile)),
            ("dockerfile", Some(FileKind::Dockerfile)),
            ("Containerfile", Some(FileKind::Dockerfile)),
            ("build/Containerfile.arm64", Some(FileKind::Dockerfile)),
            ("Dockerfile.dockerignore", None),
            (".github/workflows/ci.yml", Some(FileKind::Workflow)),
            ("sub/.github/workflows/ci.yaml", Some(FileKind::Workflow)),
            (".github/workflows/nested/x.yml", None),
            (".github/workflows/README.md", None),
            ("action.yml", Some(FileKind::Action)),
            ("actions/sign/action.yaml", Some(FileKind::Action)),
            ("compose.yml", Some(FileKind::Compose)),
            ("deploy/compose.prod.yaml", Some(FileKind::Compose)),
            ("docker-compose.override.yml", Some(FileKind::Compose)),
            ("composer.json", None),
            ("README.md", None),
        ];
        for (path, want) in cases {
            assert_eq!(classify(path), want, "{path}");
        }
    }

    #[test]
    fn discovery_honours_gitignore_and_exclude() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "Dockerfile",
            ".github/workflows/ci.yml",
            "vendor/lib/Dockerfile",
            "ignored/Dockerfile",
            "actions/x/action.yml",
            ".git/Dockerfile",
            "notes.txt",
        ] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), "FROM x\n").unwrap();
        }
        std::fs::write(root.join(".gitignore"), "ignored/\n").unwrap();
        let found = discover(root, &[], &["vendor".into()]).unwrap();
        let names: Vec<&str> = found.iter().map(|t| t.display.as_str()).collect();
        assert_eq!(names, [".github/workflows/ci.yml", "Dockerfile", "actions/x/action.yml"]);

        let only = discover(root, &["actions".into(), "Dockerfile".into()], &[]).unwrap();
        assert_eq!(only.len(), 2);
        let err = discover(root, &["notes.txt".into()], &[]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(discover(root, &["missing".into()], &[]).unwrap_err().message().contains("missing"));
        assert!(discover(root, &[], &["[".into()]).is_err());
    }
}
