//! A stateful fake of the GitHub release API for end-to-end runs (wiremock on loopback), with
//! bodies shaped as docs.github.com documents them: releases are kept between requests, so a
//! workflow can create a release, find it by tag on a re-run and update it.
//!
//! Served: `GET /repos/{o}/{r}/releases/tags/{tag}` (published releases only, else GitHub's 404
//! body), `GET /repos/{o}/{r}/releases` (drafts included), `POST /repos/{o}/{r}/releases` (422
//! `already_exists` for a taken tag), `PATCH /repos/{o}/{r}/releases/{id}`,
//! `GET /repos/{o}/{r}/releases/{id}/assets` and `POST /graphql` for `associatedPullRequests`
//! (each `object(oid:)` alias answers `null`: the commits are not on GitHub). Anything else is a
//! 404, and every request is recorded for the test to assert on.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The fake, serving `owner/repo` until dropped.
pub struct FakeGithub {
    server: MockServer,
    state: Arc<Mutex<State>>,
    // Keeps the runtime that started the server (the server itself runs on its own thread).
    _runtime: tokio::runtime::Runtime,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The URL path.
    pub path: String,
    /// The JSON body (`null` when there is none).
    pub body: Value,
}

#[derive(Default)]
struct State {
    releases: Vec<Value>,
    requests: Vec<Recorded>,
}

impl FakeGithub {
    /// Starts the fake for the repository `owner/repo` on a free loopback port.
    pub fn start(owner: &str, repo: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let state = Arc::new(Mutex::new(State::default()));
        let server = runtime.block_on(async {
            let server = MockServer::start().await;
            let handler = Handler {
                state: Arc::clone(&state),
                repo_path: format!("/repos/{owner}/{repo}"),
                api: server.uri(),
                html: format!("https://github.com/{owner}/{repo}"),
            };
            Mock::given(any()).respond_with(handler).mount(&server).await;
            server
        });
        Self { server, state, _runtime: runtime }
    }

    /// The REST base URL (`GITHUB_API_URL`).
    pub fn api_url(&self) -> String {
        self.server.uri()
    }

    /// The GraphQL endpoint (`GITHUB_GRAPHQL_URL`).
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.server.uri())
    }

    /// The releases as stored, in creation order (GitHub's release objects).
    pub fn releases(&self) -> Vec<Value> {
        self.state.lock().unwrap().releases.clone()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The JSON bodies of the create and update requests for the release of `tag`, in order.
    pub fn release_writes(&self, tag: &str) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        let id = state.releases.iter().find(|r| r["tag_name"] == tag).map(|r| r["id"].clone());
        state
            .requests
            .iter()
            .filter(|r| {
                (r.method == "POST" && r.path.ends_with("/releases") && r.body["tag_name"] == tag)
                    || (r.method == "PATCH"
                        && id.as_ref().is_some_and(|id| r.path.ends_with(&format!("/releases/{id}"))))
            })
            .map(|r| r.body.clone())
            .collect()
    }
}

