//! Runs relkit's own workflows (`.github/workflows/*.yml`) and actions locally with
//! [act](https://github.com/nektos/act) in self-hosted mode, against real git repositories that
//! the tests build, with the relkit binaries of this workspace on `PATH`.
//!
//! act reports every step output as a structured `set-output` line of its `--json` log; the
//! workflows end with a `Release plan` step (id `plan`) that re-emits the outputs of the
//! version-resolve and tag-policy steps as one JSON document, so the tests see what a later step
//! or job of the workflow would see. (act also copies the outputs of a composite action's inner
//! steps onto the action's step; `tests/action_metadata.rs` checks the output mapping itself.)

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// The binaries the workflows under test install and run.
pub const RELKIT_BINARIES: [&str; 2] = ["version-resolve", "tag-policy"];

/// The remote that the test repositories claim, so that `namespace` is `acme/widget`.
pub const REMOTE_URL: &str = "https://github.com/Acme/Widget.git";

/// How long one act run may take before the test kills it and fails.
const ACT_TIME_LIMIT: Duration = Duration::from_secs(300);

/// The workspace root (the directory holding `action.yml` and `.github/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root exists")
}

/// True when running under CI (`CI=true`), where a missing tool is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The path of `tool` on `PATH`. When it is missing, prints a loud `SKIPPED` line and returns
/// `None` (the caller returns early); under CI it panics instead, so that CI cannot pass without
/// running the test.
pub fn require_tool(test: &str, tool: &str) -> Option<PathBuf> {
    if let Some(path) = find_on_path(tool) {
        return Some(path);
    }
    if in_ci() {
        panic!("{test}: {tool} is not installed and CI=true (run scripts/install-test-deps)");
    }
    eprintln!("SKIPPED: {test}: {tool} not installed (run scripts/install-test-deps)");
    None
}

fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(tool)).find(|candidate| candidate.is_file())
}

/// Builds the relkit binaries of this workspace (once per test process) and returns the
/// directory that holds them.
///
/// The build is `cargo test --workspace --no-run`, the same build `cargo test --workspace` makes
/// (it puts every binary that has integration tests into `target/debug`): under that command it
/// is a no-op, where a `cargo build -p …` would unify features differently and rebuild
/// dependencies.
pub fn relkit_bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let build = Command::new(cargo)
            .current_dir(workspace_root())
            .args(["test", "--workspace", "--no-run", "--quiet"])
            .output()
            .expect("cargo runs");
        assert!(
            build.status.success(),
            "building the workspace failed:\n{}",
            String::from_utf8_lossy(&build.stderr)
        );
        let dir = target_dir().join("debug");
        for bin in RELKIT_BINARIES {
            assert!(dir.join(bin).is_file(), "{bin} was not built into {}", dir.display());
        }
        dir
    })
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// A throwaway git repository holding a snapshot of this workspace (its workflows, actions and
/// sources), with a history and tags the test chooses.
pub struct Repo {
    dir: TempDir,
}

