//! Our validator against pyspdxtools on the same documents: every rule both enforce is rejected
//! by both, and the rules pyspdxtools misses (unknown fields, a multi-package document that
//! DESCRIBES nothing) are rejected by ours while pyspdxtools lets them through.

use std::process::Command;

use relkit_sbom::validate::check;
use relkit_testkit::tools::require_tool;
use serde_json::{Value, json};

/// The valid document both validators start from (also used by the unit tests).
fn minimal() -> Value {
    serde_json::from_str(include_str!("data/minimal.spdx.json")).unwrap()
}

fn pyspdxtools_accepts(doc: &Value) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.spdx.json");
    std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
    Command::new("pyspdxtools").arg("-i").arg(&file).output().unwrap().status.success()
}

#[test]
fn both_validators_judge_the_same_documents() {
    if !require_tool("both_validators_judge_the_same_documents", "pyspdxtools") {
        return;
    }
    type Mutation = fn(&mut Value);
    // (what, mutation, pyspdxtools rejects it)
    let cases: &[(&str, Mutation, bool)] = &[
        ("valid", |_| {}, false),
        ("fractional seconds", |d| d["creationInfo"]["created"] = json!("2024-01-01T00:00:00.5Z"), true),
        ("bare creator", |d| d["creationInfo"]["creators"] = json!(["mytool"]), true),
        ("namespace with #", |d| d["documentNamespace"] = json!("https://x.org/a#b"), true),
        (
            "underscore id",
            |d| {
                d["packages"][1]["SPDXID"] = json!("SPDXRef-serde_json");
                d["relationships"][1]["relatedSpdxElement"] = json!("SPDXRef-serde_json");
            },
            true,
        ),
        (
            "cargo source as location",
            |d| {
                d["packages"][1]["downloadLocation"] =
                    json!("registry+https://github.com/rust-lang/crates.io-index")
            },
            true,
        ),
        ("undeclared LicenseRef", |d| d["packages"][0]["licenseDeclared"] = json!("LicenseRef-mine"), true),
        (
            "dangling relationship",
            |d| d["relationships"][1]["relatedSpdxElement"] = json!("SPDXRef-nope"),
            true,
        ),
        ("unknown field", |d| d["packages"][0]["purl"] = json!("pkg:cargo/example@1.0.0"), false),
        (
            "one package, nothing described",
            |d| {
                d["packages"].as_array_mut().unwrap().pop();
                d["relationships"] = json!([]);
            },
            false,
        ),
    ];
    for (what, mutate, pyspdxtools_rejects) in cases {
        let mut doc = minimal();
        mutate(&mut doc);
        let ours_reject = !check(&serde_json::to_vec(&doc).unwrap()).1.is_empty();
        assert_eq!(!pyspdxtools_accepts(&doc), *pyspdxtools_rejects, "pyspdxtools on: {what}");
        assert_eq!(ours_reject, *what != "valid", "ours on: {what}");
    }
}
