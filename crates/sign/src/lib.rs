//! `sign`: the commands behind the binary. Each takes its parsed options and the environment,
//! does its work through relkit-sigstore and relkit-registry, and returns what to print.

pub mod conformance;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use relkit_core::actions::{Env, Outputs, append_summary, running_in_actions};
use relkit_core::verification::{AttestationInput, ImageInput, SignatureInput, commands, shell_quote};
use relkit_core::{Error, Result};
use relkit_registry::{AnyRegistry, HttpOptions, ImageRef, Registry as _};
use relkit_sigstore::cosign::{cosign_type_for, predicate_type_for};
use relkit_sigstore::image::{DigestReport, Predicate, Run, Storage, check_found, resolve_targets};
use relkit_sigstore::keys::generate_key_pair;
use relkit_sigstore::policy::{IdentityMatch, Policy};
use relkit_sigstore::provenance::{BuildFacts, SLSA_PROVENANCE_V1, github_predicate};
use relkit_sigstore::setup::{now_rfc3339, signing, verification};
use relkit_sigstore::signer::{Material, SigningSession};
use relkit_sigstore::store::{
    Found, SignatureStore, bundle_bytes, has_annotations, is_signature, predicate_type_of,
};
use relkit_sigstore::token::IdentityToken;
use relkit_sigstore::verify::{Subject, parse_bundle};
use serde::Serialize;
use sha2::Digest as _;

pub use relkit_sigstore::setup::{KeyOptions, PolicyOptions, TrustOptions};

/// Options of `sign image` and `sign attest`.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// The images.
    pub images: Vec<String>,
    /// Where to write.
    pub storage: Storage,
    /// Sign again even when signed.
    pub force: bool,
    /// Plain-HTTP registries.
    pub insecure_registries: Vec<String>,
    /// Key or keyless, and the instance.
    pub key: KeyOptions,
    /// Also write the JSON report here.
    pub output: Option<PathBuf>,
    /// cosign's `-a KEY=VALUE` annotations of image signatures.
    pub annotations: BTreeMap<String, String>,
}

/// What to attest.
#[derive(Debug, Clone)]
pub enum PredicateSource {
    /// A predicate file and its type (a URI or cosign's shorthand).
    File {
        /// The file (JSON; for `spdx` a text document wrapped as a JSON string).
        path: PathBuf,
        /// The type.
        kind: String,
    },
    /// SLSA v1 provenance from the GitHub Actions context.
    GithubProvenance,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::failed(format!("cannot start the async runtime: {e}")))
}

fn http_client() -> Result<reqwest::Client> {
    relkit_sigstore::setup::http_client(concat!("relkit-sign/", env!("CARGO_PKG_VERSION")))
}

fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read {what} {} ({e})", path.display())))
}

/// One image's entry in the report: the shared contract plus what this run did.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// The contract notes-gen reads.
    #[serde(flatten)]
    pub entry: ImageInput,
    /// What was done for this digest.
    #[serde(flatten)]
    pub run: DigestReport,
    /// Ready-to-paste verification commands.
    pub commands: Vec<String>,
}

/// The JSON report of `sign image` and `sign attest`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// One entry per digest (an index and each of its platforms).
    pub images: Vec<ImageReport>,
    /// Release files (none for images).
    pub assets: Vec<relkit_core::verification::AssetChecksum>,
}

