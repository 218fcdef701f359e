//! The two checks every file kind shares: is an image pinned by digest, is a `uses:` pinned to a
//! commit SHA. Pure functions over the reference text and where it sits in the file.

use std::ops::Range;

use super::finding::{Fix, Hit, Rule, Subject};
use super::reference::{ImageRef, Pinning, is_commit_sha};

/// Checks an image reference. `what` names where it was found (`FROM`, `image:`); `end` is the
/// byte offset just after the reference text in the file, when `--fix` may insert there.
pub fn check_image(what: &str, text: &str, line: usize, end: Option<usize>) -> Option<Hit> {
    let image = match ImageRef::parse(text) {
        Ok(image) => image,
        Err(problem) => {
            return Some(
                Hit::error(
                    line,
                    Rule::MalformedReference,
                    format!("{what} {problem}: write name[:tag]@sha256:<digest>"),
                )
                .with_reference(text),
            );
        }
    };
    let hit = match image.pinning() {
        Pinning::Digest => return None,
        Pinning::BadDigest(digest) => Hit::error(
            line,
            Rule::BadDigest,
            format!(
                "{what} {text} has a malformed digest {digest:?}: a digest is sha256: and 64 lowercase hex digits"
            ),
        ),
        Pinning::Tag => {
            let fix = end.map(|at| Fix::AppendDigest {
                at,
                image: text.to_string(),
                add_latest: image.tag.is_none(),
            });
            let shown = match &image.tag {
                Some(_) => text.to_string(),
                None => format!("{text}:latest"),
            };
            let implicit = if image.tag.is_none() { " (no tag means :latest)" } else { "" };
            Hit::error(
                line,
                Rule::UnpinnedImage,
                format!(
                    "{what} {text} is not pinned by digest{implicit}: write {shown}@sha256:<digest> \
                     (tag-policy lint --fix does it)"
                ),
            )
            .with_fix(fix)
        }
    };
    Some(hit.with_reference(text).with_subject(Subject::Image(image)))
}

/// The prefix of GitHub's self-repository references (`uses: $/.github/actions/build`).
pub const SELF_REFERENCE: &str = "$/";

/// Checks the value of a `uses:` key. `value` is the value as parsed; `span` is the byte range of
/// that same text in `source` when it appears there verbatim (so `--fix` can edit it).
pub fn check_uses(value: &str, line: usize, source: &str, span: Option<Range<usize>>) -> Option<Hit> {
    if value.starts_with("./") {
        return None;
    }
    if let Some(path) = value.strip_prefix(SELF_REFERENCE) {
        // GitHub resolves `$/path` in the running workflow's own repository at the running
        // commit: pinned by construction. Whether the path exists is checked by the caller.
        if path.contains('@') || path.is_empty() || path.split('/').any(|part| part == "..") {
            return Some(
                Hit::error(
                    line,
                    Rule::MalformedReference,
                    format!(
                        "uses: {value} is not a self-repository reference: write $/path/to/action \
                         (no @ref: it is resolved at the running commit)"
                    ),
                )
                .with_reference(value),
            );
        }
        return None;
    }
    if let Some(image) = value.strip_prefix("docker://") {
        let end = span.as_ref().map(|s| s.end);
        return check_image("uses: docker://", image, line, end)
            .map(|hit| Hit { reference: Some(value.to_string()), ..hit });
    }
    let Some((name, git_ref)) = value.split_once('@') else {
        return Some(
            Hit::error(
                line,
                Rule::MalformedReference,
                format!("uses: {value} names no ref: write owner/repo@<40-hex commit sha> # <tag>"),
            )
            .with_reference(value),
        );
    };
    let subject = Subject::Action { name: name.to_string(), git_ref: git_ref.to_string() };
    let repo = name.splitn(3, '/').take(2).collect::<Vec<_>>();
    if repo.len() < 2 || repo.iter().any(|part| part.is_empty()) || git_ref.is_empty() {
        return Some(
            Hit::error(
                line,
                Rule::MalformedReference,
                format!("uses: {value} is not owner/repo[/path]@ref, a ./local path or docker://image"),
            )
            .with_reference(value),
        );
    }
    if is_commit_sha(git_ref) {
        return None;
    }
    let fix = span.map(|span| {
        let ref_start = span.start + name.len() + 1;
        Fix::PinAction {
            repo: repo.join("/"),
            git_ref: git_ref.to_string(),
            range: ref_start..span.end,
            comment_at: comment_point(source, span.end),
        }
    });
    Some(
        Hit::error(
            line,
            Rule::UnpinnedAction,
            format!(
                "uses: {value} is not pinned to a full commit SHA: write {name}@<40-hex commit sha> # {git_ref} \
                 (tag-policy lint --fix does it)"
            ),
        )
        .with_reference(value)
        .with_subject(subject)
        .with_fix(fix),
    )
}

