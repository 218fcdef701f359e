//! The I/O edge of `sbom-attach`: each command takes its options and an [`Env`], prints for a
//! person, writes step outputs under Actions, and returns the exit code.

use std::path::{Path, PathBuf};

use relkit_core::actions::{Env, Outputs, append_summary};
use relkit_core::{Error, Result};

use crate::generate::{GenerateOptions, Generated, generate_dir};
use crate::validate::{ValidSbom, check, validate};

/// `sbom-attach generate DIR`.
#[derive(Debug, Clone, Default)]
pub struct GenerateCommand {
    /// The directory holding the lockfiles.
    pub dir: PathBuf,
    /// Where to write the document (the release-asset / upload-artifact path); stdout if unset.
    pub output: Option<PathBuf>,
    /// Generation options.
    pub options: GenerateOptions,
}

/// Writes `bytes` to `path` atomically (a temporary file renamed into place), with
/// `path.sha256` beside it (`<hex>  <file name>`, as `sha256sum` writes it).
pub fn write_with_checksum(path: &Path, bytes: &[u8]) -> Result<String> {
    let digest = relkit_registry::Digest::of(bytes);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    write_atomically(path, bytes)?;
    let mut sum_path = path.as_os_str().to_owned();
    sum_path.push(".sha256");
    write_atomically(Path::new(&sum_path), format!("{}  {name}\n", digest.hex()).as_bytes())?;
    Ok(digest.to_string())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))
}

/// Generates, prints notes to stderr, writes the file (or stdout) and the step outputs
/// `sbom-file`, `sbom-digest`, `package-count`.
pub fn generate(command: &GenerateCommand, env: &dyn Env) -> Result<i32> {
    let generated = generate_dir(&command.dir, &command.options)?;
    report_generated(&generated);
    let mut outputs = Outputs::new();
    let digest = match &command.output {
        Some(path) => {
            let digest = write_with_checksum(path, &generated.bytes)?;
            eprintln!("sbom-attach: wrote {} ({digest})", path.display());
            outputs.set("sbom-file", path.display().to_string());
            digest
        }
        None => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(&generated.bytes)
                .map_err(|e| Error::failed(format!("cannot write to stdout: {e}")))?;
            relkit_registry::Digest::of(&generated.bytes).to_string()
        }
    };
    outputs.set("sbom-digest", digest);
    outputs.set("package-count", generated.document.packages.len().to_string());
    outputs.write(env)?;
    Ok(0)
}

fn report_generated(generated: &Generated) {
    for (lockfile, count) in &generated.lockfiles {
        eprintln!("sbom-attach: {lockfile}: {count} packages");
    }
    for note in &generated.notes {
        eprintln!("sbom-attach: note: {note}");
    }
}

/// Reads and validates an SBOM file (any tool's SPDX 2.2/2.3 JSON).
pub fn read_sbom(path: &Path) -> Result<ValidSbom> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::usage(format!("cannot read SBOM {}: {e}", path.display())))?;
    validate(&path.display().to_string(), bytes)
}

/// `sbom-attach validate FILE`: every problem on its own line (`FILE: $.path: what (rule)`),
/// exit 2 when there is any.
pub fn validate_file(path: &Path, env: &dyn Env) -> Result<i32> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::usage(format!("cannot read SBOM {file}: {e}")))?;
    let (summary, violations) = check(&bytes);
    for v in &violations {
        eprintln!("{file}: {v}");
    }
    if let Some(first) = violations.first() {
        return Err(Error::usage(format!(
            "{file} is not valid SPDX: {} problem(s), the first: {first}",
            violations.len()
        )));
    }
    let summary = summary.expect("a document without violations has a summary");
    let digest = relkit_registry::Digest::of(&bytes);
    println!("{file}: valid {}, {} packages, {digest}", summary.spdx_version, summary.packages.len());
    let mut outputs = Outputs::new();
    outputs.set("sbom-digest", digest.to_string()).set("package-count", summary.packages.len().to_string());
    outputs.write(env)?;
    append_summary(
        env,
        &format!(
            "SBOM `{file}`: valid {}, {} packages, `{digest}`\n",
            summary.spdx_version,
            summary.packages.len()
        ),
    )?;
    Ok(0)
}
