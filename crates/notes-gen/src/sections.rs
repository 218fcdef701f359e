//! Which section each change goes to: pull-request labels through `.github/release.yml`
//! categories first (GitHub's own format), then the conventional type through the configured
//! mapping, then "Other changes". Breaking changes are listed once, in their own section (with
//! the section they would otherwise be in); security fixes likewise get their own.

use relkit_core::config::{NotesConfig, SectionConfig};
use relkit_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::changes::Change;

/// One rendered section.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Section {
    /// The heading.
    pub title: String,
    /// Its changes, in commit order (newest first).
    pub changes: Vec<Change>,
}

/// GitHub's `.github/release.yml` (`changelog.exclude` and `changelog.categories`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ReleaseYml {
    /// The `changelog:` key.
    #[serde(default)]
    pub changelog: ReleaseYmlChangelog,
}

/// `changelog:` of `.github/release.yml`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ReleaseYmlChangelog {
    /// PRs left out of the notes.
    #[serde(default)]
    pub exclude: LabelsAndAuthors,
    /// Label-based categories; the first match wins, `*` matches every PR.
    #[serde(default)]
    pub categories: Vec<ReleaseYmlCategory>,
}

/// A label/author filter.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct LabelsAndAuthors {
    /// Label names (`*` for any).
    #[serde(default)]
    pub labels: Vec<String>,
    /// GitHub logins.
    #[serde(default)]
    pub authors: Vec<String>,
}

/// One category of `.github/release.yml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ReleaseYmlCategory {
    /// The heading.
    pub title: String,
    /// Labels that put a PR here (`*` for any).
    #[serde(default)]
    pub labels: Vec<String>,
    /// PRs to keep out of this category.
    #[serde(default)]
    pub exclude: LabelsAndAuthors,
}

impl ReleaseYml {
    /// Parses the file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        serde_norway::from_str::<Option<Self>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|e| Error::usage(format!("invalid {origin}: {e}; see GitHub's release.yml format")))
    }

    /// True when the PR is excluded from the notes altogether.
    pub fn excludes(&self, labels: &[String], author: Option<&str>) -> bool {
        self.changelog.exclude.matches(labels, author)
    }

    /// The category title for a PR with these labels, not counting a `*` category.
    fn category_for(&self, labels: &[String], author: Option<&str>) -> Option<&str> {
        self.changelog
            .categories
            .iter()
            .filter(|c| !c.labels.iter().any(|l| l == "*"))
            .find(|c| c.labels.iter().any(|l| labels.contains(l)) && !c.exclude.matches(labels, author))
            .map(|c| c.title.as_str())
    }

    /// The title of the `*` category, which then names the "other changes" section.
    fn catch_all_title(&self) -> Option<&str> {
        self.changelog.categories.iter().find(|c| c.labels.iter().any(|l| l == "*")).map(|c| c.title.as_str())
    }
}

impl LabelsAndAuthors {
    fn matches(&self, labels: &[String], author: Option<&str>) -> bool {
        let label_hit = self.labels.iter().any(|l| l == "*" || labels.contains(l));
        let author_hit =
            author.is_some_and(|a| self.authors.iter().any(|x| x == "*" || x.eq_ignore_ascii_case(a)));
        label_hit || author_hit
    }
}

/// Notes grouped into sections.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Grouped {
    /// Breaking changes, with their upgrade notes.
    pub breaking: Vec<Change>,
    /// Security fixes.
    pub security: Vec<Change>,
    /// The type/label sections in configured order, then "Other changes"; empty ones are left out.
    pub sections: Vec<Section>,
    /// How many changes were left out by `exclude_types` or `.github/release.yml`, and why.
    pub excluded: Vec<Exclusion>,
}

/// Changes left out, counted by reason, so that nothing disappears silently.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Exclusion {
    /// Why, e.g. "type chore (notes.exclude_types)".
    pub reason: String,
    /// How many changes.
    pub count: usize,
}