impl Repo {
    /// A new repository on branch `main` whose first commit is the current workspace tree (the
    /// files git tracks or would track), with `origin` pointing at [`REMOTE_URL`].
    pub fn with_workspace_snapshot() -> Repo {
        let repo = Repo { dir: tempfile::tempdir().expect("temp dir") };
        repo.git(["init", "--quiet", "--initial-branch=main"]);
        repo.git(["remote", "add", "origin", REMOTE_URL]);
        let root = workspace_root();
        let listed = run_ok(Command::new("git").current_dir(&root).args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ]));
        for relative in listed.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
            let relative = Path::new(OsStr::new(std::str::from_utf8(relative).expect("UTF-8 path")));
            let source = root.join(relative);
            if !source.is_file() {
                continue; // deleted in the work tree
            }
            let target = repo.path().join(relative);
            std::fs::create_dir_all(target.parent().expect("file has a parent")).expect("mkdir");
            std::fs::copy(&source, &target).expect("copy workspace file");
        }
        repo.git(["add", "--all"]);
        repo.git(["commit", "--quiet", "-m", "feat: initial release"]);
        repo
    }

    /// The repository's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the repository with a fixed identity and no signing; returns its stdout.
    pub fn git<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output = run_ok(
            Command::new("git")
                .current_dir(self.path())
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_AUTHOR_NAME", "Release Bot")
                .env("GIT_AUTHOR_EMAIL", "release@example.com")
                .env("GIT_COMMITTER_NAME", "Release Bot")
                .env("GIT_COMMITTER_EMAIL", "release@example.com")
                .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
                .args(args),
        );
        String::from_utf8(output.stdout).expect("git prints UTF-8").trim().to_string()
    }

    /// An empty commit with `message`; returns its SHA.
    pub fn commit(&self, message: &str) -> String {
        self.git(["commit", "--quiet", "--allow-empty", "-m", message]);
        self.head()
    }

    /// An annotated tag on HEAD.
    pub fn tag(&self, name: &str) {
        self.git(["tag", "-a", "-m", &format!("Release {name}"), name]);
    }

    /// Switches to a new branch starting at `start`.
    pub fn branch_from(&self, branch: &str, start: &str) {
        self.git(["switch", "--quiet", "-c", branch, start]);
    }

    /// The SHA of HEAD.
    pub fn head(&self) -> String {
        self.git(["rev-parse", "HEAD"])
    }
}

/// A directory holding only what this workspace's actions read when the binaries are on `PATH`
/// (the root `action.yml` with `Cargo.toml` and `crates/*/src/main.rs`, its version and binary
/// list; `actions/*/action.yml`): the stand-in for `relkit/relkit@REF` and
/// `relkit/relkit/actions/NAME@REF`. act copies a stand-in's whole tree for every step that uses
/// it, so a stand-in of the whole repository costs about a second per step.
pub fn relkit_actions_only() -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = workspace_root();
    let mut files = vec![PathBuf::from("action.yml"), PathBuf::from("Cargo.toml")];
    for (parent, inner) in [("actions", "action.yml"), ("crates", "src/main.rs")] {
        for entry in std::fs::read_dir(root.join(parent)).expect("read a workspace directory") {
            let relative = Path::new(parent).join(entry.expect("an entry").file_name()).join(inner);
            if root.join(&relative).is_file() {
                files.push(relative);
            }
        }
    }
    for relative in files {
        let target = dir.path().join(&relative);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
        std::fs::copy(root.join(&relative), target).expect("copy an action file");
    }
    dir
}

/// One act invocation: an event with its payload, one workflow file and one job.
pub struct Act<'a> {
    repo: &'a Repo,
    event: String,
    payload: Value,
    workflow: String,
    job: String,
    relkit_on_path: bool,
    extra_args: Vec<String>,
}

impl<'a> Act<'a> {
    /// Runs `job` of `.github/workflows/<workflow>` for `event` with `payload` as the event file
    /// (every job, in the order of their `needs`, when `job` is empty).
    pub fn new(repo: &'a Repo, event: &str, payload: Value, workflow: &str, job: &str) -> Self {
        Act {
            repo,
            event: event.to_string(),
            payload,
            workflow: workflow.to_string(),
            job: job.to_string(),
            relkit_on_path: true,
            extra_args: Vec::new(),
        }
    }

