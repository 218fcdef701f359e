//! The I/O edge of `sbom-attach`: each command takes its options and an [`Env`], prints for a
//! person, writes step outputs under Actions, and returns the exit code.

use std::path::{Path, PathBuf};

use relkit_core::actions::{Env, Outputs, append_summary, input};
use relkit_core::verification::{
    AssetChecksum, AttestationInput as VerificationAttestation, ImageInput, commands as verification_commands,
};
use relkit_core::{Error, Result};
use relkit_registry::ops::resolve_digest;
use relkit_registry::{AnyRegistry, Digest, HttpOptions, ImageRef, Registry};
use serde::Serialize;

use relkit_sigstore::cosign::cosign_type_for;
use relkit_sigstore::image::{DigestReport, Predicate, Run, Storage, Target, resolve_targets};
use relkit_sigstore::setup::{
    KeyOptions, PolicyOptions, Signing, TrustOptions, http_client, now_rfc3339, signing, verification,
};
use relkit_sigstore::store::SignatureStore;

use crate::attach::{
    Attached, BoundSbom, SPDX_PREDICATE_TYPE, SizePolicy, attach_referrer, attestation_input, bind,
};
use crate::generate::{GenerateOptions, Generated, generate_dir};
use crate::image::generate_image;
use crate::validate::{ValidSbom, check, validate};
use crate::verify::{SignatureCheck, VerifyOptions, table, verify};

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

/// Where the SBOM to attach comes from.
#[derive(Debug, Clone)]
pub enum SbomSource {
    /// An existing SPDX JSON file from any tool (validated, then attached byte for byte).
    File(PathBuf),
    /// Generated from the lockfiles in a directory.
    Dir(PathBuf),
    /// Generated from the image's own layers, per platform.
    Image,
}

/// `sbom-attach attach IMAGE`.
#[derive(Debug, Clone)]
pub struct AttachCommand {
    /// The image (`registry/repo:tag`, `…@sha256:…`, `oci:DIR[:tag]`).
    pub image: String,
    /// Where the SBOM comes from.
    pub source: SbomSource,
    /// Generation options (for `Dir` and `Image`).
    pub generate: GenerateOptions,
    /// Size limit and what to do above it.
    pub size: SizePolicy,
    /// Attach as an OCI referrer artifact.
    pub referrer: bool,
    /// Write the SBOM(s) here too (release asset, `actions/upload-artifact`); a multi-arch image
    /// gives `NAME.<os>-<arch>.spdx.json` beside it for each platform.
    pub output: Option<PathBuf>,
    /// Registry hosts reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Attest each SBOM as a signed in-toto statement on its digest (`None`: do not).
    pub attest: Option<AttestOptions>,
    /// Upload the `--output` files and their `.sha256` to this release (needs `output`).
    pub release: Option<ReleaseTarget>,
}

/// The release whose assets receive the SBOM files.
#[derive(Debug, Clone)]
pub struct ReleaseTarget {
    /// The release's tag.
    pub tag: String,
    /// `owner/name` [default: `GITHUB_REPOSITORY`].
    pub repository: Option<String>,
    /// A Forgejo/Gitea server URL; GitHub when unset.
    pub forgejo_server: Option<String>,
}

/// How `attach --attest` signs and where it stores the attestations.
#[derive(Debug, Clone)]
pub struct AttestOptions {
    /// Key or keyless, and the Sigstore instance.
    pub key: KeyOptions,
    /// Referrers, legacy `.att` tags, both, or whatever the registry supports.
    pub storage: Storage,
}

/// What `attach --attest` did for one SBOM.
#[derive(Debug, Clone, Serialize)]
pub struct AttestedSbom {
    /// `attested` or `already attested`.
    pub status: String,
    /// Where the attestation lives (referrer digests, `.att` tags).
    pub locations: Vec<relkit_sigstore::store::Location>,
    /// Transparency log indexes of the new entries.
    pub log_indexes: Vec<i64>,
    /// Ready-to-paste verification commands (`cosign verify-attestation --type spdxjson …`).
    pub commands: Vec<String>,
}

