//! Property tests of the lockfile parsers and the validator: arbitrary input never panics, and
//! generated lockfiles give exactly one valid package per entry.

use proptest::prelude::*;
use relkit_sbom::catalog::{cargo, golang, npm, python};
use relkit_sbom::{build, validate};

proptest! {
    #[test]
    fn parsers_never_panic(text in "\\PC{0,400}") {
        let _ = cargo::parse_lock("Cargo.lock", &text, None);
        let _ = npm::parse_lock("package-lock.json", &text);
        let _ = golang::parse_mod("go.mod", &text, Some(&text));
        let _ = python::parse_uv("uv.lock", &text);
        let _ = python::parse_poetry("poetry.lock", &text, None);
        let _ = validate::check(text.as_bytes());
    }

    #[test]
    fn structured_noise_never_panics(
        lines in proptest::collection::vec(prop_oneof![
            Just("[[package]]".to_string()),
            "name = \"[a-z_.-]{0,6}\"",
            "version = \"[0-9.a-z+-]{0,6}\"",
            "source = \"[a-z+:/#?.=-]{0,20}\"",
            "dependencies = \\[\"[a-z ]{0,8}\"\\]",
            "require [a-z./]{0,8} v[0-9.]{0,4}",
            "replace [a-z]{0,3} => [a-z./]{0,4}",
            "\\{\"lockfileVersion\":[0-9],\"packages\":\\{\"[a-z/_]{0,12}\":\\{\\}\\}\\}",
        ], 0..12)
    ) {
        let text = lines.join("\n");
        let _ = cargo::parse_lock("Cargo.lock", &text, None);
        let _ = golang::parse_mod("go.mod", &text, None);
        let _ = python::parse_uv("uv.lock", &text);
        let _ = npm::parse_lock("package-lock.json", &text);
    }

    #[test]
    fn cargo_lock_entries_become_valid_packages(
        crates in proptest::collection::btree_map("[a-z][a-z0-9_-]{0,10}", ("[0-9]{1,2}", "[0-9]{1,2}"), 1..20)
    ) {
        let mut lock = String::from("version = 4\n\n[[package]]\nname = \"root-app\"\nversion = \"0.1.0\"\ndependencies = [\n");
        for name in crates.keys() {
            lock.push_str(&format!("  \"{name}\",\n"));
        }
        lock.push_str("]\n");
        for (name, (major, minor)) in &crates {
            lock.push_str(&format!(
                "\n[[package]]\nname = \"{name}\"\nversion = \"{major}.{minor}.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{}\"\n",
                "ab".repeat(32)
            ));
        }
        let catalog = cargo::parse_lock("Cargo.lock", &lock, None).unwrap();
        prop_assert_eq!(catalog.components.len(), crates.len() + 1);
        let document = build::document("root-app", &[catalog], "2024-01-01T00:00:00Z");
        let (_, violations) = validate::check(&build::to_bytes(&document));
        prop_assert!(violations.is_empty(), "{:?}", violations);
        prop_assert_eq!(document.relationships.len(), crates.len() + 1);
    }
}
