//! The root action's prebuilt path under act: a release tarball built from this workspace's
//! binaries, served by a local file server (python3 -m http.server on 127.0.0.1) standing in for
//! GitHub's release downloads; the checksum gate; and `install-from: release` without a release.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use relkit_act_tests::{Act, ActRun, RELKIT_BINARIES, Repo, relkit_bin_dir, require_tool, tag_push_event};
use relkit_testkit::tools::free_port;

const RELEASE: &str = "v0.1.0";
const TARGET: &str = "x86_64-unknown-linux-musl";

/// A file server for `root` on loopback, stopped on drop.
struct FileServer {
    child: Child,
    url: String,
}

impl FileServer {
    fn start(root: &Path) -> FileServer {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let url = format!("http://127.0.0.1:{port}");
        // Ready when it answers (a refused connection until then); a loaded machine may take
        // seconds to start Python.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "the file server on {port} did not start in 60 s");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        FileServer { child, url }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `root/RELEASE/`: the tarball of the workspace's binaries, `SHA256SUMS` and a bundle file.
fn publish_release(root: &Path) {
    let dir = root.join(RELEASE);
    let stage = root.join("stage").join(format!("relkit-{RELEASE}-{TARGET}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&stage).unwrap();
    for bin in RELKIT_BINARIES {
        std::fs::copy(relkit_bin_dir().join(bin), stage.join(bin)).unwrap();
    }
    let asset = format!("relkit-{RELEASE}-{TARGET}.tar.gz");
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(dir.join(&asset))
        .arg("-C")
        .arg(root.join("stage"))
        .arg(format!("relkit-{RELEASE}-{TARGET}"))
        .status()
        .unwrap();
    assert!(tar.success());
    let sums = Command::new("sha256sum").arg(&asset).current_dir(&dir).output().unwrap();
    assert!(sums.status.success());
    std::fs::write(dir.join("SHA256SUMS"), sums.stdout).unwrap();
    // Neither cosign nor relkit's sign is on PATH in these runs, so the action checks the sha256
    // only and says so; the bundle must still be published.
    std::fs::write(dir.join("SHA256SUMS.sigstore.json"), "{}").unwrap();
}

/// The test workflow: the root action at `release` from `base_url` (act gives every run a
/// fresh tool cache).
fn install_workflow(repo: &Repo, base_url: &str, install_from: &str) {
    let workflow = format!(
        r#"name: Install
on: push
permissions:
  contents: read
jobs:
  install:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd # v6.0.2
        with:
          persist-credentials: false
      - id: install
        uses: ./
        with:
          binaries: version-resolve tag-policy
          release: {RELEASE}
          release-base-url: {base_url}
          install-from: {install_from}
      - id: report
        env:
          INSTALL_PATH: ${{{{ steps.install.outputs.install-path }}}}
        run: |
          echo "install-path=$INSTALL_PATH" >>"$GITHUB_OUTPUT"
          echo "resolver=$(command -v version-resolve)" >>"$GITHUB_OUTPUT"
          echo "version=$(tag-policy -V)" >>"$GITHUB_OUTPUT"
"#
    );
    std::fs::write(repo.path().join(".github/workflows/install.yml"), workflow).unwrap();
    repo.commit("ci: install workflow");
}

fn run_install(act: &Path, repo: &Repo) -> ActRun {
    let sha = repo.head();
    Act::new(repo, "push", tag_push_event("v0.1.0", &sha), "install.yml", "install")
        .without_relkit_on_path()
        .run(act)
}

/// The server, the repository with the workflow, and the tool cache of one test.
fn setup(install_from: &str, tamper: bool) -> (FileServer, tempfile::TempDir, Repo) {
    let files = tempfile::tempdir().unwrap();
    if install_from != "none" {
        publish_release(files.path());
    }
    if tamper {
        let sums = files.path().join(RELEASE).join("SHA256SUMS");
        let text = std::fs::read_to_string(&sums).unwrap();
        std::fs::write(&sums, format!("{}{}", "0".repeat(64), &text[64..])).unwrap();
    }
    let server = FileServer::start(files.path());
    let repo = Repo::with_workspace_snapshot();
    let mode = if install_from == "none" { "release" } else { install_from };
    install_workflow(&repo, &server.url, mode);
    (server, files, repo)
}

#[test]
fn a_release_ref_installs_the_verified_prebuilt_binaries() {
    let test = "a_release_ref_installs_the_verified_prebuilt_binaries";
    let Some(act) = require_tool(test, "act") else { return };
    if require_tool(test, "python3").is_none() {
        return;
    }
    let (_server, _files, repo) = setup("auto", false);

    let run = run_install(&act, &repo);
    assert!(run.success, "act failed:\n{}", run.transcript());
    let report = run.step_outputs("report");
    assert_eq!(report["install-path"], "release", "{report:?}\n{}", run.transcript());
    assert!(
        report["resolver"].ends_with(&format!("/relkit/{RELEASE}/{TARGET}/bin/version-resolve")),
        "{report:?}"
    );
    assert!(report["version"].starts_with("tag-policy "), "{report:?}");
    assert!(run.transcript().contains("checked: sha256 only"), "{}", run.transcript());
}

#[test]
fn a_tarball_that_does_not_match_sha256sums_is_refused() {
    let test = "a_tarball_that_does_not_match_sha256sums_is_refused";
    let Some(act) = require_tool(test, "act") else { return };
    if require_tool(test, "python3").is_none() {
        return;
    }
    let (_server, _files, repo) = setup("auto", true);

    let run = run_install(&act, &repo);
    assert!(!run.success, "{}", run.transcript());
    let errors = run.error_annotations();
    assert!(
        errors.iter().any(|e| e.contains("SHA256SUMS") && e.contains("not installing")),
        "{errors:?}\n{}",
        run.transcript()
    );
    assert!(!run.transcript().contains("downloaded relkit-"), "nothing installed:\n{}", run.transcript());
}

#[test]
fn install_from_release_without_a_release_fails_naming_it() {
    let Some(act) = require_tool("install_from_release_without_a_release_fails_naming_it", "act") else {
        return;
    };
    if require_tool("install_from_release_without_a_release_fails_naming_it", "python3").is_none() {
        return;
    }
    let (_server, _files, repo) = setup("none", false);

    let run = run_install(&act, &repo);
    assert!(!run.success, "{}", run.transcript());
    let errors = run.error_annotations();
    assert!(
        errors.iter().any(|e| e.contains(&format!("no release {RELEASE}"))),
        "{errors:?}\n{}",
        run.transcript()
    );
}
