//! `sbom-attach generate` and `validate` driven through the binary: this repository's own
//! Cargo.lock, lockfiles made from the real registries (npm, crates.io, PyPI), the stale-lock
//! policy and byte-for-byte reproducibility. Every generated document is judged by pyspdxtools
//! and the SPDX 2.3 schema.

mod judge;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt as _;
use relkit_testkit::tools::require_tool;
use serde_json::Value;

fn sbom_attach(args: &[&str], dir: &Path) -> Output {
    Command::cargo_bin("sbom-attach")
        .unwrap()
        .args(args)
        .current_dir(dir)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_OUTPUT")
        .output()
        .unwrap()
}

fn generate(dir: &Path, extra: &[&str]) -> (Value, PathBuf, Output) {
    let out_file = dir.join("sbom.spdx.json");
    let mut args = vec!["generate", ".", "--output", out_file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = sbom_attach(&args, dir);
    assert!(out.status.success(), "generate failed: {}", String::from_utf8_lossy(&out.stderr));
    let doc = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    (doc, out_file, out)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn count_toml_packages(lock: &Path) -> usize {
    let text = std::fs::read_to_string(lock).unwrap();
    let value: toml::Table = toml::from_str(&text).unwrap();
    value.get("package").and_then(|p| p.as_array()).map_or(0, Vec::len)
}

fn purls(doc: &Value) -> Vec<String> {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().cloned().unwrap_or_default())
        .map(|r| r["referenceLocator"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn this_repository_cargo_lock_every_package_valid_and_reproducible() {
    let root = workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    // A copy of the manifests, sources and lockfile, so the test writes nothing into the repository.
    let copy = tmp.path().join("repo");
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let rel = manifest.strip_prefix(&root).unwrap();
        std::fs::create_dir_all(copy.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(&manifest, copy.join(rel)).unwrap();
        let src = manifest.parent().unwrap().join("src");
        for file in walk(&src) {
            let dest = copy.join(file.strip_prefix(&root).unwrap());
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&file, dest).unwrap();
        }
    }
    for file in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(root.join(file), copy.join(file)).unwrap();
    }
    let (doc, file, _) = generate(&copy, &["--no-cargo-metadata"]);
    assert_eq!(doc["packages"].as_array().unwrap().len(), count_toml_packages(&root.join("Cargo.lock")));
    let described: Vec<&str> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["relationshipType"] == "DESCRIBES")
        .map(|r| r["relatedSpdxElement"].as_str().unwrap())
        .collect();
    assert!(described.contains(&"SPDXRef-Package-cargo-sbom-attach-0.1.0"), "{described:?}");
    assert!(purls(&doc).iter().any(|p| p.starts_with("pkg:cargo/serde@")));
    let first = std::fs::read(&file).unwrap();
    let (_, file2, _) = generate(&copy, &["--no-cargo-metadata"]);
    assert_eq!(first, std::fs::read(&file2).unwrap(), "same input and SOURCE_DATE_EPOCH, same bytes");
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    let sum = std::fs::read_to_string(copy.join("sbom.spdx.json.sha256")).unwrap();
    assert!(sum.ends_with("  sbom.spdx.json\n"), "{sum}");
    judge::accepted_by_judges("this_repository_cargo_lock", &file);
    if require_tool("this_repository_cargo_lock licenses", "cargo") {
        let (doc, file, _) = generate(&copy, &[]);
        let serde =
            doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "serde").unwrap().clone();
        assert_eq!(serde["licenseDeclared"], "MIT OR Apache-2.0", "licenses from cargo metadata");
        judge::accepted_by_judges("this_repository_cargo_lock licenses", &file);
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn npm_lockfile_from_the_registry() {
    if !require_tool("npm_lockfile_from_the_registry", "npm") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("package.json"),
        r#"{"name":"web","version":"1.0.0","license":"MIT","dependencies":{"is-odd":"^3.0.1","@sindresorhus/is":"^4.6.0"},"devDependencies":{"left-pad":"1.3.0"}}"#,
    )
    .unwrap();
    let out = Command::new("npm")
        .args(["install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "npm install: {}", String::from_utf8_lossy(&out.stderr));
    let lock: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("package-lock.json")).unwrap()).unwrap();
    let entries = lock["packages"].as_object().unwrap().values().filter(|e| e["link"] != true).count();
    let (doc, file, _) = generate(dir.path(), &[]);
    assert_eq!(doc["packages"].as_array().unwrap().len(), entries);
    let purls = purls(&doc);
    assert!(purls.iter().any(|p| p.starts_with("pkg:npm/%40sindresorhus/is@4.")), "{purls:?}");
    assert!(purls.iter().any(|p| p.starts_with("pkg:npm/is-number@")), "transitive: {purls:?}");
    let left_pad = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "left-pad").unwrap();
    assert_eq!(left_pad["checksums"][0]["algorithm"], "SHA512");
    assert_eq!(left_pad["licenseDeclared"], "WTFPL");
    judge::accepted_by_judges("npm_lockfile_from_the_registry", &file);

    // A dependency added to package.json but not to the lock: refused, naming it.
    std::fs::write(
        dir.path().join("package.json"),
        r#"{"name":"web","version":"1.0.0","dependencies":{"is-odd":"^3.0.1","@sindresorhus/is":"^5.0.0","left-pad":"1.3.0","is-even":"^1"}}"#,
    )
    .unwrap();
    let out = sbom_attach(&["generate", ".", "-o", "x.json"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("@sindresorhus/is (wanted ^5.0.0"), "{stderr}");
    assert!(stderr.contains("is-even (in "), "{stderr}");
    assert!(!dir.path().join("x.json").exists(), "nothing written");
    let (_, _, out) = generate(dir.path(), &["--allow-stale-lock"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-stale-lock: the lockfile is out of sync"));
}

#[test]
fn cargo_lockfile_from_the_registry_and_a_stale_manifest() {
    if !require_tool("cargo_lockfile_from_the_registry", "cargo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.3.0\"\nedition = \"2021\"\nlicense = \"MIT\"\n\n[dependencies]\nitoa = \"1\"\nsmallvec = { version = \"1\", features = [\"serde\"] }\n",
    )
    .unwrap();
    let out = Command::new("cargo").arg("generate-lockfile").current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "cargo generate-lockfile: {}", String::from_utf8_lossy(&out.stderr));
    let (doc, file, _) = generate(dir.path(), &["--no-cargo-metadata"]);
    assert_eq!(
        doc["packages"].as_array().unwrap().len(),
        count_toml_packages(&dir.path().join("Cargo.lock"))
    );
    assert_eq!(doc["name"], "app-0.3.0");
    let itoa = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "itoa").unwrap();
    assert!(itoa["downloadLocation"].as_str().unwrap().starts_with("https://crates.io/api/v1/crates/itoa/"));
    assert_eq!(itoa["checksums"][0]["algorithm"], "SHA256");
    judge::accepted_by_judges("cargo_lockfile_from_the_registry", &file);

    let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), format!("{manifest}ryu = \"1\"\n")).unwrap();
    let out = sbom_attach(&["generate", "."], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ryu (a dependency of app in Cargo.toml, missing from Cargo.lock)"), "{stderr}");
}

