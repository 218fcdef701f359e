//! `sign conformance verify-bundle` against every offline case of the sigstore-conformance suite
//! (`../shared/conformance-assets`): prints `N passed, M failed` and holds the line at 68 of 70.

use relkit_testkit::conformance::{self, shared_dir};
use relkit_testkit::tools::in_ci;

#[test]
fn offline_conformance_cases() {
    let shared = shared_dir();
    let (assets, trust) = (shared.join("conformance-assets"), shared.join("sigstore-trust"));
    if !assets.is_dir() || !trust.is_dir() {
        assert!(!in_ci(), "{} has no conformance-assets/ or sigstore-trust/ and CI=true", shared.display());
        eprintln!("SKIPPED: offline_conformance_cases: {} has no conformance assets", shared.display());
        return;
    }
    let cases = conformance::cases(&assets);
    let report = conformance::run_cases_with(
        std::path::Path::new(env!("CARGO_BIN_EXE_sign")),
        &["conformance"],
        &cases,
        &trust,
    );
    assert_eq!(report.passed + report.failed, 70);
    assert!(report.passed >= 68, "{report}");
}
