//! GitHub workflow and action files: `uses:` must be pinned to a full commit SHA (local `./`
//! actions excepted, `docker://` images by digest), and job containers and service images by
//! digest.

use super::checks::{SELF_REFERENCE, check_image, check_uses};
use super::finding::{Hit, Rule};
use super::yaml::{Scalar, path_matches, scalars};

/// Where a workflow (`.github/workflows/*.yml`) references actions and images.
const WORKFLOW_USES: &[&[&str]] = &[&["jobs", "*", "steps", "#", "uses"], &["jobs", "*", "uses"]];
const WORKFLOW_IMAGES: &[&[&str]] = &[
    &["jobs", "*", "container"],
    &["jobs", "*", "container", "image"],
    &["jobs", "*", "services", "*", "image"],
];

/// Where an action (`action.yml`) references actions and images.
const ACTION_USES: &[&[&str]] = &[&["runs", "steps", "#", "uses"]];
const ACTION_IMAGE: &[&str] = &["runs", "image"];

/// Findings in a workflow file.
pub fn scan_workflow(source: &str) -> Vec<Hit> {
    scan(source, |s| {
        if WORKFLOW_USES.iter().any(|p| path_matches(&s.path, p)) {
            check_uses(&s.value, s.line, source, s.span.clone())
        } else if WORKFLOW_IMAGES.iter().any(|p| path_matches(&s.path, p)) {
            check_container_image(s)
        } else {
            None
        }
    })
}

/// Findings in an action metadata file (`action.yml`).
pub fn scan_action(source: &str) -> Vec<Hit> {
    scan(source, |s| {
        let docker_image = path_matches(&s.path, ACTION_IMAGE) && s.value.starts_with("docker://");
        if docker_image || ACTION_USES.iter().any(|p| path_matches(&s.path, p)) {
            check_uses(&s.value, s.line, source, s.span.clone())
        } else {
            None
        }
    })
}

/// The self-repository references (`uses: $/path`) of a workflow or action file: line and
/// path, for the caller to check that the path exists. Empty when the file does not parse.
pub fn self_references(source: &str, is_workflow: bool) -> Vec<(usize, String)> {
    let places: &[&[&str]] = if is_workflow { WORKFLOW_USES } else { ACTION_USES };
    scalars(source)
        .map(|found| {
            found
                .iter()
                .filter(|s| places.iter().any(|p| path_matches(&s.path, p)))
                .filter_map(|s| s.value.strip_prefix(SELF_REFERENCE).map(|path| (s.line, path.to_owned())))
                .filter(|(_, path)| {
                    !path.is_empty() && !path.contains('@') && !path.split('/').any(|p| p == "..")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `check` over every scalar of a YAML file; a file that does not parse is one finding.
pub(super) fn scan(source: &str, check: impl Fn(&Scalar) -> Option<Hit>) -> Vec<Hit> {
    match scalars(source) {
        Ok(found) => found.iter().filter_map(check).collect(),
        Err(e) => vec![Hit::error(
            e.line,
            Rule::Unparsable,
            format!("not valid YAML ({}): fix the syntax so the file can be checked", e.message),
        )],
    }
}

/// A job container or service image, skipping `${{ }}` expressions with a warning.
fn check_container_image(s: &Scalar) -> Option<Hit> {
    if s.value.contains("${{") {
        return Some(
            Hit::warning(
                s.line,
                Rule::Unresolved,
                format!(
                    "image {} is an expression and cannot be checked: make sure it resolves to a digest",
                    s.value
                ),
            )
            .with_reference(s.value.as_str()),
        );
    }
    check_image("image", &s.value, s.line, s.span.as_ref().map(|r| r.end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::finding::Fix;

    #[test]
    fn self_repository_references_are_pinned_by_construction() {
        let src = "jobs:\n  a:\n    uses: $/.github/workflows/build.yml\n  b:\n    steps:\n      - uses: $/.github/actions/x\n      - uses: $/.github/actions/y@main\n";
        let hits = scan_workflow(src);
        assert_eq!(rules(&hits), [(7, Rule::MalformedReference)]);
        assert_eq!(
            self_references(src, true),
            [(3, ".github/workflows/build.yml".to_owned()), (6, ".github/actions/x".to_owned())]
        );
        let action = "runs:\n  using: composite\n  steps:\n    - uses: $/actions/inner\n";
        assert!(scan_action(action).is_empty());
        assert_eq!(self_references(action, false), [(4, "actions/inner".to_owned())]);
    }

    const SHA: &str = "8e5e7e5ab8b370d6c329ec480221332ada57f0ab";
    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn rules(hits: &[Hit]) -> Vec<(usize, Rule)> {
        hits.iter().map(|h| (h.line, h.rule)).collect()
    }

    #[test]
    fn workflow_findings() {
        let src = format!(
            "on: push
jobs:
  build:
    runs-on: ubuntu-latest
    container: node:22
    services:
      db:
        image: postgres:16@{D}
      cache:
        image: ${{{{ matrix.cache }}}}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@{SHA} # v4
      - uses: ./.github/actions/local
      - uses: docker://alpine:3.20
      - run: |
          echo uses: not/an@action
        with:
          uses: also/not@checked
  call:
    uses: org/shared/.github/workflows/ci.yml@main
  other:
    container:
      image: debian
"
        );
        let hits = scan_workflow(&src);
        assert_eq!(
            rules(&hits),
            [
                (5, Rule::UnpinnedImage),
                (10, Rule::Unresolved),
                (12, Rule::UnpinnedAction),
                (15, Rule::UnpinnedImage),
                (21, Rule::UnpinnedAction),
                (24, Rule::UnpinnedImage),
            ]
        );
        let docker = &hits[3];
        assert_eq!(docker.reference.as_deref(), Some("docker://alpine:3.20"));
        let Some(Fix::AppendDigest { at, image, add_latest: false }) = &docker.fix else {
            panic!("{docker:?}")
        };
        assert_eq!(image, "alpine:3.20");
        assert!(src[..*at].ends_with("docker://alpine:3.20"));
    }

    #[test]
    fn action_findings() {
        let src = "name: x
runs:
  using: composite
  steps:
    - uses: actions/cache@v4
    - uses: ./local
";
        assert_eq!(rules(&scan_action(src)), [(5, Rule::UnpinnedAction)]);
        let docker = "runs:\n  using: docker\n  image: docker://ghcr.io/o/a:1\n";
        assert_eq!(rules(&scan_action(docker)), [(3, Rule::UnpinnedImage)]);
        let local = "runs:\n  using: docker\n  image: Dockerfile\n";
        assert!(scan_action(local).is_empty());
    }

    #[test]
    fn broken_yaml_is_one_finding() {
        let hits = scan_workflow("jobs:\n  a: [\n");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].rule, Rule::Unparsable);
    }
}
