//! The rules every action and workflow of this repository follows, checked on the files
//! themselves, and the output mapping of each action checked against what its binary writes.
//!
//! The mapping needs this check besides the act runs: act copies every output of a composite
//! action's inner steps onto the action's step, so a wrong `value:` in `outputs:` would go
//! unnoticed there when the inner step writes an output of the same name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use relkit_act_tests::{Repo, relkit_bin_dir, without_actions_context, workspace_root};
use serde_json::Value;

/// Each binary action: its directory, its binary, the id of the step that runs the binary, and
/// the arguments that make the binary write its outputs.
const BINARY_ACTIONS: [(&str, &str, &str, &[&str]); 4] = [
    ("actions/version-resolve", "version-resolve", "resolve", &[]),
    ("actions/tag-policy", "tag-policy", "plan", &["plan"]),
    ("actions/metadata", "tag-policy", "metadata", &["metadata"]),
    ("actions/notes-gen", "notes-gen", "notes", &[]),
];

fn load_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn action_files() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = vec![root.join("action.yml")];
    let mut nested: Vec<PathBuf> = std::fs::read_dir(root.join("actions"))
        .expect("actions/ exists")
        .map(|entry| entry.expect("dir entry").path().join("action.yml"))
        .filter(|path| path.is_file())
        .collect();
    nested.sort();
    files.extend(nested);
    files
}

fn workflow_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace_root().join(".github/workflows"))
        .expect(".github/workflows exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml" || ext == "yaml"))
        .collect();
    files.sort();
    files
}

fn steps_of_action(action: &Value) -> Vec<&Value> {
    action["runs"]["steps"].as_array().map(|steps| steps.iter().collect()).unwrap_or_default()
}

fn steps_of_workflow(workflow: &Value) -> Vec<&Value> {
    let jobs = workflow["jobs"].as_object().expect("workflow has jobs");
    jobs.values().flat_map(|job| job["steps"].as_array().into_iter().flatten()).collect()
}

/// The keys of a `$GITHUB_OUTPUT` file (`name=value` lines and `name<<DELIMITER` blocks).
fn output_file_keys(text: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            keys.insert(name.to_string());
            for body in lines.by_ref() {
                if body == delimiter {
                    break;
                }
            }
        } else if let Some((name, _)) = line.split_once('=') {
            keys.insert(name.to_string());
        }
    }
    keys
}

#[test]
fn run_scripts_never_expand_expressions() {
    let files = action_files().into_iter().chain(workflow_files());
    for path in files {
        let doc = load_yaml(&path);
        let steps = if doc.get("runs").is_some() { steps_of_action(&doc) } else { steps_of_workflow(&doc) };
        for step in steps {
            if let Some(script) = step["run"].as_str() {
                assert!(
                    !script.contains("${{"),
                    "{}: step {:?} expands an expression inside run:; pass it through env:",
                    path.display(),
                    step["name"]
                );
            }
        }
    }
}

