//! cosign's registry formats, as pure functions of plain data: the simple-signing payload and the
//! legacy `sha256-<hex>.sig`/`.att` manifests (one layer per signature), the in-toto statements,
//! and the cosign v3 referrer manifest that carries a v0.3 bundle. Byte layouts follow cosign's
//! code (see `docs/sign.md`), not its older prose.

use std::collections::BTreeMap;

use relkit_core::{Error, Result};
use relkit_registry::Digest;
use relkit_registry::manifest::OCI_MANIFEST;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Media type of a legacy `.sig` layer: the simple-signing payload.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Media type of a legacy `.att` layer: a DSSE envelope.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Media type (and artifact type) of a v0.3 Sigstore bundle.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The prefix every Sigstore bundle media type starts with (readers must not filter on more).
pub const BUNDLE_MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// OCI's empty config descriptor media type.
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The OCI image config media type of legacy signature manifests.
pub const IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The in-toto payload type of DSSE envelopes.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto statement type we write.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of a cosign v3 image signature.
pub const SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The simple-signing payload's `type`.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";

/// Layer annotation: the base64 signature (legacy `.sig` only).
pub const ANNOTATION_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation: the PEM leaf certificate.
pub const ANNOTATION_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation: the PEM intermediates and root.
pub const ANNOTATION_CHAIN: &str = "dev.sigstore.cosign/chain";
/// Layer annotation: the Rekor inclusion promise (SET and entry).
pub const ANNOTATION_BUNDLE: &str = "dev.sigstore.cosign/bundle";
/// Layer annotation: an RFC 3161 timestamp over the signature.
pub const ANNOTATION_RFC3161: &str = "dev.sigstore.cosign/rfc3161timestamp";
/// Layer annotation of a legacy `.att` layer: its predicate type.
pub const ANNOTATION_PREDICATE_TYPE: &str = "predicateType";
/// Referrer annotation: what the bundle holds (`dsse-envelope` or `message-signature`).
pub const ANNOTATION_BUNDLE_CONTENT: &str = "dev.sigstore.bundle.content";
/// Referrer annotation: the predicate type of the bundle's statement.
pub const ANNOTATION_BUNDLE_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";

/// The two-byte empty JSON object OCI uses as an empty config.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// Encodes like Go's `encoding/json`: compact, HTML-safe (`<`, `>`, `&` and U+2028/9 escaped).
pub fn go_json(value: &impl Serialize) -> Vec<u8> {
    let text = serde_json::to_string(value).expect("plain data always serializes");
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
        .into_bytes()
}

#[derive(Serialize, Deserialize)]
struct SimpleSigning {
    critical: Critical,
    optional: Option<BTreeMap<String, Value>>,
}

#[derive(Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: ImageDigest,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
struct ImageDigest {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The simple-signing payload cosign signs for an image: exact bytes as cosign writes them
/// (`optional` is `null` without annotations).
pub fn simple_signing_payload(
    docker_reference: &str,
    digest: &Digest,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    let optional = (!annotations.is_empty())
        .then(|| annotations.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect());
    go_json(&SimpleSigning {
        critical: Critical {
            identity: Identity { docker_reference: docker_reference.to_string() },
            image: ImageDigest { docker_manifest_digest: digest.to_string() },
            kind: SIMPLE_SIGNING_TYPE.to_string(),
        },
        optional,
    })
}

/// The image digest a simple-signing payload names, after checking its `type`.
pub fn simple_signing_digest(payload: &[u8]) -> Result<String> {
    let parsed: SimpleSigning = serde_json::from_slice(payload).map_err(|e| {
        Error::failed(format!("the signature payload is not a simple-signing document ({e})"))
    })?;
    if parsed.critical.kind != SIMPLE_SIGNING_TYPE {
        return Err(Error::failed(format!(
            "the signature payload has type `{}`, not `{SIMPLE_SIGNING_TYPE}`",
            parsed.critical.kind
        )));
    }
    Ok(parsed.critical.image.docker_manifest_digest)
}

/// An in-toto statement in the field order in-toto and cosign write.
#[derive(Serialize)]
struct StatementOut<'a> {
    #[serde(rename = "_type")]
    statement_type: &'a str,
    subject: Vec<SubjectOut<'a>>,
    #[serde(rename = "predicateType")]
    predicate_type: &'a str,
    predicate: &'a Value,
}

