//! `sbom-attach`: parses the command line and hands over to relkit-sbom.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};
use relkit_core::actions::{Env, ProcessEnv, report_error};
use relkit_sbom::attach::{DEFAULT_MAX_SIZE, SizePolicy};
use relkit_sbom::commands::{
    self, AttachCommand, AttestOptions, GenerateCommand, ReleaseTarget, SbomSource, SignerOptions,
};
use relkit_sbom::generate::GenerateOptions;
use relkit_sbom::verify::VerifyOptions;
use relkit_sigstore::image::Storage;
use relkit_sigstore::setup::{KeyOptions, PolicyArgs, TrustOptions, can_sign};

/// SPDX 2.3 SBOMs: generated from lockfiles or given, validated, bound to image digests,
/// attached as referrers and verified.
#[derive(Debug, Parser)]
#[command(name = "sbom-attach", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate an SPDX 2.3 document from the lockfiles in DIR.
    Generate(GenerateArgs),
    /// Validate an SPDX 2.2/2.3 JSON document from any tool (one line per problem, exit 2).
    Validate {
        /// The SBOM file.
        file: PathBuf,
    },
    /// Bind SBOMs to an image's digests and attach them as OCI referrers (idempotent).
    Attach(AttachArgs),
    /// Check the SBOMs attached to an image (exit 1 on any failure).
    Verify(VerifyArgs),
    /// The actions/sbom-attach step: attach then verify, configured by the action inputs
    /// (`INPUT_IMAGE`, `INPUT_SBOM`, `INPUT_GENERATE`, …).
    Action,
}

#[derive(Debug, Args)]
struct RegistryArgs {
    /// Reach this registry host over plain HTTP (repeatable; loopback always is).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registries: Vec<String>,
}

#[derive(Debug, Args)]
#[group(id = "source", required = true, multiple = false)]
struct SourceArgs {
    /// An existing SPDX 2.3/2.2 JSON (syft, trivy, buildkit…): validated, attached byte for byte.
    #[arg(long, group = "source")]
    sbom: Option<PathBuf>,
    /// Generate from the lockfiles in DIR.
    #[arg(long, value_name = "DIR", group = "source")]
    generate: Option<PathBuf>,
    /// Generate from the image's own layers: one SBOM per platform plus the index document.
    #[arg(long, group = "source")]
    generate_image: bool,
}

#[derive(Debug, Args)]
struct AttachArgs {
    /// The image (`registry/repo:tag`, `…@sha256:…`, `oci:DIR[:tag]`).
    image: String,
    #[command(flatten)]
    source: SourceArgs,
    /// Also write the SBOM(s) here, with FILE.sha256 beside (release asset, upload-artifact).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Do not attach as an OCI referrer (only validate, bind and write --output).
    #[arg(long)]
    no_referrer: bool,
    /// Size limit in bytes (default: the actions/attest cap, 16 MiB).
    #[arg(long, default_value_t = DEFAULT_MAX_SIZE)]
    max_size: u64,
    /// Above the limit, drop `files` and/or non-DESCRIBES `relationships`.
    #[arg(long, value_delimiter = ',', value_parser = ["files", "relationships"])]
    trim: Vec<String>,
    /// Above the limit, attach the SBOM whole and attest only its digest.
    #[arg(long)]
    by_reference: bool,
    /// Upload the --output file(s) and their .sha256 to the release of this tag (replacing
    /// earlier uploads); token from GITHUB_TOKEN (FORGEJO_TOKEN with --forgejo-server).
    #[arg(long, value_name = "TAG", requires = "output")]
    release_tag: Option<String>,
    /// The release's repository, owner/name [default: GITHUB_REPOSITORY].
    #[arg(long, requires = "release_tag")]
    repository: Option<String>,
    /// The release is on this Forgejo/Gitea server (https://…) instead of GitHub.
    #[arg(long, value_name = "URL", requires = "release_tag")]
    forgejo_server: Option<String>,
    #[command(flatten)]
    attestation: AttestArgs,
    #[command(flatten)]
    generation: GenerationArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Args)]
struct AttestArgs {
    /// Attest each SBOM as a signed in-toto statement (predicate type https://spdx.dev/Document)
    /// on its digest [default: when signing is possible: --key, --identity-token,
    /// SIGSTORE_ID_TOKEN or `id-token: write` under Actions].
    #[arg(long, conflicts_with = "no_attest")]
    attest: bool,
    /// Do not attest.
    #[arg(long)]
    no_attest: bool,
    /// Where attestations go: auto|referrers (cosign v3), legacy (`.att` tags), both.
    #[arg(long, default_value = "auto", value_parser = Storage::parse)]
    storage: Storage,
    /// Sign with this cosign key or PKCS#8 PEM (password from COSIGN_PASSWORD) instead of keyless.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Log key-based attestations in the transparency log (keyless ones always are).
    #[arg(long, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    tlog_upload: bool,
    /// The OIDC token (or a file holding it) [default: SIGSTORE_ID_TOKEN, then the Actions token endpoint].
    #[arg(long)]
    identity_token: Option<String>,
    /// trusted_root.json of a private Sigstore instance [default: public-good, through TUF].
    #[arg(long, env = "RELKIT_TRUSTED_ROOT")]
    trusted_root: Option<PathBuf>,
    /// signing_config.json (v0.2) of a private Sigstore instance.
    #[arg(long, env = "RELKIT_SIGNING_CONFIG")]
    signing_config: Option<PathBuf>,
}