/// What `attach` did for one SBOM.
#[derive(Debug, Clone, Serialize)]
pub struct AttachedSbom {
    /// The image manifest it is bound to.
    pub subject: String,
    /// `os/arch` or `index` / `image`.
    pub platform: String,
    /// `sha256:` of the SBOM bytes.
    pub sbom_digest: String,
    /// Packages listed.
    pub packages: usize,
    /// The file written, if any.
    pub file: Option<String>,
    /// The referrer manifest digest, if attached.
    pub referrer: Option<String>,
    /// `stored` or `already-there`.
    pub referrer_state: Option<&'static str>,
    /// Trimmed to fit the size limit.
    pub trimmed: bool,
    /// Above the limit: attested by reference.
    pub by_reference: bool,
    /// The signed attestation, when attested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<AttestedSbom>,
}

/// The JSON report of `attach`.
#[derive(Debug, Clone, Serialize)]
pub struct AttachReport {
    /// The image as given.
    pub image: String,
    /// Its digest.
    pub digest: String,
    /// One entry per SBOM.
    pub sboms: Vec<AttachedSbom>,
    /// The verification contract (`relkit_core::verification`) for notes-gen: one entry per
    /// attested digest.
    pub images: Vec<ImageInput>,
    /// Release files and their checksums (the contract's `assets`).
    pub assets: Vec<AssetChecksum>,
}

/// The SBOMs of an attach run, bound to their subjects and size-checked, before anything is
/// written: the seam where signed attestations plug in ([`crate::attach::attestation_input`]).
pub async fn prepare<R: Registry>(
    registry: &R,
    reference: &ImageRef,
    source: &SbomSource,
    generate: &GenerateOptions,
    size: &SizePolicy,
) -> Result<(Digest, Vec<BoundSbom>, Vec<String>)> {
    let repo = reference.repository();
    let root = resolve_digest(registry, reference).await?;
    let descriptor = |d: Digest| async move {
        registry
            .head_manifest(repo, d.as_str())
            .await?
            .ok_or_else(|| Error::failed(format!("manifest {d} disappeared from {}", registry.name())))
    };
    let root_descriptor = descriptor(root.clone()).await?;
    let mut notes = Vec::new();
    let mut bound = Vec::new();
    match source {
        SbomSource::File(path) => bound.push(bind(root_descriptor, None, read_sbom(path)?, size)?),
        SbomSource::Dir(dir) => {
            let generated = generate_dir(dir, generate)?;
            report_generated(&generated);
            let sbom = validate(&format!("SBOM generated from {}", dir.display()), generated.bytes)?;
            bound.push(bind(root_descriptor, None, sbom, size)?);
        }
        SbomSource::Image => {
            let sboms = generate_image(registry, reference, generate).await?;
            for p in sboms.platforms {
                notes.extend(
                    p.generated
                        .notes
                        .iter()
                        .map(|n| format!("{}: {n}", p.platform.as_deref().unwrap_or("image"))),
                );
                let subject = descriptor(p.subject.clone()).await?;
                let sbom = validate(&format!("SBOM of {}", p.subject), p.generated.bytes)?;
                bound.push(bind(subject, p.platform.clone(), sbom, size)?);
            }
            if let Some(index) = sboms.index {
                let sbom = validate(&format!("index SBOM of {root}"), index.bytes)?;
                bound.push(bind(root_descriptor, Some("index".into()), sbom, size)?);
            }
        }
    }
    Ok((root, bound, notes))
}

/// The file for one SBOM of a multi-SBOM run: `sbom.spdx.json` → `sbom.linux-arm64.spdx.json`.
pub fn output_path(base: &Path, platform: Option<&str>, several: bool) -> PathBuf {
    let Some(platform) = platform.filter(|p| several && *p != "index") else { return base.to_path_buf() };
    let name =
        base.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "sbom.spdx.json".into());
    let tag = platform.replace('/', "-");
    let new_name = match name.strip_suffix(".spdx.json").or_else(|| name.strip_suffix(".json")) {
        Some(stem) => format!("{stem}.{tag}.spdx.json"),
        None => format!("{name}.{tag}"),
    };
    base.with_file_name(new_name)
}