    /// Sets a configuration variable (`vars.NAME`) for the run.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.extra_args.extend(["--var".to_string(), format!("{name}={value}")]);
        self
    }

    /// Sets an environment variable for every step of the run.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.extra_args.extend(["--env".to_string(), format!("{name}={value}")]);
        self
    }

    /// Sets a secret (`secrets.NAME`; `GITHUB_TOKEN` is also `github.token`) for the run.
    pub fn secret(mut self, name: &str, value: &str) -> Self {
        self.extra_args.extend(["--secret".to_string(), format!("{name}={value}")]);
        self
    }

    /// Runs the local action in `dir` wherever the workflow names `uses` (`owner/repo@ref`).
    pub fn stand_in(mut self, uses: &str, dir: &Path) -> Self {
        self.extra_args.extend(["--local-repository".to_string(), format!("{uses}={}", dir.display())]);
        self
    }

    /// Runs without the workspace's relkit binaries on `PATH`, so that the root action installs
    /// them (from a release or from source) instead of reusing them.
    pub fn without_relkit_on_path(mut self) -> Self {
        self.relkit_on_path = false;
        self
    }

    /// Runs act with the relkit binaries first on `PATH` and returns its log.
    pub fn run(&self, act: &Path) -> ActRun {
        let scratch = tempfile::tempdir().expect("temp dir");
        let event_file = scratch.path().join("event.json");
        std::fs::write(&event_file, serde_json::to_vec_pretty(&self.payload).expect("JSON")).expect("write");
        let outer = std::env::var_os("PATH").unwrap_or_default();
        let inherited = std::env::split_paths(&outer)
            .filter(|dir| self.relkit_on_path || !RELKIT_BINARIES.iter().any(|bin| dir.join(bin).is_file()));
        let first = self.relkit_on_path.then(|| relkit_bin_dir().to_path_buf());
        let path = std::env::join_paths(first.into_iter().chain(inherited)).expect("PATH");

        let mut command = Command::new(act);
        command
            .current_dir(self.repo.path())
            .arg(&self.event)
            .arg("--workflows")
            .arg(Path::new(".github/workflows").join(&self.workflow))
            .args(if self.job.is_empty() { vec![] } else { vec!["--job", &self.job] })
            .args(["--platform", "ubuntu-latest=-self-hosted"])
            .arg("--eventpath")
            .arg(&event_file)
            .arg("--action-cache-path")
            .arg(scratch.path().join("act"))
            .args(["--json", "--no-cache-server", "--defaultbranch", "main"]);
        for (action, placeholder) in offline_action_stand_ins() {
            command.arg("--local-repository").arg(format!("{action}={}", placeholder.display()));
        }
        command.args(&self.extra_args);
        without_actions_context(&mut command)
            .env("PATH", path)
            .env("XDG_CONFIG_HOME", scratch.path().join("config"))
            .stdin(Stdio::null());
        let output = run_with_time_limit(&mut command, ACT_TIME_LIMIT);
        ActRun::parse(output)
    }
}

/// Removes the GitHub Actions context (`GITHUB_*`, `RUNNER_*`, `ACTIONS_*`, `INPUT_*`) from a
/// command's environment: the tests may themselves run under Actions, and nothing of the outer
/// run may leak into the run under test.
pub fn without_actions_context(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if ["GITHUB_", "RUNNER_", "ACTIONS_", "INPUT_"].iter().any(|prefix| text.starts_with(prefix)) {
            command.env_remove(&name);
        }
    }
    command
}

/// Every remote action that the root `action.yml` names, mapped to the placeholder action under
/// `tests/act/`: act clones remote actions even for skipped steps, and there is no network.
fn offline_action_stand_ins() -> Vec<(String, PathBuf)> {
    let root = workspace_root();
    let text = std::fs::read_to_string(root.join("action.yml")).expect("read action.yml");
    let placeholder = root.join("tests/act/cache-placeholder");
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("uses:"))
        .map(|uses| uses.split('#').next().unwrap_or_default().trim().to_string())
        .filter(|uses| uses.starts_with("actions/cache@"))
        .map(|uses| (uses, placeholder.clone()))
        .collect()
}

fn run_ok(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    output
}

