//! Signed SBOM attestations, keyless, against a private Sigstore instance on loopback
//! (`@sigstore/mock`: Fulcio, CT log, Rekor, TSA and an Actions token endpoint) and a real
//! registry; the bundles are judged by sigstore-python and in-toto-attestation.

#[path = "../../../tests/keyless_world.rs"]
mod keyless_world;

use keyless_world::{World, judged, ok, statement};
use relkit_testkit::sigstore::{DEFAULT_IDENTITY, GITHUB_ISSUER, in_toto_validate};
use serde_json::Value;

/// A third-party SBOM shaped like syft's output.
const SYFT: &str = "{\n \"spdxVersion\": \"SPDX-2.3\",\n \"dataLicense\": \"CC0-1.0\",\n \"SPDXID\": \"SPDXRef-DOCUMENT\",\n \"name\": \"app\",\n \"documentNamespace\": \"https://anchore.com/syft/image/app-0d6c\",\n \"creationInfo\": {\"licenseListVersion\": \"3.25\", \"creators\": [\"Organization: Anchore, Inc\", \"Tool: syft-1.14.0\"], \"created\": \"2024-10-01T10:00:00Z\"},\n \"packages\": [{\"name\": \"serde\", \"SPDXID\": \"SPDXRef-Package-cargo-serde-1\", \"versionInfo\": \"1.0.200\", \"downloadLocation\": \"NOASSERTION\", \"filesAnalyzed\": false, \"externalRefs\": [{\"referenceCategory\": \"PACKAGE-MANAGER\", \"referenceType\": \"purl\", \"referenceLocator\": \"pkg:cargo/serde@1.0.200\"}]}],\n \"relationships\": [{\"spdxElementId\": \"SPDXRef-DOCUMENT\", \"relatedSpdxElement\": \"SPDXRef-Package-cargo-serde-1\", \"relationshipType\": \"DESCRIBES\"}]\n}\n";

/// The world with syft's SBOM in its directory.
fn start(test: &str) -> Option<World> {
    let world = World::start(test)?;
    std::fs::write(world.dir.path().join("syft.spdx.json"), SYFT).unwrap();
    Some(world)
}

impl World {
    /// `sbom-attach` as an Actions step with `id-token: write`.
    fn sbom_attach(&self) -> std::process::Command {
        self.step(env!("CARGO_BIN_EXE_sbom-attach"))
    }

    /// A two-platform index pushed as `repo:v1.0.0`.
    fn index2(&self, repo: &str) -> String {
        self.index(repo, &["amd64", "arm64"], "sbom")
    }
}

