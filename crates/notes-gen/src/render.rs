//! Rendering: the default Markdown templates, a custom minijinja template, or JSON.

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use relkit_core::{Error, Result};
use serde::Serialize;

use crate::notes::Notes;

const MACROS: &str = include_str!("../templates/macros.md.j2");
const NOTES: &str = include_str!("../templates/notes.md.j2");
const CHANGELOG: &str = include_str!("../templates/changelog.md.j2");

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown from the default or the given template.
    Markdown,
    /// The structured notes (the template context) as JSON.
    Json,
}

/// The changelog context: every release, newest first.
#[derive(Debug, Serialize)]
pub struct ChangelogContext<'a> {
    /// Notes per release, newest first.
    pub releases: &'a [Notes],
}

fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(|e| Error::failed(format!("template syntax: {e}")))?;
    env.set_syntax(syntax);
    for (name, source) in [("macros.md.j2", MACROS), ("notes.md.j2", NOTES), ("changelog.md.j2", CHANGELOG)] {
        env.add_template(name, source)
            .map_err(|e| Error::failed(format!("built-in template {name}: {e}")))?;
    }
    Ok(env)
}

/// A compiled template: a built-in one, or a custom one (which can
/// `{% import "macros.md.j2" as m %}`). Compiled before the history is read, so that a broken
/// template fails at once.
pub struct Template {
    env: Environment<'static>,
    name: String,
    custom: bool,
}

impl Template {
    /// The release notes template: the built-in one, or `custom` (the name to report in errors,
    /// and the source).
    pub fn notes(custom: Option<(&str, &str)>) -> Result<Self> {
        Self::compile("notes.md.j2", custom)
    }

    /// The changelog template: the built-in one, or `custom` (as for [`Template::notes`]).
    pub fn changelog(custom: Option<(&str, &str)>) -> Result<Self> {
        Self::compile("changelog.md.j2", custom)
    }

    fn compile(built_in: &str, custom: Option<(&str, &str)>) -> Result<Self> {
        let mut env = environment()?;
        let name = match custom {
            Some((origin, source)) => {
                env.add_template_owned(origin.to_string(), source.to_string())
                    .map_err(|e| Error::usage(format!("template {origin}: {e}")))?;
                origin
            }
            None => built_in,
        };
        Ok(Template { env, name: name.to_string(), custom: custom.is_some() })
    }

    /// Renders the notes of one release.
    pub fn render_notes(&self, notes: &Notes) -> Result<String> {
        self.render(minijinja::context! { notes => Serde(notes), ..Serde(notes) })
    }

    /// Renders a changelog of many releases (newest first).
    pub fn render_changelog(&self, releases: &[Notes]) -> Result<String> {
        self.render(Serde(&ChangelogContext { releases }))
    }

    fn render(&self, ctx: impl Into<minijinja::Value>) -> Result<String> {
        let name = &self.name;
        let template = self.env.get_template(name).map_err(|e| Error::failed(e.to_string()))?;
        let text = template.render(ctx).map_err(|e| Error::usage(format!("template {name}: {e}")))?;
        Ok(if self.custom { text } else { tidy(&text) })
    }
}

/// The notes as pretty JSON.
pub fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map(|s| s + "\n").map_err(|e| Error::failed(format!("JSON: {e}")))
}

/// Collapses runs of blank lines to one and ends the text with exactly one newline.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() && blank > 0 {
            out.push('\n');
        }
        blank = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_collapses_blank_runs() {
        assert_eq!(tidy("\n\na\n\n\n\nb  \n\n"), "a\n\nb\n");
    }
}