/// Runs `attach`: everything is generated, validated and size-checked first; then files are
/// written and referrers attached (idempotently).
pub fn attach(command: &AttachCommand, env: &dyn Env) -> Result<i32> {
    let reference = ImageRef::parse(&command.image)?;
    let forge = match &command.release {
        Some(release) => {
            if command.output.is_none() {
                return Err(Error::usage("--release-tag uploads the --output file: give --output FILE too"));
            }
            let repository = release.repository.clone().or_else(|| env.var("GITHUB_REPOSITORY")).ok_or_else(|| {
                Error::usage("--release-tag needs the repository: set GITHUB_REPOSITORY or --repository owner/name")
            })?;
            Some(relkit_forge::Forge::from_env(env, &repository, release.forgejo_server.as_deref())?)
        }
        None => None,
    };
    let mut http = HttpOptions::from_env(env);
    http.insecure_registries.extend(command.insecure_registries.iter().cloned());
    let registry = AnyRegistry::open(&reference, &http)?;
    if command.referrer || command.attest.is_some() {
        // The image is read and its SBOMs written in this repository: one token for both.
        registry.plan_access(reference.repository(), &["pull", "push"]);
    }
    let report = runtime()?.block_on(async {
        let (root, bound, notes) =
            prepare(&registry, &reference, &command.source, &command.generate, &command.size).await?;
        for note in &notes {
            eprintln!("sbom-attach: note: {note}");
        }
        let signer = match &command.attest {
            Some(options) => {
                let http = http_client(concat!("relkit-sbom-attach/", env!("CARGO_PKG_VERSION")))?;
                Some((signing(&options.key, env, &http).await?, options.storage))
            }
            None => None,
        };
        let targets = match signer {
            Some(_) => resolve_targets(&registry, &reference).await?,
            None => Vec::new(),
        };
        let store = SignatureStore::new(&registry, reference.repository());
        let several = bound.len() > 1;
        let repository = env.var("GITHUB_REPOSITORY");
        let mut images = Vec::new();
        let mut sboms = Vec::new();
        for b in &bound {
            let file = match &command.output {
                Some(base) => {
                    let path = output_path(base, b.platform.as_deref(), several);
                    write_with_checksum(&path, &b.sbom.bytes)?;
                    Some(path.display().to_string())
                }
                None => None,
            };
            let (referrer, state, manifest) = if command.referrer {
                let (attached, manifest) = attach_referrer(&registry, reference.repository(), b).await?;
                let state = match attached {
                    Attached::Stored(_) => "stored",
                    Attached::AlreadyThere(_) => "already-there",
                };
                (Some(attached.digest().to_string()), Some(state), Some(manifest))
            } else {
                (None, None, None)
            };
            let attestation = match &signer {
                Some((signing, storage)) => {
                    let done = attest(&store, &targets, b, manifest.as_ref(), signing, *storage).await?;
                    eprintln!("sbom-attach: {} {}", done.status, b.subject.digest);
                    let entry = ImageInput {
                        image: done.image.clone(),
                        digest: done.digest.clone(),
                        tags: if done.digest == root.as_str() {
                            reference.tag.iter().cloned().collect()
                        } else {
                            Vec::new()
                        },
                        signature: Some(signing.signature_input()),
                        attestations: vec![VerificationAttestation {
                            kind: cosign_type_for(SPDX_PREDICATE_TYPE).to_string(),
                            predicate_type: Some(SPDX_PREDICATE_TYPE.to_string()),
                        }],
                        github_attestations: false,
                        oci_attestations: *storage != Storage::Legacy,
                    };
                    let commands = verification_commands(
                        &format!("{}@{}", entry.image, entry.digest),
                        &entry,
                        repository.as_deref(),
                    );
                    images.push(entry);
                    Some(AttestedSbom {
                        status: done.status,
                        locations: done.locations,
                        log_indexes: done.log_indexes,
                        commands,
                    })
                }
                None => None,
            };
            if b.trimmed {
                eprintln!(
                    "sbom-attach: note: the SBOM for {} was trimmed to fit the size limit",
                    b.subject.digest
                );
            }
            if b.by_reference {
                eprintln!(
                    "sbom-attach: note: the SBOM for {} is above the size limit: attest it by reference",
                    b.subject.digest
                );
            }
            sboms.push(AttachedSbom {
                subject: b.subject.digest.to_string(),
                platform: b.platform.clone().unwrap_or_else(|| "image".into()),
                sbom_digest: b.sbom.digest.to_string(),
                packages: b.sbom.packages.len(),
                file,
                referrer,
                referrer_state: state,
                trimmed: b.trimmed,
                by_reference: b.by_reference,
                attestation,
            });
        }
        let mut assets = Vec::new();
        if let (Some(forge), Some(release)) = (&forge, &command.release) {
            for file in sboms.iter().filter_map(|s| s.file.as_deref()) {
                let path = Path::new(file);
                let mut sum = path.as_os_str().to_owned();
                sum.push(".sha256");
                for upload in [path, Path::new(&sum)] {
                    let name =
                        upload.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let put = forge.put_release_asset(&release.tag, upload, &name).await?;
                    eprintln!(
                        "sbom-attach: {} {} on the {} release {}",
                        if put.replaced { "replaced" } else { "uploaded" },
                        put.name,
                        forge.name(),
                        release.tag
                    );
                    if upload == path {
                        let digest =
                            Digest::of(&std::fs::read(path).map_err(|e| {
                                Error::failed(format!("cannot read {}: {e}", path.display()))
                            })?);
                        assets.push(AssetChecksum { name: put.name, sha256: digest.hex().to_string() });
                    }
                }
            }
        }
        Ok::<_, Error>(AttachReport {
            image: command.image.clone(),
            digest: root.to_string(),
            sboms,
            images,
            assets,
        })
    })?;
    println!("{}", serde_json::to_string_pretty(&report).expect("reports serialize"));
    let mut outputs = Outputs::new();
    outputs.set("digest", report.digest.clone());
    let files: Vec<&str> = report.sboms.iter().filter_map(|s| s.file.as_deref()).collect();
    if let Some(first) = files.iter().find(|f| !f.contains(".linux-")).or(files.first()) {
        outputs.set("sbom-file", first.to_string());
    }
    outputs.set("sbom-files", files.join("\n"));
    outputs.set(
        "referrers",
        report.sboms.iter().filter_map(|s| s.referrer.clone()).collect::<Vec<_>>().join("\n"),
    );
    outputs.set("package-count", report.sboms.iter().map(|s| s.packages).sum::<usize>().to_string());
    outputs.write(env)?;
    let mut summary = String::from(
        "### SBOMs attached\n\n| subject | platform | packages | referrer |\n|---|---|---|---|\n",
    );
    for s in &report.sboms {
        summary.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            s.subject,
            s.platform,
            s.packages,
            s.referrer
                .as_deref()
                .map_or("-".to_string(), |r| format!("`{r}` ({})", s.referrer_state.unwrap_or("")))
        ));
    }
    append_summary(env, &summary)?;
    Ok(0)
}

