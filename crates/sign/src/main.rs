//! `sign`: parses the command line and hands over to the library.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};
use relkit_core::actions::{Env, ProcessEnv, report_error};
use relkit_core::{Error, Result};
use relkit_sigstore::image::Storage;
use relkit_sigstore::setup::PolicyArgs;
use sign::conformance::{SignBundle, VerifyBundle};
use sign::{ImageOptions, KeyOptions, PredicateSource, TrustOptions};

/// cosign-compatible signatures and attestations of images (by digest) and files, keyless
/// (GitHub OIDC, Fulcio, Rekor) or with a key, and their verification.
#[derive(Debug, Parser)]
#[command(name = "sign", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign images by digest (an index and each of its platforms), in a registry or oci:DIR.
    Image(SignImageArgs),
    /// Attach a signed attestation (any predicate, or SLSA provenance) to images by digest.
    Attest(AttestArgs),
    /// Sign files: a FILE.sigstore.json bundle beside each.
    Blob(BlobArgs),
    /// Write a sha256sum-compatible checksum file for files and sign it.
    Checksums(ChecksumArgs),
    /// Write a cosign-compatible key pair (PREFIX.key encrypted with COSIGN_PASSWORD, PREFIX.pub).
    GenerateKeyPair(KeyPairArgs),
    /// Verify images, attestations or files.
    #[command(subcommand)]
    Verify(VerifyCommand),
    /// The sigstore-conformance client protocol.
    #[command(subcommand)]
    Conformance(ConformanceCommand),
}

#[derive(Debug, Args)]
struct TrustArgs {
    /// trusted_root.json of a private Sigstore instance [default: public-good, through TUF].
    #[arg(long, env = "RELKIT_TRUSTED_ROOT")]
    trusted_root: Option<PathBuf>,
    /// signing_config.json (v0.2) of a private Sigstore instance.
    #[arg(long, env = "RELKIT_SIGNING_CONFIG")]
    signing_config: Option<PathBuf>,
}

impl TrustArgs {
    fn options(&self) -> TrustOptions {
        TrustOptions { trusted_root: self.trusted_root.clone(), signing_config: self.signing_config.clone() }
    }
}

#[derive(Debug, Args)]
struct KeyArgs {
    /// Sign with this key (cosign key file or PKCS#8 PEM; password in COSIGN_PASSWORD) instead of keyless.
    #[arg(long)]
    key: Option<PathBuf>,
    /// The OIDC token (or a file holding it) [default: SIGSTORE_ID_TOKEN, then the Actions token endpoint].
    #[arg(long)]
    identity_token: Option<String>,
    /// Log key-based signatures in the transparency log.
    #[arg(long, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    tlog_upload: bool,
    #[command(flatten)]
    trust: TrustArgs,
}

impl KeyArgs {
    fn options(&self) -> KeyOptions {
        KeyOptions {
            key: self.key.clone(),
            identity_token: self.identity_token.clone(),
            tlog_upload: self.tlog_upload,
            trust: self.trust.options(),
        }
    }
}

