//! The finding model: what a file parser reports ([`Hit`]), and the same with its file
//! ([`Finding`]), rendered as `file:line: message`, as JSON, or as an Actions annotation.

use std::ops::Range;

use relkit_core::actions::{Level, Location, annotation};
use serde::Serialize;

use super::reference::ImageRef;

/// How serious a finding is: errors fail the lint (exit 2), warnings are only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// A mutable or malformed reference.
    Error,
    /// A reference that cannot be checked (for example an `ARG` without a default).
    Warning,
}

/// Which rule a finding breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// An image referenced by tag (or implicitly `:latest`) without a digest.
    UnpinnedImage,
    /// A `uses:` action or reusable workflow not pinned to a full commit SHA.
    UnpinnedAction,
    /// An image digest that is not `sha256:` and 64 hex digits.
    BadDigest,
    /// A reference that cannot be read at all.
    MalformedReference,
    /// A reference built from a build argument or expression that has no known value.
    Unresolved,
    /// The file itself cannot be parsed.
    Unparsable,
    /// A self-repository reference (`uses: $/path`) whose path holds no action or workflow.
    MissingPath,
}

/// What a finding is about, for the allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A container image.
    Image(ImageRef),
    /// An action or reusable workflow: `name` is `owner/repo[/path]`, `git_ref` what follows `@`.
    Action {
        /// `owner/repo[/path]`.
        name: String,
        /// The ref after `@`.
        git_ref: String,
    },
    /// Nothing an allowlist entry can name.
    Other,
}

/// How `--fix` can pin a finding's reference, as byte positions in the file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Fix {
    /// Insert `@sha256:…` at byte `at`, just after the image reference `image`; when the
    /// reference has no tag, `:latest` is inserted first so the pinned tag stays visible.
    AppendDigest {
        /// Byte offset just after the reference text.
        at: usize,
        /// The reference to resolve, as written (after `ARG` substitution).
        image: String,
        /// Whether to insert `:latest` before the digest.
        add_latest: bool,
    },
    /// Replace the ref at bytes `range` with the commit SHA it names in `repo`; when
    /// `comment_at` is set, also insert ` # <ref>` there so the version stays readable.
    PinAction {
        /// `owner/repo` on the GitHub server.
        repo: String,
        /// The tag or branch to resolve.
        git_ref: String,
        /// Byte range of the ref after `@`.
        range: Range<usize>,
        /// Where to insert the version comment (end of the value), if the line has no comment.
        comment_at: Option<usize>,
    },
}

/// One finding inside a file, before the file is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// 1-based line.
    pub line: usize,
    /// Error or warning.
    pub severity: Severity,
    /// The rule broken.
    pub rule: Rule,
    /// The reference as written, when there is one.
    pub reference: Option<String>,
    /// One-line message naming the problem and the fix.
    pub message: String,
    /// What the allowlist matches against.
    pub subject: Subject,
    /// How `--fix` pins it, when it can.
    pub fix: Option<Fix>,
}

impl Hit {
    /// An error finding.
    pub fn error(line: usize, rule: Rule, message: impl Into<String>) -> Self {
        Self {
            line,
            severity: Severity::Error,
            rule,
            reference: None,
            message: message.into(),
            subject: Subject::Other,
            fix: None,
        }
    }

    /// A warning finding.
    pub fn warning(line: usize, rule: Rule, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(line, rule, message) }
    }

    /// Sets the reference as written.
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// Sets the allowlist subject.
    pub fn with_subject(mut self, subject: Subject) -> Self {
        self.subject = subject;
        self
    }

    /// Sets the fix.
    pub fn with_fix(mut self, fix: Option<Fix>) -> Self {
        self.fix = fix;
        self
    }
}

/// A finding in a file of the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Path relative to the lint root, with `/` separators.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// Error or warning.
    pub severity: Severity,
    /// The rule broken.
    pub rule: Rule,
    /// The reference as written, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// One-line message.
    pub message: String,
    /// Whether `--fix` can pin it.
    pub fixable: bool,
    /// How `--fix` pins it.
    #[serde(skip)]
    pub fix: Option<Fix>,
}

impl Finding {
    /// Attaches a file to a hit.
    pub fn new(file: &str, hit: Hit) -> Self {
        Self {
            file: file.to_string(),
            line: hit.line,
            severity: hit.severity,
            rule: hit.rule,
            reference: hit.reference,
            fixable: hit.fix.is_some(),
            message: hit.message,
            fix: hit.fix,
        }
    }

    /// `file:line: severity: message`, the line printed for a person.
    pub fn to_line(&self) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!("{}:{}: {severity}: {}", self.file, self.line, self.message)
    }

    /// The `::error file=…,line=…::` / `::warning …` workflow command.
    pub fn to_annotation(&self) -> String {
        let level = match self.severity {
            Severity::Error => Level::Error,
            Severity::Warning => Level::Warning,
        };
        let location = Location { file: self.file.clone(), line: Some(self.line) };
        annotation(level, Some(&location), &self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_render_as_line_and_annotation() {
        let hit =
            Hit::error(3, Rule::UnpinnedImage, "FROM debian:12 is not pinned").with_reference("debian:12");
        let f = Finding::new("docker/Dockerfile", hit);
        assert_eq!(f.to_line(), "docker/Dockerfile:3: error: FROM debian:12 is not pinned");
        assert_eq!(f.to_annotation(), "::error file=docker/Dockerfile,line=3::FROM debian:12 is not pinned");
        let w = Finding::new("a", Hit::warning(1, Rule::Unresolved, "m"));
        assert_eq!(w.to_annotation(), "::warning file=a,line=1::m");
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["rule"], "unpinned-image");
        assert_eq!(json["severity"], "error");
        assert_eq!(json["fixable"], false);
        assert_eq!(json["reference"], "debian:12");
    }
}
