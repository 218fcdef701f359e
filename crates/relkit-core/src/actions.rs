//! GitHub Actions I/O: inputs from `INPUT_*`, step outputs in `$GITHUB_OUTPUT`, the step summary,
//! workflow commands (`::error::`, `::group::`, `::add-mask::`) and the error reporter every binary
//! ends with.
//!
//! Every function reads the environment through an [`Env`] so that tests can pass their own.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// A source of environment variables: the process environment, or a map in tests.
pub trait Env {
    /// The variable's value, if set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// True when running as a GitHub Actions step (`GITHUB_ACTIONS=true`).
pub fn running_in_actions(env: &dyn Env) -> bool {
    env.var("GITHUB_ACTIONS").as_deref() == Some("true")
}

/// An action input as the runner passes it: `INPUT_<NAME>` with the name upper-cased and spaces
/// replaced by `_` (hyphens are kept, as the runner does). Empty or blank values count as unset.
pub fn input(env: &dyn Env, name: &str) -> Option<String> {
    let key = format!("INPUT_{}", name.replace(' ', "_").to_uppercase());
    env.var(&key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// Step outputs, written to `$GITHUB_OUTPUT` in one go.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outputs {
    values: BTreeMap<String, String>,
}

impl Outputs {
    /// An empty set of outputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets one output (a later call with the same name replaces the value).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.values.insert(name.into(), value.into());
        self
    }

    /// The outputs set so far, by name.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// Renders the outputs in the `$GITHUB_OUTPUT` file format. Every value uses the heredoc form
    /// with a delimiter that does not occur in the value, so no value can inject another output.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.values {
            let delimiter = delimiter_for(value);
            let _ = write!(out, "{name}<<{delimiter}\n{value}\n{delimiter}\n");
        }
        out
    }

    /// True when [`Outputs::write`] writes somewhere (`$GITHUB_OUTPUT` is set): an output that is
    /// costly to build and shown nowhere else can be left out otherwise.
    pub fn collected(env: &dyn Env) -> bool {
        env.var("GITHUB_OUTPUT").is_some_and(|p| !p.is_empty())
    }

    /// Appends the outputs to `$GITHUB_OUTPUT` when it is set; does nothing outside Actions.
    pub fn write(&self, env: &dyn Env) -> Result<()> {
        match env.var("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
            Some(path) => append(&PathBuf::from(path), &self.render(), "GITHUB_OUTPUT"),
            None => Ok(()),
        }
    }
}

/// A heredoc delimiter that occurs in no line of `value`.
fn delimiter_for(value: &str) -> String {
    let mut n: u64 = 0;
    loop {
        let candidate = format!("ghadelimiter_relkit_{n}");
        if !value.lines().any(|line| line.contains(&candidate)) {
            return candidate;
        }
        n += 1;
    }
}

/// Appends Markdown to `$GITHUB_STEP_SUMMARY` when it is set; does nothing outside Actions.
pub fn append_summary(env: &dyn Env, markdown: &str) -> Result<()> {
    match env.var("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        Some(path) => append(&PathBuf::from(path), markdown, "GITHUB_STEP_SUMMARY"),
        None => Ok(()),
    }
}

fn append(path: &PathBuf, text: &str, what: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::failed(format!("cannot open {what} file {}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| Error::failed(format!("cannot write {what} file {}: {e}", path.display())))
}

/// Severity of a workflow-command annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `::error::`
    Error,
    /// `::warning::`
    Warning,
    /// `::notice::`
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }
}

/// Where an annotation points in the repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// Path relative to the repository root.
    pub file: String,
    /// 1-based line number.
    pub line: Option<usize>,
}

/// Formats an annotation workflow command such as `::error file=Dockerfile,line=3::message`.
pub fn annotation(level: Level, location: Option<&Location>, message: &str) -> String {
    let mut props = String::new();
    if let Some(loc) = location {
        let _ = write!(props, " file={}", escape_property(&loc.file));
        if let Some(line) = loc.line {
            let _ = write!(props, ",line={line}");
        }
    }
    format!("::{}{props}::{}", level.command(), escape_data(message))
}

/// Formats `::add-mask::VALUE`: the runner then hides the value in all later log output.
pub fn add_mask(value: &str) -> String {
    format!("::add-mask::{}", escape_data(value))
}

/// Formats `::group::TITLE`; close it with [`end_group`].
pub fn group(title: &str) -> String {
    format!("::group::{}", escape_data(title))
}

/// Formats `::endgroup::`.
pub fn end_group() -> &'static str {
    "::endgroup::"
}

/// Escapes a workflow-command message (`%`, CR, LF), as the runner expects.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow-command property value (also `:` and `,`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Prints an error for a person and, under Actions, as an `::error::` annotation, and returns
/// the exit code the process should end with.
pub fn report_error(env: &dyn Env, binary: &str, error: &Error) -> i32 {
    eprintln!("{binary}: error: {error}");
    if running_in_actions(env) {
        println!("{}", annotation(Level::Error, None, &format!("{binary}: {error}")));
    }
    error.exit_code()
}

/// Prints a warning for a person and, under Actions, as a `::warning::` annotation.
pub fn report_warning(env: &dyn Env, binary: &str, message: &str) {
    eprintln!("{binary}: warning: {message}");
    if running_in_actions(env) {
        println!("{}", annotation(Level::Warning, None, &format!("{binary}: {message}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn inputs_follow_the_runner_naming() {
        let e = env(&[("INPUT_EXISTING-TAGS", " a "), ("INPUT_IMAGE_NAME", "x"), ("INPUT_EMPTY", "  ")]);
        assert_eq!(input(&e, "existing-tags").as_deref(), Some("a"));
        assert_eq!(input(&e, "image name").as_deref(), Some("x"));
        assert_eq!(input(&e, "empty"), None);
        assert_eq!(input(&e, "missing"), None);
    }

    #[test]
    fn outputs_cannot_be_injected() {
        let mut o = Outputs::new();
        o.set("tags", "a\nb").set("evil", "x\nghadelimiter_relkit_0\nother=1");
        let text = o.render();
        assert!(text.starts_with("evil<<ghadelimiter_relkit_1\n"), "{text}");
        assert!(text.contains("tags<<ghadelimiter_relkit_0\na\nb\nghadelimiter_relkit_0\n"));
    }

    #[test]
    fn outputs_are_appended_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        std::fs::write(&path, "before=1\n").unwrap();
        let e = env(&[("GITHUB_OUTPUT", path.to_str().unwrap())]);
        let mut o = Outputs::new();
        o.set("version", "1.2.3");
        o.write(&e).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "before=1\nversion<<ghadelimiter_relkit_0\n1.2.3\nghadelimiter_relkit_0\n");
    }

    #[test]
    fn annotations_escape_data_and_properties() {
        let loc = Location { file: "a,b:c".into(), line: Some(3) };
        assert_eq!(
            annotation(Level::Error, Some(&loc), "50%\nnext"),
            "::error file=a%2Cb%3Ac,line=3::50%25%0Anext"
        );
        assert_eq!(add_mask("s\r"), "::add-mask::s%0D");
        assert_eq!(group("g"), "::group::g");
    }
}
