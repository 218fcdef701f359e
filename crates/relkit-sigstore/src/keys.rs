//! Signing keys as cosign stores them: `ENCRYPTED SIGSTORE PRIVATE KEY` PEM (scrypt-derived key,
//! NaCl secretbox around PKCS#8 DER), plain PKCS#8 `PRIVATE KEY` PEM, and `PUBLIC KEY` PEM
//! (SPKI). P-256 only, as cosign's default.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crypto_secretbox::aead::{Aead as _, KeyInit as _};
use relkit_core::{Error, Result};
use serde::{Deserialize, Serialize};
use sigstore_crypto::KeyPair;
use sigstore_types::DerPublicKey;

use crate::cosign::{pem, pem_blocks};

/// The PEM label cosign writes for an encrypted private key.
pub const ENCRYPTED_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The label older cosign releases wrote (still read).
pub const LEGACY_ENCRYPTED_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// scrypt cost parameters cosign uses (and the only ones it accepts when decrypting).
const SCRYPT_N: u32 = 32768;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;

#[derive(Serialize, Deserialize)]
struct EncryptedKey {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u32,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// A private key read from a file, with its public half.
pub struct PrivateKey {
    /// The key pair (P-256).
    pub key_pair: KeyPair,
    /// The public key (SPKI DER).
    pub public_key: DerPublicKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey").field("public_key", &self.public_key_pem()).finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Reads a cosign-encrypted key (with `password`) or a PKCS#8 PEM key. `source` names the
    /// file in messages.
    pub fn from_pem(text: &str, password: Option<&str>, source: &str) -> Result<Self> {
        let blocks = pem_blocks(text).map_err(|e| e.context(format!("cannot read the key {source}")))?;
        let Some((label, der)) = blocks.into_iter().next() else {
            return Err(Error::usage(format!(
                "{source} holds no PEM block; give a cosign key (`sign generate-key-pair`) or a PKCS#8 `PRIVATE KEY` PEM"
            )));
        };
        let pkcs8 = match label.as_str() {
            ENCRYPTED_KEY_LABEL | LEGACY_ENCRYPTED_KEY_LABEL => {
                let password = password.ok_or_else(|| {
                    Error::usage(format!("{source} is encrypted; set COSIGN_PASSWORD to its password"))
                })?;
                decrypt(&der, password.as_bytes(), source)?
            }
            "PRIVATE KEY" => der,
            "EC PRIVATE KEY" => {
                return Err(Error::usage(format!(
                    "{source} is a SEC1 `EC PRIVATE KEY`; convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in KEY -out key.pem`"
                )));
            }
            other => {
                return Err(Error::usage(format!(
                    "{source} holds a `{other}` PEM block; give a cosign key or a PKCS#8 `PRIVATE KEY`"
                )));
            }
        };
        let key_pair = KeyPair::from_pkcs8_der(&pkcs8).map_err(|e| {
            Error::usage(format!("{source} is not a P-256 ECDSA private key ({e}); cosign keys are P-256"))
        })?;
        let public_key = key_pair
            .public_key_der()
            .map_err(|e| Error::failed(format!("cannot derive the public key of {source} ({e})")))?;
        Ok(Self { key_pair, public_key })
    }

    /// The public key as `PUBLIC KEY` PEM.
    pub fn public_key_pem(&self) -> String {
        pem("PUBLIC KEY", self.public_key.as_bytes())
    }
}

/// Reads a `PUBLIC KEY` PEM (SPKI).
pub fn public_key_from_pem(text: &str, source: &str) -> Result<DerPublicKey> {
    let blocks = pem_blocks(text).map_err(|e| e.context(format!("cannot read the key {source}")))?;
    match blocks.into_iter().next() {
        Some((label, der)) if label == "PUBLIC KEY" => Ok(DerPublicKey::new(der)),
        Some((label, _)) => Err(Error::usage(format!(
            "{source} holds a `{label}` PEM block; verification needs the `PUBLIC KEY` (cosign.pub)"
        ))),
        None => {
            Err(Error::usage(format!("{source} holds no PEM block; give the `PUBLIC KEY` file (cosign.pub)")))
        }
    }
}

/// A new P-256 key pair as cosign writes it: (`cosign.key` PEM encrypted with `password`,
/// `cosign.pub` PEM).
pub fn generate_key_pair(password: &str) -> Result<(String, String)> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .map_err(|_| Error::failed("cannot generate a P-256 key (the system random source failed)"))?;
    let encrypted = encrypt(pkcs8.as_ref(), password.as_bytes())?;
    let private = PrivateKey::from_pem(&pem("PRIVATE KEY", pkcs8.as_ref()), None, "the new key")?;
    Ok((pem(ENCRYPTED_KEY_LABEL, &encrypted), private.public_key_pem()))
}

