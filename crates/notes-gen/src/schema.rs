//! Schema changes: files matching `notes.schema_globs` that changed between the merge base of
//! the range's ends and its last commit (what the release changes, also when the previous tag
//! sits on another branch), from a tree diff that enters only directories a glob can match.

use relkit_core::Result;
use relkit_git::{BothFilters, PathFilter, PathGlobs, Repo};

use crate::notes::SchemaChange;

/// The compiled `notes.schema_globs`; a bad glob is a usage error naming it.
pub fn globs(patterns: &[String]) -> Result<PathGlobs> {
    PathGlobs::new(patterns, "notes.schema_globs")
}

/// The base a schema diff starts from: the merge base of `from` and `to` (the previous tag may
/// be on a maintenance branch); `None` for the whole history.
pub fn diff_base(repo: &Repo, from: Option<&str>, to: &str) -> Result<Option<String>> {
    match from {
        Some(from) => Ok(Some(repo.merge_base(from, to)?.unwrap_or_else(|| from.to_string()))),
        None => Ok(None),
    }
}

/// Changed files matching the globs between the merge base of `from` and `to`, and `to`; for a
/// component, only those inside its `paths` (another package's schema is not its change).
pub fn schema_changes(
    repo: &Repo,
    from: Option<&str>,
    to: &str,
    patterns: &[String],
    paths: Option<&PathGlobs>,
) -> Result<Vec<SchemaChange>> {
    let globs = globs(patterns)?;
    if globs.is_empty() {
        return Ok(Vec::new());
    }
    let base = diff_base(repo, from, to)?;
    let scoped;
    let filter: &dyn PathFilter = match paths {
        Some(paths) => {
            scoped = BothFilters(&globs, paths);
            &scoped
        }
        None => &globs,
    };
    Ok(repo
        .diff_stat(base.as_deref(), to, filter)?
        .into_iter()
        .map(|s| SchemaChange { path: s.path, added: s.added, removed: s.removed })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_select_schema_files_and_prune_directories() {
        let set = globs(&["**/*.schema.json".to_string(), "api/v2/*.json".to_string()]).unwrap();
        assert!(set.matches("api/recipe.schema.json") && set.matches("recipe.schema.json"));
        assert!(!set.matches("src/main.rs"));
        assert!(set.may_contain("anything"), "** can be anywhere");
        let only_api = globs(&["api/v2/*.json".to_string()]).unwrap();
        assert!(
            only_api.may_contain("api") && only_api.may_contain("api/v2") && only_api.may_contain("api/v2/x")
        );
        assert!(
            !only_api.may_contain("src") && !only_api.may_contain("api/v1") && !only_api.may_contain("apix")
        );
        let one_file = globs(&["schema.json".to_string()]).unwrap();
        assert!(one_file.may_contain("") && !one_file.may_contain("src"));
        assert_eq!(globs(&["a[".to_string()]).unwrap_err().exit_code(), 2);
    }
}
