//! The SPDX validator on arbitrary bytes (SBOMs from other tools are untrusted input).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = relkit_sbom::validate::check(data);
});
