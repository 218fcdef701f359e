//! Who may see the registry's credentials and how requests are authorized: the challenge
//! learned from the first 401 (basic, or a bearer token realm), the credential lookup, tokens
//! per declared operation scope, and the rule that credentials go only to the registry's own
//! origin and to token realms over https (or a host marked insecure).

use std::collections::HashMap;

use relkit_core::actions::ProcessEnv;
use relkit_core::{Error, Result};
use reqwest::header::CONTENT_TYPE;
use url::Url;

use super::{Access, Challenge, HttpOptions, HttpRegistry, Request};
use crate::auth::{self, Credential};
use crate::tokens::{self, Scopes, Token};

impl HttpRegistry {
    /// True when `url` is the registry itself (same scheme, host and port): the only place its
    /// credentials and tokens go. An upload `Location` or a `Link` page elsewhere is reached
    /// anonymously.
    pub(super) fn is_own_origin(&self, url: &Url) -> bool {
        let own = self.url("");
        let url = self.current(url);
        url.scheme() == own.scheme()
            && url.host_str() == own.host_str()
            && url.port_or_known_default() == own.port_or_known_default()
    }

    /// True when the registry's credentials may go to a token realm: over https, or over plain
    /// http only to a host marked insecure.
    pub(super) fn may_send_credentials_to(&self, realm: &Url) -> bool {
        if realm.scheme() == "https" {
            return true;
        }
        let host = match (realm.host_str(), realm.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => return false,
        };
        let options =
            HttpOptions { insecure_registries: self.insecure_registries.clone(), ..Default::default() };
        realm.scheme() == "http" && options.is_insecure(&host)
    }

    pub(super) async fn credential(&self) -> Result<Credential> {
        if let Some(c) = &self.explicit_credential {
            return Ok(c.clone());
        }
        self.credential
            .get_or_try_init(|| async {
                let credential = auth::lookup(&self.registry, &ProcessEnv).await?;
                if let Some(secret) = credential.secret() {
                    mask(secret);
                }
                Ok::<_, Error>(credential)
            })
            .await
            .cloned()
    }

    pub(super) fn parse_challenge(&self, header: &str) -> Result<Challenge> {
        let Some(params) = parse_bearer_challenge(header) else { return Ok(Challenge::Basic) };
        let realm = params.get("realm").ok_or_else(|| {
            Error::failed(format!("registry {} sent a bearer challenge without a realm", self.registry))
        })?;
        let realm = Url::parse(realm).map_err(|e| {
            Error::failed(format!("registry {} sent an invalid token realm `{realm}`: {e}", self.registry))
        })?;
        Ok(Challenge::Bearer { realm, service: params.get("service").cloned() })
    }

    /// The `Authorization` header for an access: none for an open registry, basic auth, or a
    /// bearer token scoped to exactly the repositories involved (cached per access).
    pub(super) async fn authorization(&self, access: &Access) -> Result<Option<String>> {
        match self.challenge.get() {
            // Not learned yet: the first requests go out anonymously and a 401 teaches it.
            None => Ok(None),
            Some(challenge) => self.authorize(challenge, access, None).await,
        }
    }

    /// The `Authorization` for `access`: basic, or a cached bearer token that covers it. `failed`
    /// is the header the registry just refused: that token is not used again.
    pub(super) async fn authorize(
        &self,
        challenge: &Challenge,
        access: &Access,
        failed: Option<&str>,
    ) -> Result<Option<String>> {
        match challenge {
            Challenge::Basic => Ok(self.credential().await?.basic_header()),
            Challenge::Bearer { realm, service } => {
                let (scopes, cell) = self.tokens.cell(&access.scopes(), failed);
                let token = cell
                    .get_or_try_init(|| self.fetch_token(realm, service.as_deref(), access.repo(), &scopes))
                    .await?;
                Ok(token.header.clone())
            }
        }
    }