/// `sign image` and `sign attest`: signs (or attests) every digest of every image.
pub fn run_images(
    options: &ImageOptions,
    predicate: Option<&PredicateSource>,
    github_attestations: bool,
    env: &dyn Env,
) -> Result<Report> {
    let rt = runtime()?;
    rt.block_on(async {
        let http = http_client()?;
        let signing = signing(&options.key, env, &http).await?;
        let predicate = match predicate {
            None => None,
            Some(source) => Some(load_predicate(source, signing.token.as_ref(), env)?),
        };
        let run = Run {
            signer: &signing.source,
            verifier: &signing.verifier,
            own_policy: &signing.policy,
            storage: options.storage,
            force: options.force,
            created: now_rfc3339(),
            require_tlog: signing.tlog,
            annotations: options.annotations.clone(),
        };
        let mut http_options = HttpOptions::from_env(env);
        http_options.insecure_registries.extend(options.insecure_registries.iter().cloned());
        let repository = env.var("GITHUB_REPOSITORY");
        let mut images = Vec::new();
        for image in &options.images {
            let reference = ImageRef::parse(image)?;
            let registry = AnyRegistry::open(&reference, &http_options)?;
            // Signatures are read and written in this repository: one token for both.
            registry.plan_access(reference.repository(), &["pull", "push"]);
            let targets = resolve_targets(&registry, &reference).await?;
            let store = SignatureStore::new(&registry, reference.repository());
            let tags: Vec<String> = reference.tag.iter().cloned().collect();
            // Every digest at once: the registry round trips and settle pauses overlap.
            let done = futures::future::try_join_all(targets.iter().map(|target| async {
                match &predicate {
                    None => run.sign(&store, target).await,
                    Some(p) => run.attest(&store, target, p).await,
                }
            }))
            .await?;
            for (i, done) in done.into_iter().enumerate() {
                eprintln!(
                    "sign: {} {}@{}{}",
                    done.status,
                    done.image,
                    done.digest,
                    done.platform.as_ref().map(|p| format!(" ({p})")).unwrap_or_default()
                );
                let attestations = predicate
                    .iter()
                    .map(|p| AttestationInput {
                        kind: cosign_type_for(&p.predicate_type).to_string(),
                        predicate_type: Some(p.predicate_type.clone()),
                    })
                    .collect();
                let entry = ImageInput {
                    image: done.image.clone(),
                    digest: done.digest.clone(),
                    tags: if i == 0 { tags.clone() } else { Vec::new() },
                    signature: Some(signing.signature_input()),
                    attestations,
                    github_attestations: false,
                    oci_attestations: predicate.is_some() && options.storage != Storage::Legacy,
                };
                images.push(ImageReport { entry, run: done, commands: Vec::new() });
            }
        }
        if github_attestations {
            upload_github_attestations(&mut images, env, &http).await?;
        }
        for image in &mut images {
            let reference = format!("{}@{}", image.entry.image, image.entry.digest);
            image.commands = commands(&reference, &image.entry, repository.as_deref());
        }
        Ok(Report { images, assets: Vec::new() })
    })
}

fn load_predicate(
    source: &PredicateSource,
    token: Option<&IdentityToken>,
    env: &dyn Env,
) -> Result<Predicate> {
    match source {
        PredicateSource::GithubProvenance => {
            let facts = BuildFacts::gather(token.map(IdentityToken::claims), env)?;
            Ok(Predicate {
                predicate_type: SLSA_PROVENANCE_V1.to_string(),
                predicate: github_predicate(&facts),
            })
        }
        PredicateSource::File { path, kind } => {
            let text = read_text(path, "the predicate")?;
            let predicate_type = predicate_type_for(kind).to_string();
            let predicate = if kind == "spdx" {
                serde_json::Value::String(text)
            } else {
                serde_json::from_str(&text).map_err(|e| {
                    Error::usage(format!(
                        "the predicate {} is not JSON ({e}); attest a JSON document",
                        path.display()
                    ))
                })?
            };
            if !predicate_type.contains("://") {
                return Err(Error::usage(format!(
                    "--type `{kind}` is neither a predicate type URI nor one of custom, slsaprovenance1, spdxjson, cyclonedx, openvex, vuln, link"
                )));
            }
            Ok(Predicate { predicate_type, predicate })
        }
    }
}

