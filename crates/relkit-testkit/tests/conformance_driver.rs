//! Proves the conformance driver: its command lines are the suite's, and with sigstore-python as
//! the client it reproduces sigstore-python's known results on the offline cases.

use std::ffi::OsString;
use std::path::Path;

use relkit_testkit::conformance::{self, DEFAULT_IDENTITY, DEFAULT_ISSUER, Input, shared_dir};
use relkit_testkit::tools::{in_ci, require_tool};

fn assets_and_trust(test: &str) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let shared = shared_dir();
    let (assets, trust) = (shared.join("conformance-assets"), shared.join("sigstore-trust"));
    if assets.is_dir() && trust.is_dir() {
        return Some((assets, trust));
    }
    assert!(
        !in_ci(),
        "{test}: {} has no conformance-assets/ or sigstore-trust/ and CI=true",
        shared.display()
    );
    eprintln!("SKIPPED: {test}: {} has no conformance-assets/ or sigstore-trust/", shared.display());
    None
}

fn strings(args: &[OsString]) -> Vec<String> {
    args.iter().map(|arg| arg.to_string_lossy().into_owned()).collect()
}

#[test]
fn command_lines_are_the_suites() {
    let Some((assets, trust)) = assets_and_trust("command_lines_are_the_suites") else {
        return;
    };
    let cases = conformance::cases(&assets);
    assert_eq!(cases.len(), 70);
    let production = trust.join("production-trusted_root.json");
    let case = |name: &str| cases.iter().find(|c| c.name == name).unwrap();
    let dir = |name: &str| assets.join("bundle-verify").join(name);
    let path = |p: &Path| p.display().to_string();

    // No files of its own: default identity and issuer, the shared a.txt, the production root.
    let happy = case("happy-path-v0.3");
    assert!(happy.expect_success);
    assert_eq!(
        strings(&happy.verify_args(Input::Path, &production)),
        [
            "verify-bundle",
            "--bundle",
            &path(&dir("happy-path-v0.3").join("bundle.sigstore.json")),
            "--certificate-identity",
            DEFAULT_IDENTITY,
            "--certificate-oidc-issuer",
            DEFAULT_ISSUER,
            "--trusted-root",
            &path(&production),
            &path(&assets.join("bundle-verify/a.txt")),
        ]
    );
    // The digest variant: sha256 of a.txt instead of its path.
    let digest = strings(&happy.verify_args(Input::Digest, &production)).pop().unwrap();
    assert_eq!(
        digest,
        relkit_testkit::tools::sha256_digest(&std::fs::read(assets.join("bundle-verify/a.txt")).unwrap())
    );

    // key.pub and its own trusted root.
    let managed = case("managed-key-and-trusted-root");
    let args = strings(&managed.verify_args(Input::Path, &production));
    assert_eq!(args[3..5], ["--key".to_string(), path(&dir("managed-key-and-trusted-root").join("key.pub"))]);
    assert_eq!(
        args[5..7],
        ["--trusted-root".to_string(), path(&dir("managed-key-and-trusted-root").join("trusted_root.json"))]
    );

    assert!(!case("checkpoint-wrong-roothash_fail").expect_success);
    assert_eq!(cases.iter().filter(|c| c.key.is_some()).count(), 3);
}

/// Slow: sigstore-python starts 134 times, about 1.2 s of CPU each (some 80 s on an idle 2-core
/// machine, 8 minutes on a loaded one).
#[test]
#[ignore = "slow (sigstore-python runs 134 times): cargo test -p relkit-testkit --test conformance_driver -- --ignored"]
fn sigstore_python_through_the_driver_gets_its_known_65() {
    let test = "sigstore_python_through_the_driver_gets_its_known_65";
    let Some((assets, trust)) = assets_and_trust(test) else {
        return;
    };
    if !require_tool(test, "sigstore") || !require_tool(test, "jq") {
        return;
    }
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance/sigstore-python-client");
    // sigstore-python's CLI cannot verify with a key.
    let cases: Vec<_> = conformance::cases(&assets).into_iter().filter(|c| c.key.is_none()).collect();
    let report = conformance::run_cases(&client, &cases, &trust);
    assert_eq!((report.passed, report.failed), (65, 2), "{report}");
    let failed: Vec<&str> = report.failures.iter().map(|f| f.split(' ').next().unwrap()).collect();
    assert_eq!(
        failed,
        [
            "intoto-with-custom-trust-root",
            "intoto-with-custom-trust-root",
            "trust-root-tsa-validity-end-inclusive",
            "trust-root-tsa-validity-end-inclusive"
        ],
        "{report}"
    );
}