struct Handler {
    state: Arc<Mutex<State>>,
    repo_path: String,
    api: String,
    html: String,
}

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let path = request.url.path().to_string();
        let method = request.method.as_str().to_string();
        let mut state = self.state.lock().unwrap();
        state.requests.push(Recorded { method: method.clone(), path: path.clone(), body: body.clone() });
        if method == "POST" && path == "/graphql" {
            return graphql_nulls(&body);
        }
        let Some(rest) = path.strip_prefix(&self.repo_path) else { return not_found() };
        let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        let is_release = |release: &Value, id: &str| id.parse::<u64>().is_ok_and(|id| release["id"] == id);
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["releases", "tags", tag]) => {
                match state.releases.iter().find(|r| r["tag_name"] == *tag && r["draft"] == false) {
                    Some(release) => ResponseTemplate::new(200).set_body_json(release),
                    None => not_found(),
                }
            }
            ("GET", ["releases"]) => {
                ResponseTemplate::new(200).set_body_json(Value::from(state.releases.clone()))
            }
            ("POST", ["releases"]) => {
                let Some(tag) = body["tag_name"].as_str() else {
                    return unprocessable("tag_name", "missing_field");
                };
                if state.releases.iter().any(|r| r["tag_name"] == tag) {
                    return unprocessable("tag_name", "already_exists");
                }
                let id = 1000 + state.releases.len() as u64;
                let mut release = self.release(id, tag);
                apply_fields(&mut release, &body);
                state.releases.push(release.clone());
                ResponseTemplate::new(201).set_body_json(release)
            }
            ("PATCH", ["releases", id]) => match state.releases.iter_mut().find(|r| is_release(r, id)) {
                Some(release) => {
                    apply_fields(release, &body);
                    ResponseTemplate::new(200).set_body_json(release.clone())
                }
                None => not_found(),
            },
            ("GET", ["releases", id, "assets"]) if state.releases.iter().any(|r| is_release(r, id)) => {
                ResponseTemplate::new(200).set_body_json(json!([]))
            }
            _ => not_found(),
        }
    }
}

impl Handler {
    fn release(&self, id: u64, tag: &str) -> Value {
        release_json(&self.api, &self.html, &self.repo_path, id, tag, false, "")
    }
}

/// A release object as `GET /repos/{owner}/{repo}/releases/{id}` documents it: `api` is the API
/// root, `html` the repository's page, `repo_path` `/repos/{owner}/{repo}`.
pub fn release_json(
    api: &str,
    html: &str,
    repo_path: &str,
    id: u64,
    tag: &str,
    draft: bool,
    body: &str,
) -> Value {
    let repo_api = format!("{api}{repo_path}");
    json!({
        "url": format!("{repo_api}/releases/{id}"),
        "html_url": format!("{html}/releases/tag/{tag}"),
        "assets_url": format!("{repo_api}/releases/{id}/assets"),
        "upload_url": format!("{api}/uploads{repo_path}/releases/{id}/assets{{?name,label}}"),
        "tarball_url": format!("{repo_api}/tarball/{tag}"),
        "zipball_url": format!("{repo_api}/zipball/{tag}"),
        "id": id,
        "node_id": "RE_kwDOAAAB",
        "tag_name": tag,
        "target_commitish": "main",
        "name": tag,
        "body": body,
        "draft": draft,
        "prerelease": false,
        "immutable": false,
        "created_at": "2026-11-01T10:00:00Z",
        "published_at": if draft { Value::Null } else { json!("2026-11-01T10:00:00Z") },
        "author": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot", "site_admin": false},
        "assets": []
    })
}

/// The writable fields of a create or update request copied onto the stored release
/// (`make_latest` is a request-only field: GitHub does not return it).
fn apply_fields(release: &mut Value, body: &Value) {
    for field in ["tag_name", "target_commitish", "name", "body", "draft", "prerelease"] {
        if let Some(value) = body.get(field).filter(|v| !v.is_null()) {
            release[field] = value.clone();
        }
    }
    if release["draft"] == true {
        release["published_at"] = Value::Null;
    }
}

/// GitHub's answer to the `associatedPullRequests` batch: `null` for every `cN: object(oid:)`
/// alias, as for commits GitHub does not have.
fn graphql_nulls(body: &Value) -> ResponseTemplate {
    let query = body["query"].as_str().unwrap_or_default();
    let aliases: serde_json::Map<String, Value> = query
        .lines()
        .filter_map(|line| {
            line.trim().split_once(": object(").map(|(alias, _)| (alias.to_string(), Value::Null))
        })
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({"data": {"repository": aliases}}))
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404"
    }))
}

/// GitHub's 422 validation failure for one field.
fn unprocessable(field: &str, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(422).set_body_json(json!({
        "message": "Validation Failed",
        "errors": [{"resource": "Release", "code": code, "field": field}],
        "documentation_url": "https://docs.github.com/rest/releases/releases#create-a-release",
        "status": "422"
    }))
}
