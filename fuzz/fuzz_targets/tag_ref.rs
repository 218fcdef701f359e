//! Fuzzes the tag grammar and the ref/event parsing that feed version-resolve: arbitrary tag
//! names, refs and event payloads must parse or fail with an error, never panic, and every
//! accepted tag must format back to a tag that parses to the same version.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relkit_core::tagset::TagSet;
use relkit_core::version::TagGrammar;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for grammar in [TagGrammar::plain(), TagGrammar::for_component("api")] {
        let tag = text.strip_prefix("refs/tags/").unwrap_or(text);
        if let Ok(parsed) = grammar.parse(tag) {
            let again = grammar.parse(&grammar.format(&parsed.version)).expect("formatted tags parse");
            assert_eq!(again.version, parsed.version);
        }
        let set = TagSet::from_names(&grammar, text.split('\n'));
        if let Some(top) = set.entries().last() {
            assert!(set.is_highest(top.version(), relkit_core::tagset::Scope::All) || !top.version().pre.is_empty());
        }
    }
    let _ = relkit_core::conventional::ConventionalCommit::parse(text);
    let _ = relkit_core::resolved::ResolvedVersion::from_json(text, "fuzz");
});
