//! Fuzzes metadata-action's `tags:`/`flavor:` rule syntax and `images:` input: parsing must
//! never panic, and rules that parse must evaluate without panicking in both dialects.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tag_policy::metadata_compat::images;
use tag_policy::metadata_rules::{Dialect, ReleaseVersion, RuleContext, evaluate, parse_flavor, parse_tags};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = images(text);
    // The first line is the flavor, the rest the tags.
    let (flavor, tags) = text.split_once('\n').unwrap_or(("", text));
    let (Ok(rules), Ok(flavor)) = (parse_tags(tags), parse_flavor(flavor)) else { return };
    let dialects = [Dialect::Relkit, Dialect::Compatible { highest_only: true }];
    for (git_ref, dialect) in ["refs/tags/v1.2.3", "refs/heads/main", "refs/pull/7/merge"]
        .into_iter()
        .flat_map(|git_ref| dialects.map(|dialect| (git_ref, dialect)))
    {
        let ctx = RuleContext {
            dialect,
            event_name: "push".to_owned(),
            git_ref: git_ref.to_owned(),
            sha: "0123456789abcdef0123456789abcdef01234567".to_owned(),
            default_branch: Some("main".to_owned()),
            release: Some(ReleaseVersion {
                version: "1.2.3".parse().expect("a valid version"),
                tag: "v1.2.3".to_owned(),
                is_highest: true,
                is_highest_in_major: true,
                is_highest_in_minor: true,
            }),
            ..RuleContext::default()
        };
        let _ = evaluate(&rules, &flavor, &ctx);
    }
});