/// POSTs each new attestation bundle to GitHub's attestations API (what `gh attestation verify`
/// reads without `--bundle-from-oci`).
async fn upload_github_attestations(
    images: &mut [ImageReport],
    env: &dyn Env,
    http: &reqwest::Client,
) -> Result<()> {
    let (Some(repository), Some(token)) = (env.var("GITHUB_REPOSITORY"), env.var("GITHUB_TOKEN")) else {
        return Err(Error::usage(
            "--github-attestations needs GITHUB_REPOSITORY and GITHUB_TOKEN (with `attestations: write`)",
        ));
    };
    let api = env.var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
    let url = format!("{}/repos/{repository}/attestations", api.trim_end_matches('/'));
    for image in images.iter_mut() {
        for bundle in &image.run.bundles {
            let bundle: serde_json::Value = serde_json::from_slice(&bundle_bytes(bundle)?)
                .map_err(|e| Error::failed(format!("cannot read back the bundle ({e})")))?;
            let response = http
                .post(&url)
                .bearer_auth(&token)
                .header("Accept", "application/vnd.github+json")
                .json(&serde_json::json!({"bundle": bundle}))
                .send()
                .await
                .map_err(|e| Error::failed(format!("cannot reach {url} ({e})")))?;
            if !response.status().is_success() {
                return Err(Error::failed(format!(
                    "GitHub refused the attestation for {} ({}); the job needs `permissions: attestations: write`",
                    image.run.digest,
                    response.status()
                )));
            }
        }
        image.entry.github_attestations = true;
    }
    Ok(())
}

/// The SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| Error::usage(format!("cannot read {} ({e})", path.display())))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::failed(format!("cannot read {} ({e})", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One signed file.
#[derive(Debug, Clone, Serialize)]
pub struct BlobReport {
    /// The file.
    pub file: String,
    /// Its SHA-256.
    pub sha256: String,
    /// The bundle written beside it.
    pub bundle: String,
    /// Its transparency log index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<i64>,
    /// How to verify it.
    pub commands: Vec<String>,
}

/// `sign blob`: a `FILE.sigstore.json` bundle (v0.3) per file, verified after writing.
pub fn run_blobs(files: &[PathBuf], key: &KeyOptions, env: &dyn Env) -> Result<Vec<BlobReport>> {
    runtime()?.block_on(async {
        let http = http_client()?;
        let signing = signing(key, env, &http).await?;
        let verifier = &signing.verifier;
        let session = signing.source.session().await?;
        let policy = session_policy(session)?;
        let mut reports = Vec::new();
        for file in files {
            let digest = sha256_file(file)?;
            let hash = relkit_sigstore::image::sha256_of(&format!("sha256:{}", hex(&digest)).parse()?)?;
            let signed = session.sign_digest(hash).await?;
            verifier
                .verify(Subject::Digest(&hash), &signed.bundle, &policy, signing.tlog)
                .map_err(|e| e.context(format!("the bundle made for {} does not verify", file.display())))?;
            let bundle_path = PathBuf::from(format!("{}.sigstore.json", file.display()));
            write_file(&bundle_path, &bundle_bytes(&signed.bundle)?)?;
            eprintln!("sign: signed {} → {}", file.display(), bundle_path.display());
            let log_index = signed
                .bundle
                .verification_material
                .tlog_entries
                .first()
                .and_then(|e| i64::try_from(u64::from(e.log_index)).ok());
            reports.push(BlobReport {
                file: file.display().to_string(),
                sha256: hex(&digest),
                commands: blob_commands(file, &bundle_path, &signing.signature_input()),
                bundle: bundle_path.display().to_string(),
                log_index,
            });
        }
        Ok(reports)
    })
}

/// The policy that matches the session's own signatures: its certificate's identity and issuer,
/// or its key.
fn session_policy(session: &SigningSession) -> Result<Policy> {
    match session.material() {
        Material::PublicKey(key) => Ok(Policy::Key(key.clone())),
        Material::Certificate(chain) => {
            let info = relkit_sigstore::verify::certificate_facts(&chain[0])?;
            Ok(Policy::Identity { identity: IdentityMatch::Exact(info.identity), issuer: info.issuer })
        }
    }
}

