//! The allowlist: references that may stay mutable (`lint.allow` in the configuration).

use super::finding::Subject;

/// Patterns naming images or actions that may stay unpinned. `*` matches any run of
/// characters, `/` included. An image entry matches the repository as written
/// (`ghcr.io/org/*`), its Docker Hub spelling (`docker.io/library/debian`) or the reference with
/// its tag (`debian:12`); an action entry matches `owner/repo[/path]` or `owner/repo@ref`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    patterns: Vec<String>,
}

impl Allowlist {
    /// An allowlist of these patterns.
    pub fn new(patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self { patterns: patterns.into_iter().map(Into::into).collect() }
    }

    /// Whether some pattern names this subject.
    pub fn allows(&self, subject: &Subject) -> bool {
        let candidates = match subject {
            Subject::Image(image) => {
                let mut c = vec![image.name.clone(), image.normalized_name()];
                if let Some(tag) = &image.tag {
                    c.push(format!("{}:{tag}", image.name));
                    c.push(format!("{}:{tag}", image.normalized_name()));
                }
                c
            }
            Subject::Action { name, git_ref } => vec![name.clone(), format!("{name}@{git_ref}")],
            Subject::Other => return false,
        };
        self.patterns.iter().any(|p| candidates.iter().any(|c| wildcard_match(p, c)))
    }
}

/// Matches `text` against `pattern`, where `*` stands for any run of characters.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ti = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::reference::ImageRef;

    fn image(text: &str) -> Subject {
        Subject::Image(ImageRef::parse(text).unwrap())
    }

    fn action(name: &str, git_ref: &str) -> Subject {
        Subject::Action { name: name.into(), git_ref: git_ref.into() }
    }

    #[test]
    fn allowlist_table() {
        let allow = Allowlist::new([
            "ghcr.io/myorg/*",
            "actions/checkout",
            "debian:12",
            "docker.io/library/node",
            "o/*@main",
        ]);
        let cases = [
            (image("ghcr.io/myorg/app:1"), true),
            (image("ghcr.io/myorg/deep/app"), true),
            (image("ghcr.io/other/app:1"), false),
            (image("debian:12"), true),
            (image("debian:13"), false),
            (image("node:22"), true),
            (action("actions/checkout", "v4"), true),
            (action("actions/checkout/sub", "v4"), false),
            (action("actions/cache", "v4"), false),
            (action("o/r", "main"), true),
            (action("o/r", "v1"), false),
            (Subject::Other, false),
        ];
        for (subject, want) in cases {
            assert_eq!(allow.allows(&subject), want, "{subject:?}");
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXbYc"));
        assert!(wildcard_match("a*c", "abcbc"));
        assert!(!wildcard_match("a*c", "abcb"));
        assert!(wildcard_match("**", "x/y"));
        assert!(!wildcard_match("", "x"));
    }
}
