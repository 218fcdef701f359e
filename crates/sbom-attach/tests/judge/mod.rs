//! The independent judges of every SBOM the tests generate: pyspdxtools and the official SPDX
//! 2.3 JSON schema (check-jsonschema), plus our own validator through the binary.

use std::path::Path;
use std::process::Command;

use relkit_testkit::tools::require_tool;

/// The vendored SPDX 2.3 JSON schema (spdx/spdx-spec, branch support/2.3.1).
pub fn schema() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../relkit-sbom/tests/data/spdx-schema-2.3.json")
}

/// Asserts that pyspdxtools and the schema accept `file`; false (after a SKIPPED line) when
/// a judge is missing outside CI.
pub fn accepted_by_judges(test: &str, file: &Path) -> bool {
    if !require_tool(test, "pyspdxtools") || !require_tool(test, "check-jsonschema") {
        return false;
    }
    let out = Command::new("pyspdxtools").arg("-i").arg(file).output().unwrap();
    assert!(
        out.status.success(),
        "pyspdxtools rejects {}: {}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("check-jsonschema").arg("--schemafile").arg(schema()).arg(file).output().unwrap();
    assert!(
        out.status.success(),
        "the SPDX 2.3 schema rejects {}: {}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}