#[derive(Debug, Args)]
struct ImageArgs {
    /// Images: registry/repo:tag, registry/repo@sha256:…, oci:DIR[:tag].
    #[arg(required = true)]
    images: Vec<String>,
    /// auto (cosign v3 referrers, fallback index where needed), referrers, legacy (.sig/.att tags), both.
    #[arg(long, default_value = "auto")]
    storage: String,
    /// Sign again even when this signer already signed.
    #[arg(long)]
    force: bool,
    /// Reach this registry over plain HTTP (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registries: Vec<String>,
    /// Print the JSON report (the verification contract notes-gen reads) on stdout.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Debug, Args)]
struct SignImageArgs {
    #[command(flatten)]
    image: ImageArgs,
    /// An annotation signed with the image (cosign's `-a KEY=VALUE`; repeatable).
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
}

#[derive(Debug, Args)]
struct AttestArgs {
    #[command(flatten)]
    image: ImageArgs,
    /// The predicate file (JSON).
    #[arg(long, required_unless_present = "provenance", conflicts_with = "provenance")]
    predicate: Option<PathBuf>,
    /// Predicate type: a URI or cosign's shorthand (slsaprovenance1, spdxjson, cyclonedx, openvex, custom).
    #[arg(long = "predicate-type", visible_alias = "type", default_value = "custom")]
    predicate_type: String,
    /// `github`: SLSA v1 provenance of this GitHub Actions run, as GitHub's own attestations have it.
    #[arg(long, value_parser = ["github"])]
    provenance: Option<String>,
    /// Also store the attestations in GitHub's attestation API (needs GITHUB_TOKEN with attestations: write).
    #[arg(long)]
    github_attestations: bool,
}

#[derive(Debug, Args)]
struct BlobArgs {
    /// Files to sign.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Debug, Args)]
struct ChecksumArgs {
    /// Files to list.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The checksum file to write (and sign).
    #[arg(long, short, default_value = "SHA256SUMS")]
    output: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Debug, Args)]
struct KeyPairArgs {
    /// File name prefix.
    #[arg(long, default_value = "cosign")]
    output_key_prefix: String,
}

#[derive(Debug, Subcommand)]
enum VerifyCommand {
    /// Every digest of the images (an index and each platform) carries a valid signature.
    Image {
        #[arg(required = true)]
        images: Vec<String>,
        #[arg(long = "insecure-registry", value_name = "HOST")]
        insecure_registries: Vec<String>,
        /// The signature must carry this annotation (cosign's `-a KEY=VALUE`; repeatable).
        #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
        annotations: Vec<String>,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Every digest carries a valid attestation of the type.
    Attestation {
        #[arg(required = true)]
        images: Vec<String>,
        /// Predicate type: a URI or cosign's shorthand.
        #[arg(long = "type", default_value = "slsaprovenance1")]
        predicate_type: String,
        #[arg(long = "insecure-registry", value_name = "HOST")]
        insecure_registries: Vec<String>,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// A file's bundle (default FILE.sigstore.json).
    Blob {
        file: PathBuf,
        #[arg(long)]
        bundle: Option<PathBuf>,
        #[command(flatten)]
        policy: PolicyArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ConformanceCommand {
    /// Sign a file (or an in-toto statement) into a bundle.
    SignBundle {
        #[arg(long)]
        staging: bool,
        #[arg(long)]
        in_toto: bool,
        #[arg(long)]
        identity_token: String,
        #[arg(long)]
        bundle: PathBuf,
        #[arg(long)]
        trusted_root: Option<PathBuf>,
        #[arg(long)]
        signing_config: Option<PathBuf>,
        file: PathBuf,
    },
    /// Verify a bundle for a file or `sha256:<hex>`.
    VerifyBundle {
        #[arg(long)]
        staging: bool,
        #[arg(long)]
        bundle: PathBuf,
        #[arg(long, requires = "certificate_oidc_issuer")]
        certificate_identity: Option<String>,
        #[arg(long)]
        certificate_oidc_issuer: Option<String>,
        #[arg(long)]
        key: Option<PathBuf>,
        #[arg(long)]
        trusted_root: Option<PathBuf>,
        file_or_digest: String,
    },
}

fn image_options(
    args: &ImageArgs,
    annotations: std::collections::BTreeMap<String, String>,
) -> Result<ImageOptions> {
    Ok(ImageOptions {
        annotations,
        images: args.images.clone(),
        storage: Storage::parse(&args.storage)?,
        force: args.force,
        insecure_registries: args.insecure_registries.clone(),
        key: args.key.options(),
        output: args.output.clone(),
    })
}

fn print_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| Error::failed(format!("cannot write the report: {e}")))
}

fn images(
    args: &ImageArgs,
    annotations: std::collections::BTreeMap<String, String>,
    predicate: Option<&PredicateSource>,
    github_attestations: bool,
    env: &dyn Env,
) -> Result<i32> {
    let options = image_options(args, annotations)?;
    let report = sign::run_images(&options, predicate, github_attestations, env)?;
    let json = print_json(&report)?;
    if let Some(path) = &options.output {
        std::fs::write(path, &json)
            .map_err(|e| Error::failed(format!("cannot write {} ({e})", path.display())))?;
    }
    if args.json {
        println!("{json}");
    }
    sign::write_image_outputs(&report, &json, env)?;
    Ok(0)
}

/// Prints one line per digest; any failure is an error (exit 1, `::error::` under Actions)
/// naming how many failed and the first reason.
fn verify_report(reports: &[sign::VerifyReport]) -> Result<i32> {
    let mut failures = Vec::new();
    for r in reports {
        let platform = r.platform.as_ref().map(|p| format!(" ({p})")).unwrap_or_default();
        if r.verified {
            println!("verified {}{platform}: signed by {}", r.reference, r.signers.join(", "));
        } else {
            let line = format!("{}{platform}: {}", r.reference, r.failures.join("; "));
            println!("FAILED   {line}");
            failures.push(line);
        }
    }
    match failures.first() {
        None => Ok(0),
        Some(first) => Err(Error::failed(format!(
            "{} of {} verifications failed; first: {first}",
            failures.len(),
            reports.len()
        ))),
    }
}

fn run(cli: Cli, env: &dyn Env) -> Result<i32> {
    match cli.command {
        Command::Image(args) => {
            let annotations = relkit_sigstore::cosign::parse_annotations(&args.annotations)?;
            images(&args.image, annotations, None, false, env)
        }
        Command::Attest(args) => {
            let source = match (&args.provenance, &args.predicate) {
                (Some(_), _) => PredicateSource::GithubProvenance,
                (None, Some(path)) => {
                    PredicateSource::File { path: path.clone(), kind: args.predicate_type.clone() }
                }
                (None, None) => return Err(Error::usage("give --predicate FILE or --provenance github")),
            };
            images(&args.image, Default::default(), Some(&source), args.github_attestations, env)
        }
        Command::Blob(args) => {
            let reports = sign::run_blobs(&args.files, &args.key.options(), env)?;
            println!("{}", print_json(&reports)?);
            Ok(0)
        }
        Command::Checksums(args) => {
            let reports = sign::run_checksums(&args.files, &args.output, &args.key.options(), env)?;
            println!("{}", print_json(&reports)?);
            Ok(0)
        }
        Command::GenerateKeyPair(args) => {
            let (key, public) = sign::run_generate_key_pair(&args.output_key_prefix, env)?;
            eprintln!("sign: wrote {} (private, encrypted) and {}", key.display(), public.display());
            Ok(0)
        }
        Command::Verify(VerifyCommand::Image { images, insecure_registries, annotations, policy }) => {
            let (policy, trust) = policy.options();
            let annotations = relkit_sigstore::cosign::parse_annotations(&annotations)?;
            let reports = sign::run_verify_images(
                &images,
                None,
                &annotations,
                &policy,
                &trust,
                &insecure_registries,
                env,
            )?;
            verify_report(&reports)
        }
        Command::Verify(VerifyCommand::Attestation {
            images,
            predicate_type,
            insecure_registries,
            policy,
        }) => {
            let (policy, trust) = policy.options();
            let reports = sign::run_verify_images(
                &images,
                Some(&predicate_type),
                &Default::default(),
                &policy,
                &trust,
                &insecure_registries,
                env,
            )?;
            verify_report(&reports)
        }
        Command::Verify(VerifyCommand::Blob { file, bundle, policy }) => {
            let (policy, trust) = policy.options();
            let signer = sign::run_verify_blob(&file, bundle.as_deref(), &policy, &trust, env)?;
            println!("verified {}: signed by {signer}", file.display());
            Ok(0)
        }
        Command::Conformance(ConformanceCommand::SignBundle {
            staging,
            in_toto,
            identity_token,
            bundle,
            trusted_root,
            signing_config,
            file,
        }) => {
            sign::conformance::sign_bundle(&SignBundle {
                staging,
                in_toto,
                identity_token,
                bundle,
                trusted_root,
                signing_config,
                file,
            })?;
            Ok(0)
        }
        Command::Conformance(ConformanceCommand::VerifyBundle {
            staging,
            bundle,
            certificate_identity,
            certificate_oidc_issuer,
            key,
            trusted_root,
            file_or_digest,
        }) => {
            sign::conformance::verify_bundle(&VerifyBundle {
                staging,
                bundle,
                identity: certificate_identity.zip(certificate_oidc_issuer),
                key,
                trusted_root,
                artifact: file_or_digest,
            })?;
            Ok(0)
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let env = ProcessEnv;
    let code = run(cli, &env).unwrap_or_else(|err| report_error(&env, "sign", &err));
    std::process::exit(code);
}