/// Where a ` # ref` comment can go after a value ending at `end`: just after the value (and its
/// closing quote), when nothing but blanks follows on the line.
fn comment_point(source: &str, end: usize) -> Option<usize> {
    let rest = source.get(end..)?;
    let after_quote = usize::from(rest.starts_with(['"', '\'']));
    let line_rest = rest[after_quote..].split('\n').next().unwrap_or("");
    line_rest.trim().is_empty().then_some(end + after_quote)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "8e5e7e5ab8b370d6c329ec480221332ada57f0ab";
    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn image_rules() {
        let cases: &[(&str, Option<Rule>)] = &[
            ("debian:12", Some(Rule::UnpinnedImage)),
            ("debian", Some(Rule::UnpinnedImage)),
            ("ghcr.io/o/a:1@sha256:abc", Some(Rule::BadDigest)),
            ("a b", Some(Rule::MalformedReference)),
            ("debian:12@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", None),
        ];
        for (text, rule) in cases {
            assert_eq!(check_image("FROM", text, 1, Some(10)).map(|h| h.rule), *rule, "{text}");
        }
    }

    #[test]
    fn untagged_images_are_fixed_with_latest() {
        let hit = check_image("FROM", "debian", 2, Some(11)).unwrap();
        assert_eq!(hit.fix, Some(Fix::AppendDigest { at: 11, image: "debian".into(), add_latest: true }));
        assert!(hit.message.contains("debian:latest@sha256:<digest>"), "{}", hit.message);
        let hit = check_image("FROM", "debian:12", 2, None).unwrap();
        assert_eq!(hit.fix, None);
    }

    #[test]
    fn uses_rules() {
        let pinned = format!("actions/checkout@{SHA}");
        let docker_pinned = format!("docker://alpine:3@{D}");
        let cases: &[(&str, Option<Rule>)] = &[
            ("./.github/actions/x", None),
            (&pinned, None),
            ("actions/checkout@v4", Some(Rule::UnpinnedAction)),
            ("org/repo/.github/workflows/ci.yml@main", Some(Rule::UnpinnedAction)),
            ("actions/checkout@8e5e7e5", Some(Rule::UnpinnedAction)),
            ("actions/checkout", Some(Rule::MalformedReference)),
            ("checkout@v4", Some(Rule::MalformedReference)),
            ("actions/checkout@", Some(Rule::MalformedReference)),
            ("docker://alpine:3", Some(Rule::UnpinnedImage)),
            (&docker_pinned, None),
        ];
        for (value, rule) in cases {
            assert_eq!(check_uses(value, 1, value, Some(0..value.len())).map(|h| h.rule), *rule, "{value}");
        }
    }

    #[test]
    fn uses_fix_replaces_the_ref_and_adds_a_comment_only_on_a_bare_line() {
        let src = "      - uses: actions/checkout@v4\n";
        let start = src.find("actions").unwrap();
        let span = start..start + "actions/checkout@v4".len();
        let hit = check_uses("actions/checkout@v4", 1, src, Some(span.clone())).unwrap();
        let Some(Fix::PinAction { repo, git_ref, range, comment_at }) = hit.fix else { panic!("no fix") };
        assert_eq!((repo.as_str(), git_ref.as_str()), ("actions/checkout", "v4"));
        assert_eq!(&src[range], "v4");
        assert_eq!(comment_at, Some(span.end));

        let src = "  - uses: 'o/r/sub@v1' # keep\n";
        let start = src.find("o/r").unwrap();
        let hit = check_uses("o/r/sub@v1", 1, src, Some(start..start + 10)).unwrap();
        let Some(Fix::PinAction { repo, comment_at, .. }) = hit.fix else { panic!("no fix") };
        assert_eq!(repo, "o/r");
        assert_eq!(comment_at, None);
    }
}
