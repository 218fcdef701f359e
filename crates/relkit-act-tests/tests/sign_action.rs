//! `actions/sign` under act: with a cosign key over an OCI layout, and keyless with the private
//! Sigstore instance and its GitHub Actions OIDC endpoint standing in for the runner's
//! `ACTIONS_ID_TOKEN_REQUEST_URL`. The results are judged by `sign verify` outside the run.

use std::path::Path;
use std::process::Command;

use relkit_act_tests::{Act, Repo, relkit_bin_dir, require_tool, tag_push_event};
use relkit_testkit::sigstore::MockSigstore;

const PASSWORD: &str = "act-test-password";

fn run_ok(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A one-file image in `dir/layout`; returns its digest.
fn layout(dir: &Path) -> String {
    let plan = dir.join("plan.json");
    std::fs::write(&plan, r#"{"labels": {}}"#).unwrap();
    std::fs::write(dir.join("app"), "signed under act").unwrap();
    let tool = relkit_bin_dir().join("examples/image-layout");
    run_ok(Command::new(tool).arg(dir.join("layout")).arg(&plan).arg("app").current_dir(dir))
        .trim()
        .to_string()
}

fn sign() -> Command {
    let mut cmd = Command::new(relkit_bin_dir().join("sign"));
    cmd.env_remove("GITHUB_ACTIONS")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env_remove("SIGSTORE_ID_TOKEN");
    cmd
}

fn workflow(repo: &Repo, job_env: &str, with: &str) {
    let text = format!(
        r#"name: Sign
on: push
permissions:
  contents: read
  id-token: write
jobs:
  sign:
    runs-on: ubuntu-latest
    env:
{job_env}
    steps:
      - uses: actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd # v6.0.2
        with:
          persist-credentials: false
      - id: sign
        uses: ./actions/sign
        with:
{with}
      - id: report
        env:
          REPORT: ${{{{ steps.sign.outputs.report }}}}
        run: echo "statuses=$(jq -r '[.images[].status] | join(",")' "$REPORT")" >>"$GITHUB_OUTPUT"
"#
    );
    std::fs::write(repo.path().join(".github/workflows/sign.yml"), text).unwrap();
    repo.commit("ci: sign workflow");
}

#[test]
fn the_sign_action_signs_a_layout_with_a_key() {
    let test = "the_sign_action_signs_a_layout_with_a_key";
    let Some(act) = require_tool(test, "act") else { return };
    let dir = tempfile::tempdir().unwrap();
    let digest = layout(dir.path());
    run_ok(sign().args(["generate-key-pair"]).current_dir(dir.path()).env("COSIGN_PASSWORD", PASSWORD));
    let image = format!("oci:{}@{digest}", dir.path().join("layout").display());
    let repo = Repo::with_workspace_snapshot();
    workflow(
        &repo,
        "      RELKIT_TEST: key",
        &format!(
            "          images: {image}\n          key: {}\n          key-password: {PASSWORD}\n          tlog-upload: \"false\"",
            dir.path().join("cosign.key").display()
        ),
    );

    let run = Act::new(&repo, "push", tag_push_event("v1.0.0", &repo.head()), "sign.yml", "sign").run(&act);
    assert!(run.success, "act failed:\n{}", run.transcript());
    assert_eq!(run.step_outputs("report")["statuses"], "signed", "{}", run.transcript());
    assert!(!run.transcript().contains(PASSWORD), "the key password was printed");

    let public = dir.path().join("cosign.pub");
    let verified =
        run_ok(sign().args(["verify", "image", &image, "--insecure-ignore-tlog", "--key"]).arg(&public));
    assert!(verified.contains("signed by key"), "{verified}");
}

#[test]
fn the_sign_action_signs_keyless_with_the_runner_oidc_token() {
    let test = "the_sign_action_signs_keyless_with_the_runner_oidc_token";
    let Some(act) = require_tool(test, "act") else { return };
    let Some(sigstore) = MockSigstore::start(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let digest = layout(dir.path());
    let image = format!("oci:{}@{digest}", dir.path().join("layout").display());
    let repo = Repo::with_workspace_snapshot();
    let job_env: String =
        sigstore.actions_env().iter().map(|(name, value)| format!("      {name}: \"{value}\"\n")).collect();
    workflow(
        &repo,
        job_env.trim_end(),
        &format!(
            "          images: {image}\n          trusted-root: {}\n          signing-config: {}",
            sigstore.trusted_root.display(),
            sigstore.signing_config.display()
        ),
    );

    let run = Act::new(&repo, "push", tag_push_event("v1.0.0", &repo.head()), "sign.yml", "sign").run(&act);
    assert!(run.success, "act failed:\n{}", run.transcript());
    assert_eq!(run.step_outputs("report")["statuses"], "signed", "{}", run.transcript());
    assert_eq!(sigstore.issued_tokens().len(), 1, "one token from the runner's endpoint");

    // The mock's token says: acme/widget, .github/workflows/release.yml, refs/tags/v1.0.0.
    let verified = run_ok(
        sign()
            .args(["verify", "image", &image, "--github-repo", "acme/widget", "--ref", "refs/tags/v1.0.0"])
            .arg("--trusted-root")
            .arg(&sigstore.trusted_root),
    );
    assert!(verified.contains("verified"), "{verified}");
}