#[test]
fn every_remote_action_is_pinned_to_a_full_commit_sha() {
    let files = action_files().into_iter().chain(workflow_files());
    let mut checked = 0;
    for path in files {
        let doc = load_yaml(&path);
        let steps = if doc.get("runs").is_some() { steps_of_action(&doc) } else { steps_of_workflow(&doc) };
        for uses in steps.iter().filter_map(|step| step["uses"].as_str()) {
            if uses.starts_with("./") {
                continue;
            }
            let (_, reference) = uses.split_once('@').unwrap_or_else(|| panic!("{uses} has no @ref"));
            assert!(
                reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}: {uses} is not pinned to a full commit SHA",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "expected the pinned checkout and cache actions, saw {checked}");
}

#[test]
fn workflows_read_only_and_checkouts_drop_credentials() {
    for path in workflow_files() {
        let doc = load_yaml(&path);
        assert_eq!(
            doc["permissions"],
            serde_json::json!({ "contents": "read" }),
            "{}: top-level permissions must be contents: read",
            path.display()
        );
        for step in steps_of_workflow(&doc) {
            if step["uses"].as_str().is_some_and(|uses| uses.starts_with("actions/checkout@")) {
                assert_eq!(
                    step["with"]["persist-credentials"],
                    Value::Bool(false),
                    "{}: checkout must set persist-credentials: false",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn binary_actions_pass_every_input_through_the_environment() {
    for (dir, _, step_id, _) in BINARY_ACTIONS {
        let path = workspace_root().join(dir).join("action.yml");
        let action = load_yaml(&path);
        let step = steps_of_action(&action)
            .into_iter()
            .find(|step| step["id"] == step_id)
            .unwrap_or_else(|| panic!("{dir}: no step with id {step_id}"));
        let inputs = action["inputs"].as_object().expect("inputs");
        let env = step["env"].as_object().expect("the binary's step has env:");
        for name in inputs.keys() {
            let variable = format!("INPUT_{}", name.to_uppercase());
            assert_eq!(
                env.get(&variable).and_then(Value::as_str),
                Some(format!("${{{{ inputs.{name} }}}}").as_str()),
                "{dir}: input {name} must reach the binary as {variable}"
            );
        }
        assert_eq!(env.len(), inputs.len(), "{dir}: env: holds something besides the inputs");
    }
}

#[test]
fn binary_actions_map_exactly_the_outputs_their_binary_writes() {
    let repo = Repo::with_workspace_snapshot();
    repo.tag("v1.2.3");
    let bin_dir = relkit_bin_dir();
    let scratch = tempfile::tempdir().expect("temp dir");
    let resolved = without_actions_context(&mut Command::new(bin_dir.join("version-resolve")))
        .current_dir(repo.path())
        .arg("--json")
        .output()
        .expect("version-resolve runs");
    assert!(resolved.status.success(), "{}", String::from_utf8_lossy(&resolved.stderr));
    let resolved_json = String::from_utf8(resolved.stdout).expect("UTF-8");

    for (dir, binary, step_id, args) in BINARY_ACTIONS {
        let output_file = scratch.path().join(format!("{step_id}.out"));
        let run = without_actions_context(&mut Command::new(bin_dir.join(binary)))
            .current_dir(repo.path())
            .args(args)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_STEP_SUMMARY", scratch.path().join(format!("{step_id}.md")))
            .env("RUNNER_TEMP", scratch.path())
            // `from` is version-resolve's JSON for tag-policy, but a git revision for notes-gen.
            .envs((step_id == "plan").then_some(("INPUT_FROM", &resolved_json)))
            .output()
            .expect("binary runs");
        assert!(run.status.success(), "{binary}: {}", String::from_utf8_lossy(&run.stderr));
        let written = output_file_keys(&std::fs::read_to_string(&output_file).expect("outputs written"));

        let action = load_yaml(&workspace_root().join(dir).join("action.yml"));
        let mapped: BTreeMap<String, String> = action["outputs"]
            .as_object()
            .expect("outputs")
            .iter()
            .map(|(name, output)| (name.clone(), output["value"].as_str().unwrap_or_default().to_string()))
            .collect();
        for (name, value) in &mapped {
            assert_eq!(
                value,
                &format!("${{{{ steps.{step_id}.outputs.{name} }}}}"),
                "{dir}: output {name} must map the same-named output of step {step_id}"
            );
        }
        let declared: BTreeSet<String> = mapped.into_keys().collect();
        assert_eq!(declared, written, "{dir}: declared outputs differ from what {binary} writes");
    }
}

#[test]
fn output_file_keys_reads_both_forms() {
    let keys = output_file_keys("a=1\nb<<EOF\nc=2\nline\nEOF\nd=\n");
    assert_eq!(keys, BTreeSet::from(["a".to_string(), "b".to_string(), "d".to_string()]));
}