fn blob_commands(file: &Path, bundle: &Path, signature: &SignatureInput) -> Vec<String> {
    let file = shell_quote(&file.display().to_string());
    let bundle = shell_quote(&bundle.display().to_string());
    match (&signature.key, &signature.certificate_identity, &signature.certificate_oidc_issuer) {
        (Some(key), _, _) => {
            vec![format!("cosign verify-blob --key {} --bundle {bundle} {file}", shell_quote(key))]
        }
        (None, Some(id), Some(issuer)) => vec![
            format!(
                "cosign verify-blob --bundle {bundle} --certificate-identity {} --certificate-oidc-issuer {} {file}",
                shell_quote(id),
                shell_quote(issuer)
            ),
            format!(
                "sigstore verify identity --bundle {bundle} --cert-identity {} --cert-oidc-issuer {} {file}",
                shell_quote(id),
                shell_quote(issuer)
            ),
        ],
        _ => Vec::new(),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-relkit");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::failed(format!("cannot write {} ({e})", path.display())))
}

/// `sign checksums`: a `sha256sum -c` file for the files, then its signature bundle beside it.
pub fn run_checksums(
    files: &[PathBuf],
    output: &Path,
    key: &KeyOptions,
    env: &dyn Env,
) -> Result<Vec<BlobReport>> {
    let mut text = String::new();
    for file in files {
        text.push_str(&format!("{}  {}\n", hex(&sha256_file(file)?), file.display()));
    }
    write_file(output, text.as_bytes())?;
    run_blobs(&[output.to_path_buf()], key, env)
}

/// `sign generate-key-pair`: `PREFIX.key` (encrypted with `COSIGN_PASSWORD`) and `PREFIX.pub`,
/// never over existing files.
pub fn run_generate_key_pair(prefix: &str, env: &dyn Env) -> Result<(PathBuf, PathBuf)> {
    let password = env.var("COSIGN_PASSWORD").ok_or_else(|| {
        Error::usage(
            "set COSIGN_PASSWORD to the password for the new key (it may be empty: COSIGN_PASSWORD=)",
        )
    })?;
    let (private, public) = generate_key_pair(&password)?;
    let key_path = PathBuf::from(format!("{prefix}.key"));
    let pub_path = PathBuf::from(format!("{prefix}.pub"));
    for path in [&key_path, &pub_path] {
        if path.exists() {
            return Err(Error::usage(format!(
                "{} exists; remove it or choose another --output-key-prefix",
                path.display()
            )));
        }
    }
    write_private(&key_path, private.as_bytes())?;
    write_file(&pub_path, public.as_bytes())?;
    Ok((key_path, pub_path))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| Error::failed(format!("cannot write {} ({e})", path.display())))
}

/// The verdict for one digest.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// `image@digest`.
    pub reference: String,
    /// The platform, for a manifest of an index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// True when at least one entry verified.
    pub verified: bool,
    /// Identities (or `key`) of the entries that verified.
    pub signers: Vec<String>,
    /// Why the others did not (or "no signatures").
    pub failures: Vec<String>,
}

