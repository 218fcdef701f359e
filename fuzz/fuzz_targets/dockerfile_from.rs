//! Fuzzes the Dockerfile reader of `tag-policy lint`: any text must be read without a panic, and
//! every fix it proposes must be an in-bounds edit that, once applied, leaves nothing to fix.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tag_policy::lint::finding::Fix;
use tag_policy::lint::fix::{apply_edits, edits_for};
use tag_policy::lint::{FileKind, scan};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let hits = scan(FileKind::Dockerfile, text);
    let mut edits = Vec::new();
    for fix in hits.iter().filter_map(|h| h.fix.as_ref()) {
        let answer = match fix {
            Fix::AppendDigest { .. } => format!("sha256:{}", "0".repeat(64)),
            Fix::PinAction { .. } => "1".repeat(40),
        };
        edits.extend(edits_for(fix, &answer));
    }
    let fixed = apply_edits(text, edits).expect("fix edits stay inside the text and do not overlap");
    let again = scan(FileKind::Dockerfile, &fixed);
    assert!(again.iter().all(|h| h.fix.is_none()), "still fixable after fixing: {again:?}");
});
