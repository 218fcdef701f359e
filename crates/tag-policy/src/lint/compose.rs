//! Compose files: every service `image:` must be pinned by digest.

use super::checks::check_image;
use super::finding::{Hit, Rule};
use super::workflow::scan;
use super::yaml::path_matches;

const SERVICE_IMAGE: &[&str] = &["services", "*", "image"];

/// Findings in a compose file.
pub fn scan_compose(source: &str) -> Vec<Hit> {
    scan(source, |s| {
        if !path_matches(&s.path, SERVICE_IMAGE) {
            return None;
        }
        if s.value.contains('$') {
            return Some(
                Hit::warning(
                    s.line,
                    Rule::Unresolved,
                    format!(
                        "image {} uses variable interpolation and cannot be checked: give it a pinned value",
                        s.value
                    ),
                )
                .with_reference(s.value.as_str()),
            );
        }
        check_image("image", &s.value, s.line, s.span.as_ref().map(|r| r.end))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_findings() {
        let src = "services:
  web:
    image: \"nginx:1.27\"
    environment:
      image: not-an-image
  db:
    image: postgres@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  app:
    build: .
  env:
    image: ${REGISTRY}/app:1
x-other:
  image: ignored:1
";
        let hits = scan_compose(src);
        let rows: Vec<(usize, Rule)> = hits.iter().map(|h| (h.line, h.rule)).collect();
        assert_eq!(rows, [(3, Rule::UnpinnedImage), (11, Rule::Unresolved)]);
        let Some(crate::lint::finding::Fix::AppendDigest { at, .. }) = hits[0].fix else { panic!() };
        assert_eq!(&src[at - 10..=at], "nginx:1.27\"");
    }
}