/// `sign verify image` (no `attestation_type`) and `sign verify attestation`: every digest of every
/// image (an index and each platform) must carry a verifying entry.
pub fn run_verify_images(
    images: &[String],
    attestation_type: Option<&str>,
    annotations: &BTreeMap<String, String>,
    policy: &PolicyOptions,
    trust_options: &TrustOptions,
    insecure_registries: &[String],
    env: &dyn Env,
) -> Result<Vec<VerifyReport>> {
    let wanted_type = attestation_type.map(|t| predicate_type_for(t).to_string());
    runtime()?.block_on(async {
        let (rule, verifier) = verification(policy, trust_options, env).await?;
        let mut http_options = HttpOptions::from_env(env);
        http_options.insecure_registries.extend(insecure_registries.iter().cloned());
        let mut reports = Vec::new();
        for image in images {
            let reference = ImageRef::parse(image)?;
            let registry = AnyRegistry::open(&reference, &http_options)?;
            let store = SignatureStore::new(&registry, reference.repository());
            for target in resolve_targets(&registry, &reference).await? {
                let digest = &target.descriptor.digest;
                let wanted = wanted_type.as_deref().unwrap_or(relkit_sigstore::cosign::SIGN_PREDICATE_TYPE);
                let found = store.find(digest, true, true, Some(wanted)).await?;
                let relevant: Vec<&Found> = found
                    .iter()
                    .filter(|f| match &wanted_type {
                        None => is_signature(f),
                        Some(t) => predicate_type_of(f).as_deref() == Some(t.as_str()),
                    })
                    .collect();
                let mut report = VerifyReport {
                    reference: format!("{}@{digest}", target.repository),
                    platform: target.platform.clone(),
                    verified: false,
                    signers: Vec::new(),
                    failures: Vec::new(),
                };
                for f in &relevant {
                    match check_found(&verifier, &rule, digest, f, !policy.ignore_tlog) {
                        Ok(_) if !has_annotations(f, digest, annotations) => report.failures.push(format!(
                            "annotation check failed: the signature does not carry {}",
                            annotations
                                .iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                        Ok(v) => report.signers.push(v.identity.unwrap_or_else(|| "key".into())),
                        Err(e) => report.failures.push(e.message().to_string()),
                    }
                }
                if relevant.is_empty() {
                    report.failures.push(match &wanted_type {
                        None => "no signatures found (neither bundle referrers nor a .sig tag)".into(),
                        Some(t) => format!("no attestation of type {t} found"),
                    });
                }
                report.verified = !report.signers.is_empty();
                reports.push(report);
            }
        }
        Ok(reports)
    })
}

/// `sign verify blob`: the bundle (default `FILE.sigstore.json`) verifies for the file.
pub fn run_verify_blob(
    file: &Path,
    bundle: Option<&Path>,
    policy: &PolicyOptions,
    trust_options: &TrustOptions,
    env: &dyn Env,
) -> Result<String> {
    let bundle_path = bundle
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(format!("{}.sigstore.json", file.display())));
    runtime()?.block_on(async {
        let (rule, verifier) = verification(policy, trust_options, env).await?;
        let bundle =
            parse_bundle(&read_text(&bundle_path, "the bundle")?, &bundle_path.display().to_string())?;
        let digest = sha256_file(file)?;
        let hash = relkit_sigstore::image::sha256_of(&format!("sha256:{}", hex(&digest)).parse()?)?;
        let verified = verifier.verify(Subject::Digest(&hash), &bundle, &rule, !policy.ignore_tlog)?;
        Ok(verified.identity.unwrap_or_else(|| "key".into()))
    })
}

/// Writes the report's step outputs and summary under Actions.
pub fn write_image_outputs(report: &Report, json: &str, env: &dyn Env) -> Result<()> {
    if !running_in_actions(env) {
        return Ok(());
    }
    let mut outputs = Outputs::new();
    let digests: Vec<&str> = report.images.iter().map(|i| i.entry.digest.as_str()).collect();
    outputs.set("digests", digests.join("\n"));
    outputs.set("json", json);
    let commands: Vec<&str> =
        report.images.iter().flat_map(|i| i.commands.iter().map(String::as_str)).collect();
    outputs.set("verify-commands", commands.join("\n"));
    outputs.write(env)?;
    let mut summary = String::from("### Signatures\n\n| image | platform | status |\n|---|---|---|\n");
    for image in &report.images {
        summary.push_str(&format!(
            "| `{}@{}` | {} | {} |\n",
            image.entry.image,
            image.entry.digest,
            image.run.platform.as_deref().unwrap_or("index / image"),
            image.run.status
        ));
    }
    if let Some(first) = report.images.first() {
        summary.push_str("\nVerify with:\n\n```sh\n");
        for c in &first.commands {
            summary.push_str(c);
            summary.push('\n');
        }
        summary.push_str("```\n");
    }
    append_summary(env, &summary)
}