/// Attests one bound SBOM on its subject (idempotent: a verifying attestation of the same
/// document by the same signer is left alone).
async fn attest<R: Registry>(
    store: &SignatureStore<'_, R>,
    targets: &[Target],
    bound: &BoundSbom,
    referrer: Option<&relkit_registry::RawManifest>,
    signing: &Signing,
    storage: Storage,
) -> Result<DigestReport> {
    let input = attestation_input(bound, referrer)?;
    let target = targets.iter().find(|t| t.descriptor.digest == input.subject).ok_or_else(|| {
        Error::failed(format!("{} is not a manifest of the image any more; run again", input.subject))
    })?;
    let run = Run {
        signer: &signing.source,
        verifier: &signing.verifier,
        own_policy: &signing.policy,
        storage,
        force: false,
        created: now_rfc3339(),
        require_tlog: signing.tlog,
        annotations: Default::default(),
    };
    let predicate =
        Predicate { predicate_type: input.predicate_type.to_string(), predicate: input.predicate };
    run.attest(store, target, &predicate).await
}

/// `sbom-attach generate --image REF`: one file per platform (and the index document) in
/// `output_dir`.
pub fn generate_image_files(
    image: &str,
    output_dir: &Path,
    options: &GenerateOptions,
    insecure: &[String],
    env: &dyn Env,
) -> Result<i32> {
    let reference = ImageRef::parse(image)?;
    let mut http = HttpOptions::from_env(env);
    http.insecure_registries.extend(insecure.iter().cloned());
    let registry = AnyRegistry::open(&reference, &http)?;
    let sboms = runtime()?.block_on(generate_image(&registry, &reference, options))?;
    std::fs::create_dir_all(output_dir)
        .map_err(|e| Error::failed(format!("cannot create {}: {e}", output_dir.display())))?;
    let several = sboms.index.is_some();
    let mut files = Vec::new();
    for p in &sboms.platforms {
        let path = output_path(&output_dir.join("sbom.spdx.json"), p.platform.as_deref(), several);
        write_with_checksum(&path, &p.generated.bytes)?;
        eprintln!(
            "sbom-attach: {}: {} packages → {}",
            p.subject,
            p.generated.document.packages.len(),
            path.display()
        );
        for note in &p.generated.notes {
            eprintln!("sbom-attach: note: {note}");
        }
        files.push(path.display().to_string());
    }
    if let Some(index) = &sboms.index {
        let path = output_dir.join("sbom.spdx.json");
        write_with_checksum(&path, &index.bytes)?;
        eprintln!("sbom-attach: index {}: → {}", sboms.root, path.display());
        files.insert(0, path.display().to_string());
    }
    let mut outputs = Outputs::new();
    outputs
        .set("sbom-file", files[0].clone())
        .set("sbom-files", files.join("\n"))
        .set("digest", sboms.root.to_string());
    outputs.write(env)?;
    Ok(0)
}

