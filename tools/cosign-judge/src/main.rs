//! A judge for relkit's tests: reads the cosign signatures of one image from a registry with
//! sigstore-rs (the `sigstore` crate's cosign module, a verifier relkit did not write) and says,
//! per signature layer, whether it satisfies the given identity or key.
//!
//! ```text
//! cosign-judge --trusted-root ROOT.json [--http] (--key PUB.pem | --identity URI --issuer URL)
//!              [--annotation KEY=VALUE]... REG/REPO@sha256:…
//! ```
//!
//! Prints one JSON object: the image, and every layer sigstore-rs trusted, with where it came from
//! (`sig-tag`: the legacy `sha256-<hex>.sig` manifest; `referrer`: a cosign v3 bundle referrer,
//! found through the referrers API or its tag fallback) and whether it satisfied the constraints
//! (the signer, and the annotations of the signed payload when given).
//! Exit 0 when at least one layer satisfies it, 1 when none does, 2 on bad arguments.

use std::collections::BTreeMap;
use std::process::ExitCode;

use base64::Engine as _;
use sigstore::cosign::bundle_content::BundleContent;
use sigstore::cosign::verification_constraint::{
    AnnotationVerifier, CertSubjectUrlVerifier, PublicKeyVerifier, VerificationConstraint,
};
use sigstore::cosign::{ClientBuilder, CosignCapabilities};
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};
use sigstore::trust::ManualTrustRoot;

struct Args {
    trusted_root: String,
    http: bool,
    key: Option<String>,
    identity: Option<String>,
    issuer: Option<String>,
    annotations: BTreeMap<String, String>,
    image: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut trusted_root, mut http, mut key, mut identity, mut issuer, mut image) =
        (None, false, None, None, None, None);
    let mut annotations = BTreeMap::new();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--trusted-root" => trusted_root = Some(value("--trusted-root")?),
            "--http" => http = true,
            "--key" => key = Some(value("--key")?),
            "--identity" => identity = Some(value("--identity")?),
            "--issuer" => issuer = Some(value("--issuer")?),
            "--annotation" => {
                let pair = value("--annotation")?;
                let (k, v) = pair.split_once('=').ok_or(format!("--annotation {pair}: not KEY=VALUE"))?;
                annotations.insert(k.to_string(), v.to_string());
            }
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            _ if image.is_none() => image = Some(arg),
            _ => return Err("exactly one image reference".into()),
        }
    }
    let args = Args {
        trusted_root: trusted_root.ok_or("--trusted-root FILE is required")?,
        http,
        key,
        identity,
        issuer,
        annotations,
        image: image.ok_or("an image reference REG/REPO@sha256:… is required")?,
    };
    if args.key.is_none() && (args.identity.is_none() || args.issuer.is_none()) {
        return Err("give --key PUB.pem, or --identity URI with --issuer URL".into());
    }
    Ok(args)
}

/// The Fulcio certificates and Rekor keys of a Sigstore `trusted_root.json`, keyed as
/// sigstore-rs looks them up (a Rekor key by the hex of its log id).
fn manual_trust_root(path: &str) -> Result<ManualTrustRoot<'static>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let root: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| format!("{path} is not JSON: {e}"))?;
    let b64 = |v: &serde_json::Value| -> Result<Vec<u8>, String> {
        let s = v.as_str().ok_or("expected a base64 string in the trusted root")?;
        base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| e.to_string())
    };
    let mut trust = ManualTrustRoot::default();
    for ca in root["certificateAuthorities"].as_array().into_iter().flatten() {
        for cert in ca["certChain"]["certificates"].as_array().into_iter().flatten() {
            trust.fulcio_certs.push(b64(&cert["rawBytes"])?.into());
        }
    }
    let mut rekor_keys = BTreeMap::new();
    for tlog in root["tlogs"].as_array().into_iter().flatten() {
        let log_id = hex::encode(b64(&tlog["logId"]["keyId"])?);
        rekor_keys.insert(log_id, b64(&tlog["publicKey"]["rawBytes"])?);
    }
    trust.rekor_keys = rekor_keys;
    Ok(trust)
}

async fn judge(args: &Args) -> Result<bool, String> {
    let trust = manual_trust_root(&args.trusted_root)?;
    let image: OciReference =
        args.image.parse().map_err(|e| format!("bad image reference {}: {e}", args.image))?;
    let config = ClientConfig {
        protocol: if args.http { ClientProtocol::Http } else { ClientProtocol::Https },
        ..Default::default()
    };
    let mut client = ClientBuilder::default()
        .with_oci_client_config(config)
        .with_trust_repository(&trust)
        .and_then(|builder| builder.build())
        .map_err(|e| format!("cannot build the sigstore-rs client: {e}"))?;
    let constraint: Box<dyn VerificationConstraint> = match (&args.key, &args.identity) {
        (Some(key), _) => {
            let pem = std::fs::read(key).map_err(|e| format!("cannot read {key}: {e}"))?;
            Box::new(PublicKeyVerifier::try_from(&pem).map_err(|e| format!("bad key {key}: {e}"))?)
        }
        (None, Some(identity)) => Box::new(CertSubjectUrlVerifier {
            url: identity.clone(),
            issuer: args.issuer.clone().unwrap_or_default(),
        }),
        (None, None) => unreachable!("checked by parse_args"),
    };
    let layers = client
        .trusted_signature_layers(&Auth::Anonymous, &image)
        .await
        .map_err(|e| format!("sigstore-rs could not read the signatures of {image}: {e}"))?;
    let mut report = Vec::new();
    let mut any = false;
    for layer in &layers {
        let annotated = AnnotationVerifier { annotations: args.annotations.clone() };
        let satisfied = constraint.verify(layer).unwrap_or(false)
            && (args.annotations.is_empty() || annotated.verify(layer).unwrap_or(false));
        any |= satisfied;
        let source = match layer.bundle {
            Some(BundleContent::SigstoreBundle(_)) => "referrer",
            _ => "sig-tag",
        };
        report.push(serde_json::json!({
            "source": source,
            "digest": layer.simple_signing.critical.image.docker_manifest_digest,
            "type": layer.simple_signing.critical.type_name,
            "logged": layer.bundle.is_some(),
            "certificate_trusted": layer.certificate_signature.is_some(),
            "satisfied": satisfied,
        }));
    }
    println!("{}", serde_json::json!({ "image": args.image, "layers": report }));
    Ok(any)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("cosign-judge: {message}");
            return ExitCode::from(2);
        }
    };
    match judge(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("cosign-judge: {message}");
            ExitCode::from(2)
        }
    }
}