    pub(super) fn auth_error(&self, repo: &str, reason: &str) -> Error {
        let reason: String = reason.chars().take(200).collect();
        Error::failed(format!(
            "registry {} refused to authorize access to {repo} ({reason}); check `docker login {}` or GITHUB_TOKEN",
            self.registry, self.registry
        ))
    }

    /// A token from the realm for every scope of `access` (two for a cross-repository mount:
    /// push on the destination, pull on the source).
    pub(super) async fn fetch_token(
        &self,
        realm: &Url,
        service: Option<&str>,
        repo: &str,
        scopes: &Scopes,
    ) -> Result<Token> {
        let credential = self.credential().await?;
        if let Credential::Bearer(token) = &credential {
            return Ok(Token::new(Some(format!("Bearer {token}")), Some(u64::from(u32::MAX))));
        }
        let scopes = tokens::scope_params(scopes);
        if credential.secret().is_some() && !self.may_send_credentials_to(realm) {
            return Err(Error::failed(format!(
                "registry {} names the token server {} over plain http; credentials go there only for a host marked insecure (--insecure-registry {})",
                self.registry,
                realm.origin().ascii_serialization(),
                realm.host_str().unwrap_or_default()
            )));
        }
        let answer = match &credential {
            // An identity token (`az acr login`, docker's `identitytoken`) is an OAuth2 refresh
            // token, exchanged by POST as the docker CLI does.
            Credential::IdentityToken(refresh) => {
                let form = {
                    let mut form = url::form_urlencoded::Serializer::new(String::new());
                    form.append_pair("grant_type", "refresh_token")
                        .append_pair("client_id", "relkit")
                        .append_pair("refresh_token", refresh)
                        .append_pair("scope", &scopes.join(" "));
                    if let Some(service) = service {
                        form.append_pair("service", service);
                    }
                    form.finish()
                };
                self.send_with_retry(|| {
                    self.client
                        .post(realm.clone())
                        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(form.clone())
                })
                .await?
            }
            _ => {
                let mut url = realm.clone();
                {
                    let mut query = url.query_pairs_mut();
                    if let Some(service) = service {
                        query.append_pair("service", service);
                    }
                    for scope in &scopes {
                        query.append_pair("scope", scope);
                    }
                }
                let basic = credential.basic_header();
                self.send_with_retry(|| {
                    let request = self.client.get(url.clone());
                    match &basic {
                        Some(b) => request.header("Authorization", b),
                        None => request,
                    }
                })
                .await?
            }
        };
        if !answer.status.is_success() {
            return Err(self.auth_error(repo, &format!("token server answered {}", answer.status)));
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let token: TokenAnswer = serde_json::from_slice(&answer.body)
            .map_err(|_| self.auth_error(repo, "the token server answered something that is not JSON"))?;
        let value = token.token.or(token.access_token);
        if let Some(t) = &value {
            mask(t);
        }
        Ok(Token::new(value.map(|t| format!("Bearer {t}")), token.expires_in))
    }

    /// The `Authorization` header for a request: none when its URL is not the registry's own.
    pub(super) async fn authorization_for(&self, request: &Request) -> Result<Option<String>> {
        if !self.is_own_origin(&request.url) {
            return Ok(None);
        }
        self.authorization(&request.access).await
    }
}

/// Under Actions, asks the runner to mask a secret in every log line. The workflow command goes
/// to stderr (the runner reads commands there too): stdout carries the JSON report, which
/// `r=$(tag-policy …)` captures.
pub(super) fn mask(secret: &str) {
    if !secret.is_empty() && relkit_core::actions::running_in_actions(&ProcessEnv) {
        eprintln!("{}", relkit_core::actions::add_mask(secret));
    }
}

/// Parses `Bearer realm="…",service="…",scope="…"` (quoted values may hold commas).
pub(super) fn parse_bearer_challenge(header: &str) -> Option<HashMap<String, String>> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            break;
        }
        let value = if chars.next_if_eq(&'"').is_some() {
            let mut value = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
            value
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_string()
        };
        params.insert(key.trim().to_ascii_lowercase(), value);
    }
    Some(params)
}