fn run_with_time_limit(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for act") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("act did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

/// The result of one act run: its exit status and its structured log.
pub struct ActRun {
    /// True when act exited 0 (every step of the job succeeded).
    pub success: bool,
    /// The `--json` log entries, in order.
    pub entries: Vec<Value>,
    /// Everything act printed that was not a JSON log entry.
    pub other_output: String,
}

impl ActRun {
    fn parse(output: Output) -> ActRun {
        let mut entries = Vec::new();
        let mut other_output = String::new();
        for stream in [&output.stdout, &output.stderr] {
            for line in String::from_utf8_lossy(stream).lines() {
                match serde_json::from_str::<Value>(line) {
                    Ok(entry @ Value::Object(_)) => entries.push(entry),
                    _ => {
                        other_output.push_str(line);
                        other_output.push('\n');
                    }
                }
            }
        }
        ActRun { success: output.status.success(), entries, other_output }
    }

    /// All log messages as act printed them, one per line, for failure reports and searches.
    pub fn transcript(&self) -> String {
        let mut text: String = self
            .entries
            .iter()
            .filter_map(|entry| entry.get("msg").and_then(Value::as_str))
            .map(|msg| format!("{msg}\n"))
            .collect();
        text.push_str(&self.other_output);
        text
    }

    /// The outputs that the top-level step `step_id` set, by name (the last value wins).
    pub fn step_outputs(&self, step_id: &str) -> BTreeMap<String, String> {
        let mut outputs = BTreeMap::new();
        for entry in &self.entries {
            let is_output = entry.get("command").and_then(Value::as_str) == Some("set-output");
            let step_matches = entry.get("stepID") == Some(&Value::from(vec![step_id]));
            if let (true, true, Some(name), Some(value)) = (
                is_output,
                step_matches,
                entry.get("name").and_then(Value::as_str),
                entry.get("arg").and_then(Value::as_str),
            ) {
                outputs.insert(name.to_string(), value.to_string());
            }
        }
        outputs
    }

    /// The messages of the `::error::` annotations the steps printed, in order.
    pub fn error_annotations(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|entry| entry.get("command").and_then(Value::as_str) == Some("error"))
            .filter_map(|entry| entry.get("arg").and_then(Value::as_str))
            .map(str::to_string)
            .collect()
    }

    /// The `plan` output of the workflow's `Release plan` step: `{"version": {...outputs of
    /// version-resolve...}, "tags": {...outputs of tag-policy...}}`, or `None` if it never ran.
    pub fn release_plan(&self) -> Option<Value> {
        let plan = self.step_outputs("plan").remove("plan")?;
        Some(serde_json::from_str(&plan).expect("the plan output is JSON"))
    }
}

/// A `push` event payload for a tag, shaped like GitHub's (the fields relkit reads).
pub fn tag_push_event(tag: &str, sha: &str) -> Value {
    serde_json::json!({
        "ref": format!("refs/tags/{tag}"),
        "before": "0000000000000000000000000000000000000000",
        "after": sha,
        "created": true,
        "deleted": false,
        "forced": false,
        "base_ref": null,
        "head_commit": { "id": sha, "message": format!("Release {tag}") },
        "repository": repository_payload(),
        "sender": { "login": "release-bot", "type": "User" },
    })
}

/// A `pull_request` (`opened`) event payload, shaped like GitHub's.
pub fn pull_request_event(number: u64, head_sha: &str, base_sha: &str) -> Value {
    serde_json::json!({
        "action": "opened",
        "number": number,
        "pull_request": {
            "number": number,
            "state": "open",
            "title": "feat: add a widget",
            "head": { "ref": "feature/widget", "sha": head_sha, "repo": repository_payload() },
            "base": { "ref": "main", "sha": base_sha, "repo": repository_payload() },
        },
        "repository": repository_payload(),
        "sender": { "login": "contributor", "type": "User" },
    })
}

fn repository_payload() -> Value {
    serde_json::json!({
        "name": "Widget",
        "full_name": "Acme/Widget",
        "owner": { "login": "Acme" },
        "default_branch": "main",
        "html_url": "https://github.com/Acme/Widget",
        "clone_url": REMOTE_URL,
    })
}

/// A step output value as the runner renders a JSON value: strings as they are, `null` as
/// empty, numbers and booleans as JSON text.
pub fn as_output_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The non-empty lines of a multi-line output such as `tags`, sorted.
pub fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
    lines.sort();
    lines
}
