//! Every lockfile parser of relkit-sbom on arbitrary text: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relkit_sbom::catalog::{cargo, golang, npm, python};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = cargo::parse_lock("Cargo.lock", text, None);
    let _ = npm::parse_lock("package-lock.json", text);
    let _ = golang::parse_mod("go.mod", text, Some(text));
    let _ = python::parse_uv("uv.lock", text);
    let _ = python::parse_poetry("poetry.lock", text, Some(("pyproject.toml", text)));
});