#[derive(Serialize)]
struct SubjectOut<'a> {
    name: &'a str,
    digest: BTreeMap<&'static str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<&'a BTreeMap<String, String>>,
}

/// The in-toto v1 statement cosign v3 signs for an image: the digest as the only subject (with
/// the `-a KEY=VALUE` annotations, as cosign v3 puts them) and an empty predicate of type
/// [`SIGN_PREDICATE_TYPE`]. cosign leaves the subject unnamed; we name it with the repository,
/// which cosign ignores and in-toto validators (sigstore-python) require.
pub fn signature_statement(
    repository: &str,
    digest: &Digest,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    go_json(&StatementOut {
        statement_type: STATEMENT_V1,
        subject: vec![SubjectOut {
            name: repository,
            digest: BTreeMap::from([("sha256", digest.hex())]),
            annotations: (!annotations.is_empty()).then_some(annotations),
        }],
        predicate_type: SIGN_PREDICATE_TYPE,
        predicate: &json!({}),
    })
}

/// An in-toto v1 statement about the subjects `(name, sha256 hex)` with the given predicate.
pub fn statement(subjects: &[(String, String)], predicate_type: &str, predicate: &Value) -> Vec<u8> {
    go_json(&StatementOut {
        statement_type: STATEMENT_V1,
        subject: subjects
            .iter()
            .map(|(name, hex)| SubjectOut {
                name,
                digest: BTreeMap::from([("sha256", hex.as_str())]),
                annotations: None,
            })
            .collect(),
        predicate_type,
        predicate,
    })
}

/// The fields of an in-toto statement a verifier checks.
#[derive(Debug, Clone, Deserialize)]
pub struct StatementView {
    /// `https://in-toto.io/Statement/v1` or `v0.1`.
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// The subjects.
    pub subject: Vec<SubjectView>,
    /// The predicate type URI.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate.
    #[serde(default)]
    pub predicate: Value,
}

/// One statement subject.
#[derive(Debug, Clone, Deserialize)]
pub struct SubjectView {
    /// The subject's name (optional in cosign's signature statements).
    #[serde(default)]
    pub name: Option<String>,
    /// Digests by algorithm.
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
    /// Annotations (cosign v3 puts `-a KEY=VALUE` here).
    #[serde(default)]
    pub annotations: BTreeMap<String, Value>,
}

/// `KEY=VALUE` pairs (cosign's `-a`) as a map; a pair without `=` or with an empty key is a usage
/// error.
pub fn parse_annotations(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => Err(Error::usage(format!("annotation `{pair}` is not KEY=VALUE; write it as -a KEY=VALUE"))),
        })
        .collect()
}

/// The annotations of a simple-signing payload (its `optional` object; values as text).
pub fn simple_signing_annotations(payload: &[u8]) -> BTreeMap<String, String> {
    serde_json::from_slice::<SimpleSigning>(payload)
        .ok()
        .and_then(|s| s.optional)
        .map(|optional| optional.into_iter().map(|(k, v)| (k, annotation_text(v))).collect())
        .unwrap_or_default()
}

/// An annotation value as text: strings as they are, anything else as JSON.
pub fn annotation_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

impl StatementView {
    /// Parses a statement.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::failed(format!("the signed payload is not an in-toto statement ({e})")))
    }

    /// True when one subject carries this SHA-256 digest.
    pub fn names_digest(&self, digest: &Digest) -> bool {
        self.subject
            .iter()
            .any(|s| s.digest.get("sha256").is_some_and(|h| h.eq_ignore_ascii_case(digest.hex())))
    }
}

