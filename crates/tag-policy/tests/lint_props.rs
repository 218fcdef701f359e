//! Property tests: the lint parsers read untrusted files, so they must never panic, and every fix
//! they propose must land on the reference it names.

use proptest::prelude::*;
use tag_policy::lint::finding::Hit;
use tag_policy::lint::fix::{apply_edits, edits_for};
use tag_policy::lint::{FileKind, scan};

/// Dockerfile-like text: instructions, flags, ARG substitutions, continuations, heredocs.
fn dockerfile_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("FROM ".to_string()),
        Just("from ".to_string()),
        Just("ARG ".to_string()),
        Just("COPY --from=".to_string()),
        Just("RUN --mount=type=bind,from=".to_string()),
        Just("RUN <<EOF\n".to_string()),
        Just("EOF\n".to_string()),
        Just(" AS ".to_string()),
        Just("--platform=$P ".to_string()),
        Just("${BASE".to_string()),
        Just(":-".to_string()),
        Just("}".to_string()),
        Just("$".to_string()),
        Just("BASE=".to_string()),
        Just("debian:12".to_string()),
        Just("@sha256:".to_string()),
        Just("\\\n".to_string()),
        Just("`\n".to_string()),
        Just("# escape=`\n".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just(" ".to_string()),
        Just("é".to_string()),
        "[a-z0-9:/._-]{0,12}",
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

/// YAML-like text around `uses:` and `image:` keys.
fn yaml_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("jobs:\n".to_string()),
        Just("  a:\n".to_string()),
        Just("    steps:\n".to_string()),
        Just("      - uses: ".to_string()),
        Just("services:\n  s:\n    image: ".to_string()),
        Just("runs:\n  steps:\n    - uses: ".to_string()),
        Just("o/r@v1".to_string()),
        Just("docker://alpine".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just(" # c".to_string()),
        Just("{uses: x@y}".to_string()),
        Just("[".to_string()),
        Just("|\n".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("ü".to_string()),
        "[a-z0-9:/@._-]{0,10}",
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

/// Applies every fix of `hits` with placeholder answers; the result must still be text.
fn fixed(source: &str, hits: &[Hit]) -> Option<String> {
    let mut edits = Vec::new();
    for fix in hits.iter().filter_map(|h| h.fix.as_ref()) {
        let answer = match fix {
            tag_policy::lint::finding::Fix::AppendDigest { .. } => format!("sha256:{}", "0".repeat(64)),
            tag_policy::lint::finding::Fix::PinAction { .. } => "1".repeat(40),
        };
        edits.extend(edits_for(fix, &answer));
    }
    apply_edits(source, edits).ok()
}

const KINDS: [FileKind; 4] = [FileKind::Dockerfile, FileKind::Workflow, FileKind::Action, FileKind::Compose];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic_on_arbitrary_text(text in "\\PC{0,200}") {
        for kind in KINDS {
            let _ = scan(kind, &text);
        }
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        for kind in KINDS {
            let _ = scan(kind, &text);
        }
    }

    #[test]
    fn dockerfile_fixes_leave_nothing_fixable(text in dockerfile_text()) {
        let hits = scan(FileKind::Dockerfile, &text);
        let out = fixed(&text, &hits);
        prop_assert!(out.is_some(), "fix edits overlap or fall outside the text");
        let again = scan(FileKind::Dockerfile, &out.unwrap());
        prop_assert!(again.iter().all(|h| h.fix.is_none()), "still fixable after fixing: {:?}", again);
    }

    #[test]
    fn yaml_fixes_leave_nothing_fixable(text in yaml_text()) {
        for kind in [FileKind::Workflow, FileKind::Action, FileKind::Compose] {
            let hits = scan(kind, &text);
            let out = fixed(&text, &hits);
            prop_assert!(out.is_some(), "fix edits overlap or fall outside the text");
            let again = scan(kind, &out.unwrap());
            prop_assert!(again.iter().all(|h| h.fix.is_none()), "still fixable after fixing: {:?}", again);
        }
    }
}