#[test]
fn keyless_sbom_attestations_pass_the_independent_judges_and_are_idempotent() {
    let Some(world) = start("keyless_sbom_attestations") else { return };
    let image = world.index2("acme/widget");
    // Attesting is the default when signing is possible (here: the Actions token endpoint).
    let report: Value = serde_json::from_str(&ok(world
        .sbom_attach()
        .args(["attach", &image, "--sbom", "syft.spdx.json", "--storage", "both"])
        .output()
        .unwrap()))
    .unwrap();
    let sbom = &report["sboms"][0];
    let subject = sbom["subject"].as_str().unwrap();
    assert_eq!(subject, report["digest"].as_str().unwrap());
    let attestation = &sbom["attestation"];
    assert_eq!(attestation["status"], "attested", "{report}");
    let locations = attestation["locations"].as_array().unwrap();
    assert!(locations.iter().any(|l| l["scheme"] == "legacy"), "both schemes: {locations:?}");
    let referrer = locations.iter().find(|l| l["scheme"] == "referrer").unwrap()["digest"].as_str().unwrap();

    // The verification contract notes-gen reads: the SBOM attestation and who signed it.
    let contract: relkit_core::verification::VerificationInput =
        serde_json::from_value(report.clone()).unwrap();
    assert_eq!(contract.images.len(), 1);
    assert_eq!(contract.images[0].digest, subject);
    assert_eq!(contract.images[0].tags, ["v1.0.0"]);
    assert_eq!(contract.images[0].attestations[0].kind, "spdxjson");
    assert_eq!(
        contract.images[0].attestations[0].predicate_type.as_deref(),
        Some("https://spdx.dev/Document")
    );
    let signer = contract.images[0].signature.as_ref().unwrap();
    assert_eq!(signer.certificate_identity.as_deref(), Some(DEFAULT_IDENTITY));
    assert_eq!(signer.certificate_oidc_issuer.as_deref(), Some(GITHUB_ISSUER));
    let commands = attestation["commands"].as_array().unwrap();
    assert!(
        commands
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("cosign verify-attestation --type spdxjson ")),
        "{commands:?}"
    );

    let bundle = world.referrer_bundle("acme/widget", referrer);
    let s = statement(&bundle);
    judged(in_toto_validate(&s), "in-toto-attestation");
    let statement: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(statement["predicateType"], "https://spdx.dev/Document");
    let document: Value = serde_json::from_str(SYFT).unwrap();
    assert_eq!(statement["predicate"], document, "the predicate is the SPDX document");
    assert_eq!(statement["subject"][0]["digest"]["sha256"], subject.trim_start_matches("sha256:"));
    world.python_accepts(&bundle, subject);

    // A re-run attests nothing and asks Fulcio for nothing.
    let fulcio =
        |w: &World| w.sigstore.requests().iter().filter(|r| r["path"] == "/api/v2/signingCert").count();
    let before = fulcio(&world);
    let again: Value = serde_json::from_str(&ok(world
        .sbom_attach()
        .args(["attach", &image, "--sbom", "syft.spdx.json", "--storage", "both"])
        .output()
        .unwrap()))
    .unwrap();
    assert_eq!(again["sboms"][0]["attestation"]["status"], "already attested", "{again}");
    assert_eq!(fulcio(&world), before);

    // --no-attest skips it.
    let skipped: Value = serde_json::from_str(&ok(world
        .sbom_attach()
        .args(["attach", &image, "--sbom", "syft.spdx.json", "--no-attest"])
        .output()
        .unwrap()))
    .unwrap();
    assert!(skipped["sboms"][0].get("attestation").is_none(), "{skipped}");

    // verify with the signer's identity passes; a wrong identity fails naming the check.
    let verify = |image: &str, args: &[&str]| {
        world.sbom_attach().env_remove("GITHUB_ACTIONS").args(["verify", image]).args(args).output().unwrap()
    };
    let good = ok(verify(&image, &["--github-repo", "acme/widget", "--expect-package", "serde"]));
    assert!(good.contains(&format!("| {DEFAULT_IDENTITY} | ok")), "{good}");
    ok(verify(
        &image,
        &["--certificate-identity", DEFAULT_IDENTITY, "--certificate-oidc-issuer", GITHUB_ISSUER],
    ));
    for (args, check) in [
        (vec!["--github-repo", "acme/widget-evil"], "identity check failed"),
        (
            vec![
                "--certificate-identity",
                DEFAULT_IDENTITY,
                "--certificate-oidc-issuer",
                "https://evil.example",
            ],
            "issuer",
        ),
    ] {
        let out = verify(&image, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let table = String::from_utf8_lossy(&out.stdout);
        assert!(table.contains("FAILED: attestation:") && table.contains(check), "{args:?}: {table}");
    }

    // `tag-policy promote` carries the attestation; verify passes in the destination.
    let stable = world.promote(&image, false);
    ok(verify(&stable, &["--github-repo", "acme/widget"]));
}

#[test]
fn the_action_step_attests_keyless_and_verifies_the_signer() {
    let Some(world) = start("sbom_action_attests_keyless") else { return };
    let image = world.index2("acme/action");
    let action = |github_repo: &str| {
        world
            .sbom_attach()
            .arg("action")
            .env("INPUT_IMAGE", &image)
            .env("INPUT_SBOM", "syft.spdx.json")
            .env("INPUT_STORAGE", "referrers")
            .env("INPUT_TRUSTED-ROOT", &world.sigstore.trusted_root)
            .env("INPUT_SIGNING-CONFIG", &world.sigstore.signing_config)
            .env("INPUT_GITHUB-REPO", github_repo)
            .env("INPUT_EXPECT-PACKAGES", "serde")
            .output()
            .unwrap()
    };
    let out = action("acme/widget");
    let stdout = ok(out);
    let report: Value = serde_json::from_str(stdout.split("\n| subject").next().unwrap()).unwrap();
    assert_eq!(report["sboms"][0]["attestation"]["status"], "attested", "{stdout}");
    let summary = std::fs::read_to_string(world.dir.path().join("summary")).unwrap();
    assert!(summary.contains(&format!("| {DEFAULT_IDENTITY} | ok |")), "{summary}");

    let out = action("acme/other");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("identity check failed"));
}