/// Who must have attested the SBOMs (`sbom-attach verify` with the `sign verify` flags).
#[derive(Debug, Clone, Default)]
pub struct SignerOptions {
    /// Identity, GitHub preset or key, and `--insecure-ignore-tlog`.
    pub policy: PolicyOptions,
    /// The Sigstore instance (`--trusted-root`).
    pub trust: TrustOptions,
}

/// `sbom-attach verify IMAGE`: prints the table; exit 1 when any check failed. With `signer`,
/// every SBOM must also carry a signed attestation of itself from that signer.
pub fn verify_image(
    image: &str,
    options: &VerifyOptions,
    signer: Option<&SignerOptions>,
    insecure: &[String],
    env: &dyn Env,
) -> Result<i32> {
    let reference = ImageRef::parse(image)?;
    let mut http = HttpOptions::from_env(env);
    http.insecure_registries.extend(insecure.iter().cloned());
    let registry = AnyRegistry::open(&reference, &http)?;
    let checked = runtime()?.block_on(async {
        let rule = match signer {
            Some(s) => {
                let (policy, verifier) = verification(&s.policy, &s.trust, env).await?;
                Some(SignatureCheck { verifier, policy, require_tlog: !s.policy.ignore_tlog })
            }
            None => None,
        };
        verify(&registry, &reference, options, rule.as_ref()).await
    })?;
    let table = table(&checked);
    println!("{table}");
    append_summary(env, &format!("### SBOMs of `{image}`\n\n{table}\n"))?;
    let failed = checked.iter().filter(|c| !c.passed()).count();
    if failed > 0 {
        return Err(Error::failed(format!(
            "{failed} of {} SBOM checks of {image} failed (see the table)",
            checked.len()
        )));
    }
    Ok(0)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failed(format!("cannot start the async runtime: {e}")))
}

