//! Schema changes: files matching the configured globs that changed in the range, with their
//! diff stat (one `git diff --numstat` for the whole range).

use globset::{Glob, GlobSet, GlobSetBuilder};
use relkit_core::{Error, Result};
use relkit_git::{FileStat, Repo};

use crate::notes::SchemaChange;

/// Compiles the globs; a bad glob is a usage error naming it.
pub fn glob_set(globs: &[String]) -> Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for g in globs {
        let glob =
            Glob::new(g).map_err(|e| Error::usage(format!("invalid notes.schema_globs entry {g:?}: {e}")))?;
        builder.add(glob);
    }
    builder.build().map_err(|e| Error::usage(format!("invalid notes.schema_globs: {e}")))
}

/// Changed files in `from..to` that match the globs.
pub fn schema_changes(
    repo: &Repo,
    from: Option<&str>,
    to: &str,
    globs: &[String],
) -> Result<Vec<SchemaChange>> {
    if globs.is_empty() {
        return Ok(Vec::new());
    }
    let set = glob_set(globs)?;
    Ok(matching(repo.diff_numstat(from, to)?, &set))
}

/// The stats whose path matches.
pub fn matching(stats: Vec<FileStat>, set: &GlobSet) -> Vec<SchemaChange> {
    stats
        .into_iter()
        .filter(|s| set.is_match(&s.path))
        .map(|s| SchemaChange { path: s.path, added: s.added, removed: s.removed })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_select_schema_files() {
        let set = glob_set(&["**/*.schema.json".to_string()]).unwrap();
        let stats = vec![
            FileStat { path: "api/recipe.schema.json".into(), added: Some(3), removed: Some(1) },
            FileStat { path: "recipe.schema.json".into(), added: None, removed: None },
            FileStat { path: "src/main.rs".into(), added: Some(1), removed: Some(0) },
        ];
        let got: Vec<String> = matching(stats, &set).into_iter().map(|c| c.path).collect();
        assert_eq!(got, ["api/recipe.schema.json", "recipe.schema.json"]);
        assert_eq!(glob_set(&["a[".to_string()]).unwrap_err().exit_code(), 2);
    }
}