/// cosign's `--type` shorthands and the predicate type URIs they stand for (any other value is
/// taken as the URI itself).
pub fn predicate_type_for(kind: &str) -> &str {
    match kind {
        "custom" => "https://cosign.sigstore.dev/attestation/v1",
        "slsaprovenance" | "slsaprovenance02" => "https://slsa.dev/provenance/v0.2",
        "slsaprovenance1" => "https://slsa.dev/provenance/v1",
        "spdx" | "spdxjson" => "https://spdx.dev/Document",
        "cyclonedx" => "https://cyclonedx.org/bom",
        "link" => "https://in-toto.io/Link/v1",
        "vuln" => "https://cosign.sigstore.dev/attestation/vuln/v1",
        "openvex" => "https://openvex.dev/ns",
        other => other,
    }
}

/// The shorthand cosign's `verify-attestation --type` accepts for a predicate type, when there
/// is one (else the URI is passed as is).
pub fn cosign_type_for(predicate_type: &str) -> &str {
    match predicate_type {
        "https://slsa.dev/provenance/v1" => "slsaprovenance1",
        "https://slsa.dev/provenance/v0.2" => "slsaprovenance",
        "https://spdx.dev/Document" => "spdxjson",
        "https://cyclonedx.org/bom" => "cyclonedx",
        "https://openvex.dev/ns" => "openvex",
        other => other,
    }
}

/// A DSSE envelope as cosign v3 stores it in a legacy `.att` layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Base64 of the statement.
    pub payload: String,
    /// Always [`IN_TOTO_PAYLOAD_TYPE`] here.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Exactly one signature.
    pub signatures: Vec<EnvelopeSignature>,
}

impl Envelope {
    /// The envelope of one signature over `payload`, fields in cosign v3's order with no key id.
    /// Serialized with [`go_json`] this is also the exact string a Rekor v1 `dsse` entry must
    /// be given: Rekor records the hash of that string, and verifiers (sigstore-rs) recompute it
    /// from the bundle's envelope in this canonical form.
    pub fn single(payload: &[u8], payload_type: &str, signature: &[u8]) -> Self {
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD as B64;
        Self {
            payload: B64.encode(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![EnvelopeSignature { keyid: None, sig: B64.encode(signature) }],
        }
    }
}

/// One DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Key id (cosign v2 wrote an empty one; v3 omits it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    /// Base64 signature over the PAE.
    pub sig: String,
}

/// The Rekor inclusion promise cosign keeps in the `dev.sigstore.cosign/bundle` annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekorBundle {
    /// Base64 DER ECDSA signature of Rekor over the canonical payload.
    #[serde(rename = "SignedEntryTimestamp")]
    pub signed_entry_timestamp: String,
    /// The entry.
    #[serde(rename = "Payload")]
    pub payload: RekorPayload,
}

/// The Rekor entry of a [`RekorBundle`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekorPayload {
    /// Base64 of the canonicalized entry body.
    pub body: String,
    /// Seconds since the epoch.
    #[serde(rename = "integratedTime")]
    pub integrated_time: i64,
    /// Global log index.
    #[serde(rename = "logIndex")]
    pub log_index: i64,
    /// Hex SHA-256 of the log's public key.
    #[serde(rename = "logID")]
    pub log_id: String,
}

/// The RFC 3161 annotation value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rfc3161Annotation {
    /// Base64 DER `TimeStampResp`.
    #[serde(rename = "SignedRFC3161Timestamp")]
    pub signed_rfc3161_timestamp: String,
}

/// One signature layer of a legacy `.sig`/`.att` manifest: the blob and its descriptor fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyLayer {
    /// [`SIMPLE_SIGNING_MEDIA_TYPE`] or [`DSSE_MEDIA_TYPE`].
    pub media_type: String,
    /// The blob: the signed payload, or the DSSE envelope JSON.
    pub blob: Vec<u8>,
    /// cosign's layer annotations.
    pub annotations: BTreeMap<String, String>,
}

impl LegacyLayer {
    /// The layer's descriptor as JSON.
    pub fn descriptor(&self) -> Value {
        json!({
            "mediaType": self.media_type,
            "size": self.blob.len(),
            "digest": Digest::of(&self.blob).as_str(),
            "annotations": self.annotations,
        })
    }
}