#[test]
fn uv_lockfile_from_the_registry() {
    if !require_tool("uv_lockfile_from_the_registry", "uv") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"svc\"\nversion = \"0.2.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"requests>=2.31\", \"Typing_Extensions\"]\n",
    )
    .unwrap();
    let out = Command::new("uv").arg("lock").current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "uv lock: {}", String::from_utf8_lossy(&out.stderr));
    let (doc, file, _) = generate(dir.path(), &[]);
    assert_eq!(doc["packages"].as_array().unwrap().len(), count_toml_packages(&dir.path().join("uv.lock")));
    let purls = purls(&doc);
    assert!(purls.iter().any(|p| p.starts_with("pkg:pypi/typing-extensions@")), "{purls:?}");
    assert!(purls.iter().any(|p| p.starts_with("pkg:pypi/urllib3@")), "transitive: {purls:?}");
    judge::accepted_by_judges("uv_lockfile_from_the_registry", &file);
}

#[test]
fn go_and_poetry_lockfiles_written_by_the_test() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("go.mod"),
        "module example.com/svc\n\ngo 1.22\n\nrequire (\n\tgithub.com/spf13/cobra v1.8.0\n\tgithub.com/spf13/pflag v1.0.5 // indirect\n)\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("poetry.lock"),
        "[[package]]\nname = \"idna\"\nversion = \"3.7\"\nfiles = [{file = \"idna-3.7.tar.gz\", hash = \"sha256:028ff3aadf0609c1fd278d8ea3089299412a7a8b9bd005dd08b9f8285bcb5cfc\"}]\n\n[metadata]\nlock-version = \"2.0\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[tool.poetry]\nname = \"py\"\nversion = \"1.0.0\"\n[tool.poetry.dependencies]\nidna = \"^3\"\n",
    )
    .unwrap();
    let (doc, file, _) = generate(dir.path(), &[]);
    assert_eq!(doc["packages"].as_array().unwrap().len(), 3 + 2);
    assert_eq!(
        doc["name"],
        dir.path().file_name().unwrap().to_str().unwrap(),
        "two roots: the directory name"
    );
    assert!(purls(&doc).contains(&"pkg:golang/github.com/spf13/cobra@v1.8.0".to_string()));
    judge::accepted_by_judges("go_and_poetry_lockfiles", &file);
}

#[test]
fn validate_lists_every_problem_with_path_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"x","documentNamespace":"https://example.com/x",
            "creationInfo":{"created":"2024-01-01T00:00:00.123Z","creators":["Tool: x"]},
            "packages":[{"name":"a","SPDXID":"SPDXRef-a_b","downloadLocation":"registry+https://github.com/rust-lang/crates.io-index","bogus":1}]}"#,
    )
    .unwrap();
    let out = sbom_attach(&["validate", "bad.json"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for expected in [
        "bad.json: $.creationInfo.created: ",
        "(created)",
        "bad.json: $.packages[0].SPDXID: ",
        "(spdxid)",
        "bad.json: $.packages[0].downloadLocation: ",
        "(download-location)",
        "bad.json: $.packages[0].bogus: ",
        "(unknown-field)",
        "bad.json: $.relationships: ",
        "(describes)",
    ] {
        assert!(stderr.contains(expected), "missing `{expected}` in {stderr}");
    }
    let out = sbom_attach(&["validate", "missing.json"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read SBOM missing.json"));
}

#[test]
fn no_lockfile_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = sbom_attach(&["generate", "."], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no lockfile in . (looked for Cargo.lock, package-lock.json")
    );
}