/// `sbom-attach action`: the composite action's step. Reads the action inputs (`INPUT_*`),
/// attaches, then verifies what is attached (input `verify`, default `true`).
pub fn run_action(env: &dyn Env) -> Result<i32> {
    let flag = |name: &str, default: bool| -> Result<bool> {
        match input(env, name).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(Error::usage(format!("input {name} is `{other}`; use true or false"))),
        }
    };
    let image = input(env, "image")
        .ok_or_else(|| Error::usage("input image is required (registry/repo:tag, …@sha256:…, oci:DIR)"))?;
    let sources =
        [input(env, "sbom"), input(env, "generate"), flag("generate-image", false)?.then(String::new)];
    let source = match sources {
        [Some(file), None, None] => SbomSource::File(file.into()),
        [None, Some(dir), None] => SbomSource::Dir(dir.into()),
        [None, None, Some(_)] => SbomSource::Image,
        _ => return Err(Error::usage("set exactly one of the inputs sbom, generate, generate-image")),
    };
    let max_size = match input(env, "max-size") {
        None => crate::attach::DEFAULT_MAX_SIZE,
        Some(s) => {
            s.parse().map_err(|_| Error::usage(format!("input max-size `{s}` is not a number of bytes")))?
        }
    };
    let trim: Vec<String> = input(env, "trim")
        .unwrap_or_default()
        .split([',', ' ', '\n'])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = trim.iter().find(|t| !matches!(t.as_str(), "files" | "relationships")) {
        return Err(Error::usage(format!("input trim names `{bad}`; use files, relationships or both")));
    }
    let referrer = flag("referrer", true)?;
    let path = |name: &str| input(env, name).map(PathBuf::from);
    let key = KeyOptions {
        key: path("key"),
        identity_token: None,
        tlog_upload: flag("tlog-upload", true)?,
        trust: TrustOptions { trusted_root: path("trusted-root"), signing_config: path("signing-config") },
    };
    let attest = match input(env, "attest").as_deref().unwrap_or("auto") {
        "auto" => relkit_sigstore::setup::can_sign(&key, env),
        "true" => true,
        "false" => false,
        other => return Err(Error::usage(format!("input attest is `{other}`; use auto, true or false"))),
    };
    let storage = Storage::parse(input(env, "storage").as_deref().unwrap_or("auto"))?;
    let signer = SignerOptions {
        policy: PolicyOptions {
            identity: input(env, "certificate-identity"),
            identity_regexp: input(env, "certificate-identity-regexp"),
            issuer: input(env, "certificate-oidc-issuer"),
            github_repo: input(env, "github-repo"),
            workflow: input(env, "workflow"),
            git_ref: input(env, "ref"),
            key: path("public-key"),
            ignore_tlog: !flag("tlog-upload", true)?,
        },
        trust: key.trust.clone(),
    };
    let command = AttachCommand {
        image: image.clone(),
        source,
        generate: GenerateOptions {
            allow_stale_lock: flag("allow-stale-lock", false)?,
            cargo_metadata: true,
            source_date_epoch: env.var("SOURCE_DATE_EPOCH"),
            name: None,
        },
        size: SizePolicy {
            max_size,
            trim_files: trim.iter().any(|t| t == "files"),
            trim_relationships: trim.iter().any(|t| t == "relationships"),
            by_reference: flag("by-reference", false)?,
        },
        referrer,
        output: input(env, "output").map(PathBuf::from),
        insecure_registries: Vec::new(),
        attest: attest.then_some(AttestOptions { key, storage }),
        release: input(env, "release-tag").map(|tag| ReleaseTarget {
            tag,
            repository: None,
            forgejo_server: input(env, "forgejo-server"),
        }),
    };
    attach(&command, env)?;
    if referrer && flag("verify", true)? {
        let expect_packages = input(env, "expect-packages")
            .unwrap_or_default()
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let signer = signer.policy.is_set().then_some(&signer);
        verify_image(&image, &VerifyOptions { expect_packages }, signer, &[], env)?;
    }
    Ok(0)
}