/// A legacy signature manifest and its config blob, from layer descriptors in order (existing
/// layers first, kept byte-for-byte as descriptors). The config is an OCI image config whose
/// `rootfs.diff_ids` lists the layers, as cosign's writer produces.
pub fn legacy_manifest(layers: &[Value]) -> (Vec<u8>, Vec<u8>) {
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    let config = go_json(&json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {}
    }));
    let manifest = go_json(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": IMAGE_CONFIG_MEDIA_TYPE,
            "size": config.len(),
            "digest": Digest::of(&config).as_str(),
        },
        "layers": layers,
    }));
    (manifest, config)
}

/// A cosign v3 referrer manifest for a bundle blob about `subject` (the image manifest's
/// descriptor fields). `created` is RFC 3339 UTC.
pub fn referrer_manifest(
    bundle: &[u8],
    subject_media_type: &str,
    subject: &Digest,
    subject_size: u64,
    content: &str,
    predicate_type: &str,
    created: &str,
) -> Vec<u8> {
    go_json(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": EMPTY_CONFIG_MEDIA_TYPE,
            "artifactType": BUNDLE_MEDIA_TYPE,
            "digest": Digest::of(EMPTY_CONFIG).as_str(),
            "size": EMPTY_CONFIG.len(),
        },
        "layers": [{
            "mediaType": BUNDLE_MEDIA_TYPE,
            "digest": Digest::of(bundle).as_str(),
            "size": bundle.len(),
        }],
        "subject": {"mediaType": subject_media_type, "digest": subject.as_str(), "size": subject_size},
        "annotations": {
            "org.opencontainers.image.created": created,
            ANNOTATION_BUNDLE_CONTENT: content,
            ANNOTATION_BUNDLE_PREDICATE_TYPE: predicate_type,
        },
        "artifactType": BUNDLE_MEDIA_TYPE,
    }))
}

