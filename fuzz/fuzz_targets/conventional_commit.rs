//! Fuzz the conventional-commit parser with arbitrary commit messages: it must never panic, and
//! what it accepts must be well formed.

#![no_main]

use libfuzzer_sys::fuzz_target;
use relkit_core::conventional::ConventionalCommit;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = std::str::from_utf8(data) else { return };
    let Some(commit) = ConventionalCommit::parse(message) else { return };
    assert!(!commit.kind.is_empty());
    assert!(
        commit.kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    );
    assert!(!commit.description.is_empty());
    assert_eq!(commit.description, commit.description.trim());
    assert!(commit.scope.as_deref().is_none_or(|s| !s.is_empty() && !s.contains(['(', ')'])));
    let notes = commit.breaking_notes();
    assert_eq!(commit.breaking, !notes.is_empty(), "breaking changes always carry a note");
    let _ = commit.bump();
});