/// Groups changes into sections.
pub fn group(changes: Vec<Change>, config: &NotesConfig, release_yml: Option<&ReleaseYml>) -> Grouped {
    let mut grouped = Grouped::default();
    let mut titles: Vec<String> = Vec::new();
    let other_title = release_yml
        .and_then(ReleaseYml::catch_all_title)
        .map(str::to_string)
        .unwrap_or_else(|| config.other_title.clone());
    // `.github/release.yml` categories first, as GitHub shows them, then the configured sections.
    let yml_titles = release_yml.iter().flat_map(|y| &y.changelog.categories).map(|c| &c.title);
    for title in yml_titles.chain(config.sections.iter().map(|s| &s.title)) {
        if !titles.contains(title) && *title != other_title {
            titles.push(title.clone());
        }
    }
    let mut buckets: Vec<Vec<Change>> = vec![Vec::new(); titles.len()];
    let mut other = Vec::new();
    let mut excluded: Vec<Exclusion> = Vec::new();
    let mut exclude = |reason: String| match excluded.iter_mut().find(|e| e.reason == reason) {
        Some(e) => e.count += 1,
        None => excluded.push(Exclusion { reason, count: 1 }),
    };
    for mut change in changes {
        let labels = change.pr.as_ref().map(|p| p.labels.clone()).unwrap_or_default();
        let login = change.pr.as_ref().and_then(|p| p.author.clone());
        if config.security_labels.iter().any(|l| labels.contains(l)) {
            change.security = true;
        }
        if let Some(yml) = release_yml
            && change.pr.is_some()
            && !change.breaking
            && !change.security
            && yml.excludes(&labels, login.as_deref())
        {
            exclude("pull request(s) excluded by .github/release.yml".to_string());
            continue;
        }
        if let Some(kind) = &change.kind
            && !change.breaking
            && !change.security
            && config.exclude_types.contains(kind)
        {
            exclude(format!("change(s) of type {kind} (notes.exclude_types)"));
            continue;
        }
        let by_label =
            release_yml.and_then(|y| y.category_for(&labels, login.as_deref())).map(str::to_string);
        let by_type = change.kind.as_deref().and_then(|k| section_for_type(&config.sections, k));
        let title = by_label.or(by_type);
        if change.breaking {
            // Listed once, in their own section; `section` names the one it would be in.
            change.section = match title.as_ref().and_then(|t| titles.iter().find(|x| *x == t)) {
                Some(t) => t.clone(),
                None if change.security => "Security".to_string(),
                None => other_title.clone(),
            };
            grouped.breaking.push(change);
            continue;
        }
        if change.security {
            change.section = "Security".to_string();
            grouped.security.push(change);
            continue;
        }
        match title.and_then(|t| titles.iter().position(|x| *x == t)) {
            Some(i) => {
                change.section = titles[i].clone();
                buckets[i].push(change);
            }
            None => {
                change.section = other_title.clone();
                other.push(change);
            }
        }
    }
    grouped.sections = titles
        .into_iter()
        .zip(buckets)
        .filter(|(_, changes)| !changes.is_empty())
        .map(|(title, changes)| Section { title, changes })
        .collect();
    if !other.is_empty() {
        grouped.sections.push(Section { title: other_title, changes: other });
    }
    grouped.excluded = excluded;
    grouped
}

fn section_for_type(sections: &[SectionConfig], kind: &str) -> Option<String> {
    sections.iter().find(|s| s.types.iter().any(|t| t == kind)).map(|s| s.title.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::changes_of_commit;
    use crate::forge::github::PullRequest;

    fn change(message: &str, labels: &[&str]) -> Change {
        let mut c = changes_of_commit(&"b".repeat(40), message, "A", "a@x").remove(0);
        if !labels.is_empty() {
            c.pr = Some(PullRequest {
                number: 1,
                title: message.into(),
                url: "u".into(),
                author: Some("dependabot[bot]".into()),
                labels: labels.iter().map(|s| s.to_string()).collect(),
            });
        }
        c
    }

    fn titles(g: &Grouped) -> Vec<(&str, usize)> {
        g.sections.iter().map(|s| (s.title.as_str(), s.changes.len())).collect()
    }

    #[test]
    fn types_map_to_sections_and_the_rest_is_other() {
        let config = NotesConfig::default();
        let g = group(
            vec![
                change("feat: a", &[]),
                change("fix: b", &[]),
                change("Tweak", &[]),
                change("feat!: c", &[]),
            ],
            &config,
            None,
        );
        assert_eq!(titles(&g), [("Features", 1), ("Bug fixes", 1), ("Other changes", 1)]);
        assert_eq!(g.breaking.len(), 1);
        assert_eq!(g.breaking[0].section, "Features");
    }

    #[test]
    fn release_yml_categories_and_excludes() {
        let yml = ReleaseYml::parse(
            "changelog:\n  exclude:\n    labels: [ignore-for-release]\n  categories:\n    - title: Exciting\n      labels: [enhancement]\n    - title: Everything else\n      labels: ['*']\n",
            "release.yml",
        )
        .unwrap();
        let config = NotesConfig::default();
        let g = group(
            vec![
                change("Add shiny", &["enhancement"]),
                change("fix: x", &["ignore-for-release"]),
                change("Misc", &["other"]),
                change("fix: y", &["security"]),
            ],
            &config,
            Some(&yml),
        );
        assert_eq!(titles(&g), [("Exciting", 1), ("Everything else", 1)]);
        assert_eq!(g.security.len(), 1, "a security label makes a security fix");
        assert_eq!(
            g.excluded,
            [Exclusion { reason: "pull request(s) excluded by .github/release.yml".into(), count: 1 }]
        );
    }

    #[test]
    fn excluded_types_are_counted_not_dropped_silently() {
        let config = NotesConfig { exclude_types: vec!["chore".into()], ..NotesConfig::default() };
        let g = group(vec![change("chore: a", &[]), change("chore!: b", &[])], &config, None);
        assert_eq!(g.excluded[0].count, 1);
        assert_eq!(g.breaking.len(), 1, "breaking changes are never excluded");
    }

    #[test]
    fn empty_release_yml_is_accepted() {
        assert_eq!(ReleaseYml::parse("", "x").unwrap(), ReleaseYml::default());
        assert!(ReleaseYml::parse("changelog: [1]", "x").is_err());
    }
}