/// PEM text (`-----BEGIN label-----`, 64-column base64, LF line ends) of DER bytes.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Every PEM block of `text` with its label and DER bytes, in order.
pub fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>> {
    use base64::Engine as _;
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end =
            after.find("-----").ok_or_else(|| Error::usage("a PEM block has no closing dashes"))?;
        let label = after[..label_end].to_string();
        let body_start = label_end + 5;
        let end_marker = format!("-----END {label}-----");
        let end = after
            .find(&end_marker)
            .ok_or_else(|| Error::usage(format!("the PEM block `{label}` has no END line")))?;
        let body: String = after[body_start..end].chars().filter(|c| !c.is_whitespace()).collect();
        // Encrypted PEM headers (`Proc-Type:`) are not base64; they are not a format we read.
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| Error::usage(format!("the PEM block `{label}` is not valid base64 ({e})")))?;
        blocks.push((label, der));
        rest = &after[end + end_marker.len()..];
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::of(b"image")
    }

    #[test]
    fn simple_signing_payload_is_byte_exact() {
        let payload = simple_signing_payload("ghcr.io/o/img", &digest(), &BTreeMap::new());
        let expected = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"ghcr.io/o/img"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":null}}"#,
            digest()
        );
        assert_eq!(String::from_utf8(payload.clone()).unwrap(), expected);
        assert_eq!(simple_signing_digest(&payload).unwrap(), digest().to_string());
    }

    /// The envelope string logged in Rekor: payload first, no key id. sigstore-rs recomputes the
    /// logged `envelopeHash` from this canonical form and rejects any other byte order.
    #[test]
    fn single_envelope_is_canonical() {
        let text =
            String::from_utf8(go_json(&Envelope::single(b"{}", IN_TOTO_PAYLOAD_TYPE, b"sig"))).unwrap();
        assert_eq!(
            text,
            r#"{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"c2ln"}]}"#
        );
    }

    #[test]
    fn signature_annotations_go_into_the_statement_subject_and_parse_back() {
        let annotations = parse_annotations(&["git_sha=abc".into(), "note=a=b".into()]).unwrap();
        let text = String::from_utf8(signature_statement("r", &digest(), &annotations)).unwrap();
        assert!(text.contains(r#""annotations":{"git_sha":"abc","note":"a=b"}}]"#), "{text}");
        let view = StatementView::parse(text.as_bytes()).unwrap();
        assert_eq!(view.subject[0].annotations["note"], "a=b");
        let plain = String::from_utf8(signature_statement("r", &digest(), &BTreeMap::new())).unwrap();
        assert!(!plain.contains("annotations"), "{plain}");
        let payload = simple_signing_payload("r", &digest(), &annotations);
        assert_eq!(simple_signing_annotations(&payload), annotations);
        assert!(parse_annotations(&["=x".into()]).is_err() && parse_annotations(&["x".into()]).is_err());
    }

    #[test]
    fn simple_signing_annotations_go_into_optional_html_escaped() {
        let annotations = BTreeMap::from([("note".to_string(), "a<b&c".to_string())]);
        let payload = String::from_utf8(simple_signing_payload("r", &digest(), &annotations)).unwrap();
        assert!(payload.ends_with(r#""optional":{"note":"a\u003cb\u0026c"}}"#), "{payload}");
    }

    #[test]
    fn a_payload_of_another_type_is_refused() {
        let bad = br#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:00"},"type":"other"},"optional":null}"#;
        assert!(
            simple_signing_digest(bad)
                .unwrap_err()
                .message()
                .contains("not `cosign container image signature`")
        );
    }

    #[test]
    fn signature_statement_names_the_image() {
        let s = String::from_utf8(signature_statement("r.io/app", &digest(), &BTreeMap::new())).unwrap();
        assert_eq!(
            s,
            format!(
                r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"r.io/app","digest":{{"sha256":"{}"}}}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{{}}}}"#,
                digest().hex()
            )
        );
        let view = StatementView::parse(s.as_bytes()).unwrap();
        assert!(view.names_digest(&digest()));
        assert!(!view.names_digest(&Digest::of(b"other")));
    }

    #[test]
    fn referrer_manifest_has_cosign_v3_shape() {
        let m = referrer_manifest(
            b"{}",
            OCI_MANIFEST,
            &digest(),
            10,
            "dsse-envelope",
            SIGN_PREDICATE_TYPE,
            "2026-01-01T00:00:00Z",
        );
        let v: Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["artifactType"], BUNDLE_MEDIA_TYPE);
        assert_eq!(
            v["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(v["config"]["artifactType"], BUNDLE_MEDIA_TYPE);
        assert_eq!(v["subject"]["digest"], digest().as_str());
        assert_eq!(v["annotations"][ANNOTATION_BUNDLE_PREDICATE_TYPE], SIGN_PREDICATE_TYPE);
    }

    #[test]
    fn legacy_manifest_lists_layers_in_config_and_manifest() {
        let layer = LegacyLayer {
            media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
            blob: b"payload".to_vec(),
            annotations: BTreeMap::from([(ANNOTATION_SIGNATURE.to_string(), "c2ln".to_string())]),
        };
        let (manifest, config) = legacy_manifest(&[layer.descriptor()]);
        let m: Value = serde_json::from_slice(&manifest).unwrap();
        let c: Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(m["layers"][0]["digest"], Digest::of(b"payload").as_str());
        assert_eq!(c["rootfs"]["diff_ids"][0], Digest::of(b"payload").as_str());
        assert_eq!(m["config"]["digest"], Digest::of(&config).as_str());
    }

    #[test]
    fn predicate_shorthands_match_cosign() {
        assert_eq!(predicate_type_for("spdxjson"), "https://spdx.dev/Document");
        assert_eq!(predicate_type_for("slsaprovenance1"), "https://slsa.dev/provenance/v1");
        assert_eq!(predicate_type_for("https://example.com/p"), "https://example.com/p");
        assert_eq!(cosign_type_for("https://spdx.dev/Document"), "spdxjson");
    }

    #[test]
    fn pem_round_trips() {
        let text = pem("PUBLIC KEY", &[1, 2, 3, 250]);
        assert_eq!(pem_blocks(&text).unwrap(), vec![("PUBLIC KEY".to_string(), vec![1, 2, 3, 250])]);
    }
}