impl AttestArgs {
    /// The attestation options, or `None` when not attesting.
    fn options(self, env: &dyn Env) -> Option<AttestOptions> {
        let key = KeyOptions {
            key: self.key,
            identity_token: self.identity_token,
            tlog_upload: self.tlog_upload,
            trust: TrustOptions { trusted_root: self.trusted_root, signing_config: self.signing_config },
        };
        let wanted = !self.no_attest && (self.attest || can_sign(&key, env));
        wanted.then_some(AttestOptions { key, storage: self.storage })
    }
}

#[derive(Debug, Args)]
struct GenerationArgs {
    /// Generate even when a lockfile is out of sync with its manifest.
    #[arg(long)]
    allow_stale_lock: bool,
    /// Never run `cargo metadata` (crates missing from cargo's registry cache get NOASSERTION).
    #[arg(long)]
    no_cargo_metadata: bool,
    /// Document name [default: the root package's name-version].
    #[arg(long)]
    name: Option<String>,
    /// Seconds since 1970 for `created` (reproducible output).
    #[arg(long, env = "SOURCE_DATE_EPOCH")]
    source_date_epoch: Option<String>,
}

impl GenerationArgs {
    fn options(self) -> GenerateOptions {
        GenerateOptions {
            allow_stale_lock: self.allow_stale_lock,
            cargo_metadata: !self.no_cargo_metadata,
            source_date_epoch: self.source_date_epoch,
            name: self.name,
        }
    }
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The image (`registry/repo:tag`, `…@sha256:…`, `oci:DIR[:tag]`).
    image: String,
    /// A package every SBOM must list: a name, or a purl prefix such as `pkg:deb/debian/libc6`
    /// (repeatable).
    #[arg(long = "expect-package", value_name = "NAME")]
    expect_packages: Vec<String>,
    /// Who must have attested each SBOM (as `sign verify`); with none, signatures are not checked.
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// The signer options of `verify`, from the flags `sign verify` also takes.
fn signer_options(policy: &PolicyArgs) -> SignerOptions {
    let (policy, trust) = policy.options();
    SignerOptions { policy, trust }
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// Directory holding Cargo.lock, package-lock.json, go.mod, uv.lock or poetry.lock.
    #[arg(default_value = ".", conflicts_with = "image")]
    dir: PathBuf,
    /// Catalogue an image's layers instead (`registry/repo:tag` or `oci:DIR`); --output is then
    /// a directory receiving one document per platform and the index document.
    #[arg(long, value_name = "REF")]
    image: Option<String>,
    /// Write the document here (and FILE.sha256 beside it) instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    generation: GenerationArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

fn main() {
    let cli = Cli::parse();
    let env = ProcessEnv;
    let result = match cli.command {
        Command::Generate(a) => match a.image {
            Some(image) => commands::generate_image_files(
                &image,
                &a.output.unwrap_or_else(|| PathBuf::from(".")),
                &a.generation.options(),
                &a.registry.insecure_registries,
                &env,
            ),
            None => commands::generate(
                &GenerateCommand { dir: a.dir, output: a.output, options: a.generation.options() },
                &env,
            ),
        },
        Command::Validate { file } => commands::validate_file(&file, &env),
        Command::Attach(a) => {
            let source = match (a.source.sbom, a.source.generate) {
                (Some(file), _) => SbomSource::File(file),
                (None, Some(dir)) => SbomSource::Dir(dir),
                (None, None) => SbomSource::Image,
            };
            let size = SizePolicy {
                max_size: a.max_size,
                trim_files: a.trim.iter().any(|t| t == "files"),
                trim_relationships: a.trim.iter().any(|t| t == "relationships"),
                by_reference: a.by_reference,
            };
            commands::attach(
                &AttachCommand {
                    image: a.image,
                    source,
                    generate: a.generation.options(),
                    size,
                    referrer: !a.no_referrer,
                    output: a.output,
                    insecure_registries: a.registry.insecure_registries,
                    attest: a.attestation.options(&env),
                    release: a.release_tag.map(|tag| ReleaseTarget {
                        tag,
                        repository: a.repository,
                        forgejo_server: a.forgejo_server,
                    }),
                },
                &env,
            )
        }
        Command::Action => commands::run_action(&env),
        Command::Verify(a) => commands::verify_image(
            &a.image,
            &VerifyOptions { expect_packages: a.expect_packages },
            Some(&signer_options(&a.policy)).filter(|s| s.policy.is_set()),
            &a.registry.insecure_registries,
            &env,
        ),
    };
    std::process::exit(result.unwrap_or_else(|err| report_error(&env, "sbom-attach", &err)));
}