fn random_bytes(len: usize) -> Result<Vec<u8>> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut out = vec![0u8; len];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| Error::failed("the system random source failed"))?;
    Ok(out)
}

fn derive_key(password: &[u8], salt: &[u8], params: &ScryptParams) -> Result<[u8; 32]> {
    let log_n = params.n.checked_ilog2().filter(|l| 1u32 << l == params.n).unwrap_or(0) as u8;
    let scrypt_params = scrypt::Params::new(log_n, params.r, params.p)
        .map_err(|e| Error::failed(format!("invalid scrypt parameters in the key ({e})")))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, salt, &scrypt_params, &mut key)
        .map_err(|e| Error::failed(format!("scrypt failed ({e})")))?;
    Ok(key)
}

fn encrypt(plaintext: &[u8], password: &[u8]) -> Result<Vec<u8>> {
    let salt = random_bytes(32)?;
    let nonce = random_bytes(24)?;
    let params = ScryptParams { n: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P };
    let key = derive_key(password, &salt, &params)?;
    let cipher = crypto_secretbox::XSalsa20Poly1305::new((&key).into());
    let ciphertext = cipher
        .encrypt(nonce.as_slice().into(), plaintext)
        .map_err(|_| Error::failed("cannot encrypt the private key"))?;
    let data = EncryptedKey {
        kdf: Kdf { name: "scrypt".into(), params, salt: B64.encode(salt) },
        cipher: Cipher { name: "nacl/secretbox".into(), nonce: B64.encode(nonce) },
        ciphertext: B64.encode(ciphertext),
    };
    Ok(serde_json::to_vec(&data).expect("plain data always serializes"))
}

fn decrypt(data: &[u8], password: &[u8], source: &str) -> Result<Vec<u8>> {
    let bad = |what: &str| Error::usage(format!("{source} is not a cosign encrypted key ({what})"));
    let data: EncryptedKey = serde_json::from_slice(data).map_err(|e| bad(&e.to_string()))?;
    if data.kdf.name != "scrypt" || data.cipher.name != "nacl/secretbox" {
        return Err(bad(&format!("kdf `{}`, cipher `{}`", data.kdf.name, data.cipher.name)));
    }
    let p = &data.kdf.params;
    if (p.n, p.r, p.p) != (SCRYPT_N, SCRYPT_R, SCRYPT_P) {
        // Refuse other costs as cosign does: a crafted file could make scrypt run for hours.
        return Err(bad(&format!("unexpected scrypt parameters N={} r={} p={}", p.n, p.r, p.p)));
    }
    let salt = B64.decode(&data.kdf.salt).map_err(|_| bad("salt is not base64"))?;
    let nonce = B64.decode(&data.cipher.nonce).map_err(|_| bad("nonce is not base64"))?;
    let ciphertext = B64.decode(&data.ciphertext).map_err(|_| bad("ciphertext is not base64"))?;
    if nonce.len() != 24 {
        return Err(bad("the nonce is not 24 bytes"));
    }
    let key = derive_key(password, &salt, p)?;
    crypto_secretbox::XSalsa20Poly1305::new((&key).into())
        .decrypt(nonce.as_slice().into(), ciphertext.as_slice())
        .map_err(|_| Error::usage(format!("cannot decrypt {source}: wrong password (check COSIGN_PASSWORD)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_decrypt_with_their_password_only() {
        let (private, public) = generate_key_pair("pw").unwrap();
        assert!(private.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let key = PrivateKey::from_pem(&private, Some("pw"), "cosign.key").unwrap();
        assert_eq!(key.public_key_pem(), public);
        assert_eq!(public_key_from_pem(&public, "cosign.pub").unwrap(), key.public_key);
        let err = PrivateKey::from_pem(&private, Some("nope"), "cosign.key").unwrap_err();
        assert!(err.message().contains("wrong password"), "{err}");
        let err = PrivateKey::from_pem(&private, None, "cosign.key").unwrap_err();
        assert!(err.message().contains("COSIGN_PASSWORD"), "{err}");
    }

    #[test]
    fn sec1_keys_get_the_conversion_command() {
        let err = PrivateKey::from_pem(&pem("EC PRIVATE KEY", &[1, 2]), None, "k.pem").unwrap_err();
        assert!(err.message().contains("openssl pkcs8 -topk8"), "{err}");
    }
}
