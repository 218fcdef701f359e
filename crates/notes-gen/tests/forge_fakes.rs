//! The GitHub REST and GraphQL APIs and the Forgejo API as local fakes (wiremock), with bodies
//! shaped like the documented responses (docs.github.com/rest/releases/releases,
//! /rest/releases/assets, /rest/commits/commits#list-pull-requests-associated-with-a-commit,
//! /graphql; Forgejo's swagger `Release` and `Attachment`). The tests assert the requests made:
//! counts, paging, idempotency on re-run, encoded asset names, retries.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use notes_gen::forge::Forge;
use notes_gen::forge::forgejo::ForgejoApi;
use notes_gen::forge::github::GithubApi;
use notes_gen::forge::http::{AuthScheme, Http, RetryPolicy};
use notes_gen::publish::{PublishRequest, publish, revoke};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Mounts one answer on the fake: `method` on `route` responds with `response`.
async fn answer(
    server: &MockServer,
    method_name: &str,
    route: impl Into<String>,
    response: impl wiremock::Respond + 'static,
) {
    Mock::given(method(method_name)).and(path(route.into())).respond_with(response).mount(server).await;
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        backoff_base: Duration::from_millis(1),
        max_rate_limit_wait: Duration::from_secs(5),
        ..RetryPolicy::default()
    }
}

fn github(server: &MockServer) -> Forge {
    let http = Http::new("GitHub", Some("ghs_test".into()), AuthScheme::Bearer, policy()).unwrap();
    Forge::Github(GithubApi::new(http, &server.uri(), &format!("{}/graphql", server.uri()), "acme", "app"))
}

/// A release object of acme/app as GitHub documents it.
fn gh_release(server: &str, id: u64, tag: &str, draft: bool, body: &str) -> Value {
    relkit_testkit::github::release_json(
        server,
        "https://github.com/acme/app",
        "/repos/acme/app",
        id,
        tag,
        draft,
        body,
    )
}

/// A release asset as documented.
fn gh_asset(server: &str, id: u64, name: &str) -> Value {
    json!({
        "url": format!("{server}/repos/acme/app/releases/assets/{id}"),
        "browser_download_url": format!("https://github.com/acme/app/releases/download/v1.2.0/{name}"),
        "id": id,
        "node_id": "RA_kwDOAAAB",
        "name": name,
        "label": "",
        "state": "uploaded",
        "content_type": "application/octet-stream",
        "size": 6,
        "digest": null,
        "download_count": 0,
        "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-01T10:00:00Z",
        "uploader": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot", "site_admin": false}
    })
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest/releases/releases#get-a-release-by-tag-name",
        "status": "404"
    }))
}

fn request(tag: &str, assets: Vec<(std::path::PathBuf, String)>) -> PublishRequest {
    PublishRequest {
        tag: tag.into(),
        target_commitish: Some("a".repeat(40)),
        name: tag.into(),
        body: "## Features\n\n- one\n".into(),
        prerelease: false,
        make_latest: true,
        draft: false,
        unrevoke: false,
        assets,
    }
}

fn requests_to(all: &[Request], verb: &str, path_prefix: &str) -> Vec<Request> {
    all.iter()
        .filter(|r| r.method.as_str() == verb && r.url.path().starts_with(path_prefix))
        .cloned()
        .collect()
}

#[tokio::test]
async fn publish_creates_once_then_updates_and_replaces_assets() {
    let server = MockServer::start().await;
    let uri = server.uri();
    let dir = tempfile::tempdir().unwrap();
    let asset = dir.path().join("app linux #1.tar.gz");
    std::fs::write(&asset, b"binary").unwrap();
    let assets = vec![(asset.clone(), "app linux #1.tar.gz".to_string())];

    // First run: no release yet (published or draft; the list has two pages).
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases/tags/v1.2.0"))
        .respond_with(not_found())
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases"))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([gh_release(&uri, 9, "v1.0.0", false, "old")])),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!(
                        "<{uri}/repos/acme/app/releases?per_page=100&page=2>; rel=\"next\", \
                         <{uri}/repos/acme/app/releases?per_page=100&page=2>; rel=\"last\""
                    )
                    .as_str(),
                )
                .set_body_json(json!([gh_release(&uri, 8, "v1.1.0", false, "older")])),
        )
        .with_priority(5)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/releases"))
        .and(header("authorization", "Bearer ghs_test"))
        .respond_with(ResponseTemplate::new(201).set_body_json(gh_release(&uri, 1, "v1.2.0", false, "x")))
        .mount(&server)
        .await;
    // Later runs find it by tag.
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases/tags/v1.2.0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(gh_release(&uri, 1, "v1.2.0", false, "x")))
        .with_priority(2)
        .mount(&server)
        .await;
    answer(
        &server,
        "PATCH",
        "/repos/acme/app/releases/1",
        ResponseTemplate::new(200).set_body_json(gh_release(&uri, 1, "v1.2.0", false, "y")),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases/1/assets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases/1/assets"))
        // GitHub lists the name it stored: special characters renamed.
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([gh_asset(
            &uri,
            77,
            "app.linux.1.tar.gz"
        )])))
        .with_priority(2)
        .mount(&server)
        .await;
    answer(&server, "DELETE", "/repos/acme/app/releases/assets/77", ResponseTemplate::new(204)).await;
    Mock::given(method("POST"))
        .and(path("/uploads/repos/acme/app/releases/1/assets"))
        .respond_with(ResponseTemplate::new(201).set_body_json(gh_asset(
            &uri,
            78,
            "app.linux.1.tar.gz.relkit-upload",
        )))
        .mount(&server)
        .await;
    answer(
        &server,
        "PATCH",
        "/repos/acme/app/releases/assets/78",
        ResponseTemplate::new(200).set_body_json(gh_asset(&uri, 78, "app.linux.1.tar.gz")),
    )
    .await;

    let forge = github(&server);
    let first = publish(&forge, &request("v1.2.0", assets.clone())).await.unwrap();
    assert_eq!((first.action, first.id), ("created", 1));
    assert!(first.replaced.is_empty());
    let second = publish(&forge, &request("v1.2.0", assets.clone())).await.unwrap();
    assert_eq!(second.action, "updated");
    assert_eq!(second.replaced, ["app.linux.1.tar.gz"], "found under the name GitHub gave it");

    let all = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&all, "POST", "/repos/acme/app/releases").len(), 1, "never a duplicate release");
    assert_eq!(
        requests_to(&all, "PATCH", "/repos/acme/app/releases/1").len(),
        1,
        "a re-run replaces the body"
    );
    let lists: Vec<_> = requests_to(&all, "GET", "/repos/acme/app/releases")
        .into_iter()
        .filter(|r| r.url.path() == "/repos/acme/app/releases")
        .collect();
    assert_eq!(lists.len(), 2, "both pages of the release list are read to find a draft");
    assert_eq!(requests_to(&all, "DELETE", "/repos/acme/app/releases/assets/77").len(), 1);
    // The new file is uploaded under a temporary name, then the old one deleted and the new one
    // renamed into place: a failed upload never leaves the release without the asset.
    let order: Vec<String> = all
        .iter()
        .filter(|r| r.url.path().contains("/assets/") || r.url.path().starts_with("/uploads/"))
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        order,
        [
            "POST /uploads/repos/acme/app/releases/1/assets",
            "PATCH /repos/acme/app/releases/assets/78",
            "POST /uploads/repos/acme/app/releases/1/assets",
            "DELETE /repos/acme/app/releases/assets/77",
            "PATCH /repos/acme/app/releases/assets/78",
        ]
    );
    let rename: Value =
        requests_to(&all, "PATCH", "/repos/acme/app/releases/assets/78")[0].body_json().unwrap();
    assert_eq!(rename, json!({"name": "app.linux.1.tar.gz"}));

    let create: Value = requests_to(&all, "POST", "/repos/acme/app/releases")[0].body_json().unwrap();
    assert_eq!(create["tag_name"], "v1.2.0");
    assert_eq!(create["make_latest"], "true");
    assert_eq!(create["prerelease"], false);
    assert_eq!(create["draft"], false);
    assert_eq!(create["body"], "## Features\n\n- one\n");

    let uploads = requests_to(&all, "POST", "/uploads/");
    assert_eq!(uploads.len(), 2);
    for upload in &uploads {
        assert_eq!(upload.url.query(), Some("name=app.linux.1.tar.gz.relkit-upload"), "the temporary name");
        assert_eq!(upload.headers.get("content-length").unwrap(), "6");
        assert_eq!(upload.headers.get("content-type").unwrap(), "application/octet-stream");
        assert_eq!(upload.body, b"binary");
    }
}

/// Answers with the given responses in turn, then with the last one.
struct Sequence(std::sync::Mutex<Vec<ResponseTemplate>>);

impl Sequence {
    fn new(mut responses: Vec<ResponseTemplate>) -> Self {
        responses.reverse();
        Self(std::sync::Mutex::new(responses))
    }
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut left = self.0.lock().unwrap();
        if left.len() > 1 { left.pop().unwrap() } else { left[0].clone() }
    }
}

/// (case, upload answers, asset lists after the first, uploads sent, partial assets deleted)
type UploadCase = (&'static str, Vec<ResponseTemplate>, Vec<Value>, usize, usize);

/// An upload whose answer is lost (a 502, or the server saying nothing for longer than the
/// stall timeout) is checked against the asset list: sent again when nothing (or only a
/// partial `starter` asset, deleted first) was stored, not sent again when it was stored.
#[tokio::test]
async fn an_upload_whose_answer_is_lost_is_sent_again_only_when_nothing_was_stored() {
    let temp = "app.tar.gz.relkit-upload";
    let mut partial = gh_asset("", 70, temp);
    partial["state"] = json!("starter");
    partial["size"] = json!(0);
    let lost = || ResponseTemplate::new(502).set_body_string("Bad Gateway");
    let stalled = || {
        ResponseTemplate::new(201).set_body_json(gh_asset("", 78, temp)).set_delay(Duration::from_secs(30))
    };
    let cases: Vec<UploadCase> = vec![
        ("502, nothing stored", vec![lost()], vec![json!([])], 2, 0),
        ("502, a partial asset", vec![lost()], vec![json!([partial])], 2, 1),
        ("stall, the asset was stored", vec![stalled()], vec![json!([gh_asset("", 78, temp)])], 1, 0),
        ("502 on every attempt", vec![lost(), lost(), lost(), lost()], vec![json!([])], 4, 0),
    ];
    for (case, uploads, lists, want_uploads, want_deletes) in cases {
        let server = MockServer::start().await;
        let uri = server.uri();
        answer(
            &server,
            "GET",
            "/repos/acme/app/releases/tags/v1.2.0",
            ResponseTemplate::new(200).set_body_json(gh_release(&uri, 1, "v1.2.0", false, "x")),
        )
        .await;
        answer(
            &server,
            "PATCH",
            "/repos/acme/app/releases/1",
            ResponseTemplate::new(200).set_body_json(gh_release(&uri, 1, "v1.2.0", false, "y")),
        )
        .await;
        let mut list_answers = vec![ResponseTemplate::new(200).set_body_json(json!([]))];
        list_answers.extend(lists.into_iter().map(|l| ResponseTemplate::new(200).set_body_json(l)));
        answer(&server, "GET", "/repos/acme/app/releases/1/assets", Sequence::new(list_answers)).await;
        let mut upload_answers = uploads;
        upload_answers.push(ResponseTemplate::new(201).set_body_json(gh_asset(&uri, 78, temp)));
        answer(&server, "POST", "/uploads/repos/acme/app/releases/1/assets", Sequence::new(upload_answers))
            .await;
        answer(&server, "DELETE", "/repos/acme/app/releases/assets/70", ResponseTemplate::new(204)).await;
        answer(
            &server,
            "PATCH",
            "/repos/acme/app/releases/assets/78",
            ResponseTemplate::new(200).set_body_json(gh_asset(&uri, 78, "app.tar.gz")),
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let asset = dir.path().join("app.tar.gz");
        std::fs::write(&asset, b"binary").unwrap();
        let policy = RetryPolicy { stall_timeout: Duration::from_secs(3), ..policy() };
        let http = Http::new("GitHub", Some("ghs_test".into()), AuthScheme::Bearer, policy).unwrap();
        let forge = Forge::Github(GithubApi::new(http, &uri, &format!("{uri}/graphql"), "acme", "app"));
        let result = publish(&forge, &request("v1.2.0", vec![(asset, "app.tar.gz".into())])).await;
        let all = server.received_requests().await.unwrap();
        let uploads = requests_to(&all, "POST", "/uploads/").len();
        let deletes = requests_to(&all, "DELETE", "/repos/acme/app/releases/assets/").len();
        assert_eq!((uploads, deletes), (want_uploads, want_deletes), "{case}");
        let renames = requests_to(&all, "PATCH", "/repos/acme/app/releases/assets/78").len();
        if want_uploads == 4 {
            let err = result.unwrap_err();
            assert!(
                err.message().contains("failed 4 times") && err.message().contains("nothing was stored"),
                "{case}: {err}"
            );
            assert_eq!(renames, 0, "{case}: nothing to swap in");
        } else {
            assert_eq!(result.unwrap().uploaded, ["app.tar.gz"], "{case}");
            assert_eq!(renames, 1, "{case}");
        }
    }
}

#[tokio::test]
async fn a_draft_is_found_through_the_list_and_published_without_a_new_release() {
    let server = MockServer::start().await;
    let uri = server.uri();
    answer(&server, "GET", "/repos/acme/app/releases/tags/v2.0.0", not_found()).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            gh_release(&uri, 3, "v1.0.0", false, "a"),
            gh_release(&uri, 4, "v2.0.0", true, "draft body"),
        ])))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/app/releases/4"))
        .respond_with(ResponseTemplate::new(200).set_body_json(gh_release(&uri, 4, "v2.0.0", false, "new")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).expect(0).mount(&server).await;
    let outcome = publish(&github(&server), &request("v2.0.0", vec![])).await.unwrap();
    assert_eq!((outcome.action, outcome.id), ("updated", 4));
    let all = server.received_requests().await.unwrap();
    let patch: Value = requests_to(&all, "PATCH", "/repos/acme/app/releases/4")[0].body_json().unwrap();
    assert_eq!(patch["draft"], false, "a re-run without --draft publishes the draft");
}

#[tokio::test]
async fn a_failed_create_is_never_repeated_blindly() {
    let server = MockServer::start().await;
    let uri = server.uri();
    // Not there before the create...
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases/tags/v1.3.0"))
        .respond_with(not_found())
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    // ...the create times out at the gateway although GitHub made the release...
    answer(
        &server,
        "POST",
        "/repos/acme/app/releases",
        ResponseTemplate::new(502).set_body_string("Bad Gateway"),
    )
    .await;
    // ...so the second lookup finds it and it is updated instead.
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases/tags/v1.3.0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(gh_release(&uri, 5, "v1.3.0", false, "x")))
        .with_priority(2)
        .mount(&server)
        .await;
    answer(
        &server,
        "PATCH",
        "/repos/acme/app/releases/5",
        ResponseTemplate::new(200).set_body_json(gh_release(&uri, 5, "v1.3.0", false, "y")),
    )
    .await;
    let outcome = publish(&github(&server), &request("v1.3.0", vec![])).await.unwrap();
    assert_eq!((outcome.action, outcome.id), ("updated", 5));
    let all = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&all, "POST", "/repos/acme/app/releases").len(), 1, "the POST is sent once");
    assert_eq!(requests_to(&all, "PATCH", "/repos/acme/app/releases/5").len(), 1);
}

#[tokio::test]
async fn a_failed_create_with_nothing_created_is_an_error_after_one_post() {
    let server = MockServer::start().await;
    answer(&server, "GET", "/repos/acme/app/releases/tags/v1.3.0", not_found()).await;
    answer(&server, "GET", "/repos/acme/app/releases", ResponseTemplate::new(200).set_body_json(json!([])))
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/releases"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let err = publish(&github(&server), &request("v1.3.0", vec![])).await.unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(err.message().contains("not repeated"), "{err}");
}

#[tokio::test]
async fn rate_limits_are_waited_out_from_the_headers_and_a_long_reset_fails_at_once() {
    let server = MockServer::start().await;
    let uri = server.uri();
    // Secondary rate limit: 403 with retry-after, then success (the GET is retried).
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases/tags/v1.4.0"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "0")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases/tags/v1.4.0"))
        .respond_with(not_found())
        .with_priority(2)
        .mount(&server)
        .await;
    answer(&server, "GET", "/repos/acme/app/releases", ResponseTemplate::new(200).set_body_json(json!([])))
        .await;
    // A POST rejected by a rate limit was not processed, so it is sent again.
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/releases"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/releases"))
        .respond_with(ResponseTemplate::new(201).set_body_json(gh_release(&uri, 6, "v1.4.0", false, "x")))
        .with_priority(2)
        .mount(&server)
        .await;
    let outcome = publish(&github(&server), &request("v1.4.0", vec![])).await.unwrap();
    assert_eq!(outcome.action, "created");
    let all = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&all, "GET", "/repos/acme/app/releases/tags/").len(), 2);
    assert_eq!(requests_to(&all, "POST", "/repos/acme/app/releases").len(), 2);

    // Primary limit exhausted for an hour: fail at once with the reset time, one request only.
    let exhausted = MockServer::start().await;
    let reset = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({"message": "API rate limit exceeded"})),
        )
        .expect(1)
        .mount(&exhausted)
        .await;
    let err = publish(&github(&exhausted), &request("v1.4.0", vec![])).await.unwrap_err();
    assert!(err.message().contains("rate limit exhausted"), "{err}");
}

/// GraphQL: answers each `cN: object(oid: "…")` alias with the PRs the test gave for that commit
/// and the commit author's account, and each `uN: history(author: {id: $uN})` alias of the
/// earlier-commits query with one commit for the accounts in `earlier`.
#[derive(Default)]
struct GraphqlFake {
    prs: HashMap<String, Value>,
    /// The GitHub login of a commit's author (`User` node id `U_<login>`); without an entry
    /// a squash-merged commit's author is the pull request's author.
    authors: HashMap<String, String>,
    /// Node ids of the accounts with a commit before the range.
    earlier: Vec<String>,
}

impl GraphqlFake {
    fn new(prs: HashMap<String, Value>) -> Self {
        Self { prs, ..Self::default() }
    }

    fn history(&self, body: &Value) -> ResponseTemplate {
        let mut object = serde_json::Map::new();
        for (name, id) in body["variables"].as_object().unwrap() {
            if !name.starts_with('u') {
                continue;
            }
            let id = id.as_str().unwrap().to_string();
            let nodes = if self.earlier.contains(&id) { json!([{"oid": "e".repeat(40)}]) } else { json!([]) };
            object.insert(name.clone(), json!({"nodes": nodes}));
        }
        ResponseTemplate::new(200).set_body_json(json!({"data": {"repository": {"object": object}}}))
    }
}

impl Respond for GraphqlFake {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = request.body_json().unwrap();
        let query = body["query"].as_str().unwrap();
        if query.contains("history(first: 1, author: {id: $u0})") {
            assert!(body["variables"]["oid"].as_str().is_some_and(|o| o.len() == 40), "{body}");
            return self.history(&body);
        }
        assert_eq!(body["variables"], json!({"owner": "acme", "name": "app"}));
        let mut repository = serde_json::Map::new();
        for line in query.lines().filter(|l| l.contains(": object(oid: \"")) {
            let alias = line.trim().split(':').next().unwrap().to_string();
            let sha = line.split('"').nth(1).unwrap();
            let nodes = self.prs.get(sha).cloned().map(|pr| vec![pr]).unwrap_or_default();
            // A squash-merged commit's author is the pull request's author; a Bot's commits
            // are linked to no user.
            let login = match self.authors.get(sha) {
                Some(login) => Some(login.clone()),
                None => nodes
                    .first()
                    .filter(|pr| pr["author"]["__typename"] == "User")
                    .map(|pr| pr["author"]["login"].as_str().unwrap().to_string()),
            };
            let user = login.map(|l| json!({"login": l, "id": format!("U_{l}")}));
            repository.insert(
                alias,
                json!({"author": {"name": "x", "email": "x@example.org", "user": user}, "associatedPullRequests": {"nodes": nodes}}),
            );
        }
        ResponseTemplate::new(200).set_body_json(json!({"data": {"repository": repository}}))
    }
}

fn graphql_pr(number: u64, labels: &[&str], login: &str) -> Value {
    json!({
        "number": number,
        "title": format!("PR {number}"),
        "url": format!("https://github.com/acme/app/pull/{number}"),
        "mergedAt": "2026-11-01T10:00:00Z",
        "author": {"__typename": "User", "login": login},
        "labels": {"nodes": labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>()}
    })
}

/// A pull request by a GitHub App: GraphQL's `Bot` actor has the login without `[bot]`.
fn graphql_bot_pr(number: u64, login: &str) -> Value {
    let mut pr = graphql_pr(number, &[], login);
    pr["author"] = json!({"__typename": "Bot", "login": login});
    pr
}

#[tokio::test]
async fn pull_requests_are_looked_up_in_batches_of_100_and_only_for_the_range() {
    let server = MockServer::start().await;
    let shas: Vec<String> = (0..250).map(|i| format!("{i:040x}")).collect();
    let prs = HashMap::from([
        (shas[7].clone(), graphql_pr(12, &["enhancement"], "cy")),
        (shas[180].clone(), graphql_pr(40, &[], "bob")),
        (shas[200].clone(), graphql_bot_pr(41, "dependabot")),
    ]);
    answer(&server, "POST", "/graphql", GraphqlFake::new(prs)).await;
    let Forge::Github(api) = github(&server) else { unreachable!() };
    let found = api.pull_requests(&shas).await.unwrap().pulls;
    assert_eq!(found.len(), 3);
    assert_eq!(found[&shas[7]].number, 12);
    assert_eq!(found[&shas[7]].labels, ["enhancement"]);
    assert_eq!(found[&shas[180]].author.as_deref(), Some("bob"));
    assert_eq!(
        found[&shas[200]].author.as_deref(),
        Some("dependabot[bot]"),
        "a Bot's login as GitHub spells it"
    );
    let all = server.received_requests().await.unwrap();
    assert_eq!(all.len(), 3, "250 commits take 3 queries");
    let aliases: Vec<usize> = all
        .iter()
        .map(|r| r.body_json::<Value>().unwrap()["query"].as_str().unwrap().matches(": object(oid:").count())
        .collect();
    assert_eq!(aliases, [100, 100, 50]);
}

#[tokio::test]
async fn rest_is_the_fallback_when_graphql_fails() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "errors": [{"type": "FORBIDDEN", "message": "Resource not accessible by integration"}]
        })))
        .mount(&server)
        .await;
    let shas: Vec<String> = (0..3).map(|i| format!("{i:040x}")).collect();
    Mock::given(method("GET"))
        .and(path(format!("/repos/acme/app/commits/{}/pulls", shas[1])))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "url": "https://api.github.com/repos/acme/app/pulls/9",
            "id": 1, "number": 9, "state": "closed", "title": "Fix it",
            "html_url": "https://github.com/acme/app/pull/9",
            "user": {"login": "ann", "id": 1, "type": "User"},
            "labels": [{"id": 1, "name": "bug", "color": "d73a4a", "default": true}],
            "merged_at": "2026-11-01T10:00:00Z",
            "draft": false
        }])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex_any_commit())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .with_priority(10)
        .mount(&server)
        .await;
    let Forge::Github(api) = github(&server) else { unreachable!() };
    let found = api.pull_requests(&shas).await.unwrap().pulls;
    assert_eq!(found.len(), 1);
    assert_eq!(found[&shas[1]].labels, ["bug"]);
    let all = server.received_requests().await.unwrap();
    assert_eq!(
        requests_to(&all, "GET", "/repos/acme/app/commits/").len(),
        3,
        "one REST call per commit of the range"
    );
}

fn path_regex_any_commit() -> wiremock::matchers::PathRegexMatcher {
    wiremock::matchers::path_regex(r"^/repos/acme/app/commits/[0-9a-f]{40}/pulls$")
}

#[tokio::test]
async fn revoke_prepends_a_notice_and_marks_a_prerelease() {
    let server = MockServer::start().await;
    let uri = server.uri();
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases/tags/v1.4.0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(gh_release(
            &uri,
            6,
            "v1.4.0",
            false,
            "## Features\n- a\n",
        )))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/app/releases/6"))
        .respond_with(ResponseTemplate::new(200).set_body_json(gh_release(&uri, 6, "v1.4.0", false, "r")))
        .expect(1)
        .mount(&server)
        .await;
    revoke(&github(&server), "v1.4.0", "data loss in the migration").await.unwrap();
    let all = server.received_requests().await.unwrap();
    let patch: Value = requests_to(&all, "PATCH", "/repos/acme/app/releases/6")[0].body_json().unwrap();
    assert_eq!(patch["prerelease"], true);
    assert_eq!(patch["make_latest"], "false");
    let body = patch["body"].as_str().unwrap();
    assert!(body.starts_with("<!-- relkit:revoked -->\n> [!CAUTION]\n> **v1.4.0 is revoked"), "{body}");
    assert!(body.contains("Reason: data loss in the migration"));
    assert!(body.ends_with("## Features\n- a\n"), "the rest is kept: {body}");
    assert!(patch.get("name").is_none() && patch.get("tag_name").is_none(), "nothing else is changed");

    let missing = MockServer::start().await;
    Mock::given(method("GET")).respond_with(not_found()).mount(&missing).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .with_priority(1)
        .mount(&missing)
        .await;
    let err = revoke(&github(&missing), "v9.9.9", "x").await.unwrap_err();
    assert_eq!(err.exit_code(), 2);
}

/// A Forgejo `Release` as its swagger documents it.
fn fj_release(server: &str, id: u64, tag: &str) -> Value {
    json!({
        "id": id,
        "tag_name": tag,
        "target_commitish": "main",
        "name": tag,
        "body": "",
        "url": format!("{server}/api/v1/repos/acme/app/releases/{id}"),
        "html_url": format!("{server}/acme/app/releases/tag/{tag}"),
        "tarball_url": format!("{server}/acme/app/archive/{tag}.tar.gz"),
        "zipball_url": format!("{server}/acme/app/archive/{tag}.zip"),
        "upload_url": format!("{server}/api/v1/repos/acme/app/releases/{id}/assets"),
        "hide_archive_links": false,
        "draft": false,
        "prerelease": false,
        "created_at": "2026-11-01T10:00:00Z",
        "published_at": "2026-11-01T10:00:00Z",
        "author": {"id": 1, "login": "james", "full_name": "", "email": "james@noreply.example"},
        "assets": [],
        "archive_download_count": {"tar_gz": 0, "zip": 0}
    })
}

fn fj_attachment(server: &str, id: u64, name: &str) -> Value {
    json!({
        "id": id, "name": name, "size": 6, "download_count": 0,
        "created_at": "2026-11-01T10:00:00Z", "uuid": "0b3c7c4e-93b4-4a5b-9d2c-1f0e0f0e0f0e",
        "browser_download_url": format!("{server}/attachments/0b3c7c4e-93b4-4a5b-9d2c-1f0e0f0e0f0e"),
        "type": "attachment"
    })
}

#[tokio::test]
async fn forgejo_publish_is_idempotent_too() {
    let server = MockServer::start().await;
    let uri = server.uri();
    let base = "/api/v1/repos/acme/app";
    Mock::given(method("GET"))
        .and(path(format!("{base}/releases/tags/v0.1.0")))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"message": "The target couldn't be found.", "errors": []})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/releases")))
        .and(query_param("draft", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{base}/releases")))
        .and(header("authorization", "token fj_secret"))
        .respond_with(ResponseTemplate::new(201).set_body_json(fj_release(&uri, 11, "v0.1.0")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/releases/tags/v0.1.0")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fj_release(&uri, 11, "v0.1.0")))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{base}/releases/11")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fj_release(&uri, 11, "v0.1.0")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/releases/11/assets")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/releases/11/assets")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([fj_attachment(&uri, 5, "app.tar.gz")])))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("{base}/releases/11/assets/5")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{base}/releases/11/assets")))
        .and(query_param("name", "app.tar.gz.relkit-upload"))
        .respond_with(ResponseTemplate::new(201).set_body_json(fj_attachment(
            &uri,
            6,
            "app.tar.gz.relkit-upload",
        )))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{base}/releases/11/assets/6")))
        .respond_with(ResponseTemplate::new(201).set_body_json(fj_attachment(&uri, 6, "app.tar.gz")))
        .expect(2)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let asset = dir.path().join("app.tar.gz");
    std::fs::write(&asset, b"binary").unwrap();
    let http = Http::new("Forgejo", Some("fj_secret".into()), AuthScheme::Token, policy()).unwrap();
    let forge = Forge::Forgejo(ForgejoApi::new(http, &uri, "acme", "app"));
    let assets = vec![(asset, "app.tar.gz".to_string())];
    assert_eq!(publish(&forge, &request("v0.1.0", assets.clone())).await.unwrap().action, "created");
    let again = publish(&forge, &request("v0.1.0", assets)).await.unwrap();
    assert_eq!((again.action, again.replaced.len()), ("updated", 1));
    let all = server.received_requests().await.unwrap();
    let create: Value = requests_to(&all, "POST", &format!("{base}/releases"))
        .into_iter()
        .find(|r| r.url.path() == format!("{base}/releases"))
        .unwrap()
        .body_json()
        .unwrap();
    assert!(create.get("make_latest").is_none(), "Forgejo has no make_latest");
    assert_eq!(create["tag_name"], "v0.1.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_looks_up_pull_requests_and_publishes_with_release_yml_categories() {
    let mut repo = common::GitRepo::new();
    repo.commit("feat: base");
    repo.annotated_tag("v1.0.0");
    let labelled = repo.commit_as("Add the shiny thing (#12)", "Cy Contributor", "cy@example.org");
    let excluded = repo.commit("chore: bump deps (#13)");
    let breaking = repo.commit_as("refactor!: drop the old flag (#14)", "Cy Contributor", "cy@example.org");
    repo.commit("fix: plain git fix");
    repo.write(
        ".github/release.yml",
        "changelog:\n  exclude:\n    labels: [ignore-for-release]\n  categories:\n    - title: Exciting New Features\n      labels: [enhancement]\n",
    );
    repo.commit("docs: release config");
    repo.annotated_tag("v1.1.0");

    let server = MockServer::start().await;
    let uri = server.uri();
    let prs = HashMap::from([
        (labelled.clone(), graphql_pr(12, &["enhancement"], "cy")),
        (excluded.clone(), {
            let mut pr = graphql_bot_pr(13, "dependabot");
            pr["labels"] = json!({"nodes": [{"name": "ignore-for-release"}]});
            pr
        }),
        // Titled as the commit: its breaking note says nothing more than the line itself.
        (breaking.clone(), {
            let mut pr = graphql_pr(14, &[], "cy");
            pr["title"] = json!("refactor!: drop the old flag");
            pr
        }),
    ]);
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(GraphqlFake::new(prs))
        .expect(2) // the pull requests, then whether the new login committed earlier
        .mount(&server)
        .await;
    answer(&server, "GET", "/repos/acme/app/releases/tags/v1.1.0", not_found()).await;
    answer(&server, "GET", "/repos/acme/app/releases", ResponseTemplate::new(200).set_body_json(json!([])))
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/releases"))
        .respond_with(ResponseTemplate::new(201).set_body_json(gh_release(&uri, 21, "v1.1.0", false, "x")))
        .expect(1)
        .mount(&server)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs");
    let path = repo.path.clone();
    let uri2 = uri.clone();
    let outputs2 = outputs.clone();
    let out = tokio::task::spawn_blocking(move || {
        common::notes_gen(&path)
            .env("GITHUB_TOKEN", "ghs_cli")
            .env("GITHUB_REPOSITORY", "acme/app")
            .env("GITHUB_API_URL", &uri2)
            .env("GITHUB_GRAPHQL_URL", format!("{uri2}/graphql"))
            .env("GITHUB_OUTPUT", &outputs2)
            .args(["--tag", "v1.1.0", "--publish"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("cli_with_pull_requests", md);
    assert!(!md.contains("ghs_cli"));
    let all = server.received_requests().await.unwrap();
    let create: Value = requests_to(&all, "POST", "/repos/acme/app/releases")[0].body_json().unwrap();
    assert_eq!(create["body"], md.as_str(), "the published body is the rendered notes");
    assert_eq!(create["make_latest"], "true");
    let outputs = std::fs::read_to_string(outputs).unwrap();
    assert!(outputs.contains("publish_action<<ghadelimiter_relkit_0\ncreated\n"), "{outputs}");
    assert!(outputs.contains("release_id<<ghadelimiter_relkit_0\n21\n"), "{outputs}");
}

/// First-timers by login: a person with a new e-mail whose account committed before is not new,
/// one person with two e-mails is one contributor, and the author of a pull request whose only
/// commit is someone else's is no contributor (and no first-timer) at all.
#[tokio::test(flavor = "multi_thread")]
async fn first_time_contributors_are_decided_by_login() {
    let mut repo = common::GitRepo::new();
    repo.commit("feat: base");
    repo.commit_as("fix: an old fix", "Dora Dev", "dora@old.example");
    repo.annotated_tag("v1.0.0");
    let dora = repo.commit_as("feat: dora again (#21)", "Dora Dev", "dora@new.example");
    let eve_home = repo.commit_as("feat: eve at home (#22)", "Eve Example", "eve@home.example");
    let eve_work = repo.commit_as(
        "fix: eve at work (#23)\n\nCo-authored-by: Frank <frank@example.org>",
        "Eve Example",
        "eve@work.example",
    );
    repo.annotated_tag("v1.1.0");

    let server = MockServer::start().await;
    let fake = GraphqlFake {
        prs: HashMap::from([
            (dora.clone(), graphql_pr(21, &[], "dora")),
            (eve_home.clone(), graphql_pr(22, &[], "eve")),
            (eve_work.clone(), graphql_pr(23, &[], "frank")),
        ]),
        authors: HashMap::from([
            (dora, "dora".to_string()),
            (eve_home, "eve".to_string()),
            (eve_work, "eve".to_string()),
        ]),
        earlier: vec!["U_dora".to_string()],
    };
    Mock::given(method("POST")).and(path("/graphql")).respond_with(fake).expect(2).mount(&server).await;
    let (uri, path) = (server.uri(), repo.path.clone());
    let out = tokio::task::spawn_blocking(move || {
        common::notes_gen(&path)
            .env("GITHUB_TOKEN", "ghs_cli")
            .env("GITHUB_REPOSITORY", "acme/app")
            .env("GITHUB_API_URL", &uri)
            .env("GITHUB_GRAPHQL_URL", format!("{uri}/graphql"))
            .args(["--tag", "v1.1.0", "--format", "json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let notes: Value = serde_json::from_slice(&out.stdout).unwrap();
    let people = |key: &str| -> Vec<(String, u64, bool)> {
        notes[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["login"].as_str().unwrap().to_string(),
                    c["commits"].as_u64().unwrap(),
                    c["first_time"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(people("contributors"), [("dora".into(), 1, false), ("eve".into(), 2, true)]);
    assert_eq!(people("first_time_contributors"), [("eve".into(), 2, true)]);
    assert_eq!(notes["first_time_contributors"][0]["first_pull_request"], 22);
    let all = server.received_requests().await.unwrap();
    let history: Value = all[1].body_json().unwrap();
    let asked: Vec<&str> = history["variables"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with('u'))
        .map(|(_, v)| v.as_str().unwrap())
        .collect();
    assert_eq!(asked, ["U_dora", "U_eve"], "only logins whose e-mails are all new locally are asked about");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_revokes_and_refuses_without_a_token() {
    let server = MockServer::start().await;
    let uri = server.uri();
    answer(
        &server,
        "GET",
        "/repos/acme/app/releases/tags/v1.4.0",
        ResponseTemplate::new(200).set_body_json(gh_release(&uri, 6, "v1.4.0", false, "notes")),
    )
    .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/app/releases/6"))
        .respond_with(ResponseTemplate::new(200).set_body_json(gh_release(&uri, 6, "v1.4.0", false, "r")))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (uri2, path2) = (uri.clone(), dir.path().to_path_buf());
    let (with_token, without_token) = tokio::task::spawn_blocking(move || {
        let run = |token: Option<&str>| {
            let mut cmd = common::notes_gen(&path2);
            cmd.env("GITHUB_REPOSITORY", "acme/app").env("GITHUB_API_URL", &uri2);
            if let Some(t) = token {
                cmd.env("GITHUB_TOKEN", t);
            }
            cmd.args(["revoke", "v1.4.0", "--reason", "broken"]).output().unwrap()
        };
        (run(Some("ghs_x")), run(None))
    })
    .await
    .unwrap();
    assert!(with_token.status.success(), "{}", String::from_utf8_lossy(&with_token.stderr));
    assert_eq!(without_token.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&without_token.stderr).contains("revoke needs a token"));
}

#[tokio::test]
async fn forgejo_pull_requests_come_from_the_commit_pull_endpoint() {
    let server = MockServer::start().await;
    let shas: Vec<String> = (0..3).map(|i| format!("{i:040x}")).collect();
    // Gitea's `PullRequest` for the second commit; the others have none (404).
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/repos/acme/app/commits/{}/pull", shas[1])))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 70, "number": 7, "title": "feat: faster index",
            "html_url": format!("{}/acme/app/pulls/7", server.uri()),
            "state": "closed", "merged": true, "merged_at": "2026-11-01T10:00:00Z",
            "user": {"id": 3, "login": "james", "full_name": ""},
            "labels": [{"id": 1, "name": "enhancement", "color": "00aabb"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(r"^/api/v1/repos/acme/app/commits/[0-9a-f]{40}/pull$"))
        .respond_with(not_found())
        .with_priority(10)
        .mount(&server)
        .await;
    let http = Http::new("Forgejo", Some("fj_secret".into()), AuthScheme::Token, policy()).unwrap();
    let api = ForgejoApi::new(http, &server.uri(), "acme", "app");
    let found = api.pull_requests(&shas).await.unwrap().expect("the endpoint answered");
    assert_eq!(found.len(), 1);
    assert_eq!(found[&shas[1]].number, 7);
    assert_eq!(found[&shas[1]].author.as_deref(), Some("james"));
    assert_eq!(found[&shas[1]].labels, ["enhancement"]);
    let none = api.pull_requests(&shas[..1]).await.unwrap();
    assert_eq!(none, None, "nothing but 404s: the caller says so");
    let all = server.received_requests().await.unwrap();
    assert!(all.iter().all(|r| r.headers.get("authorization").unwrap() == "token fj_secret"));
}

/// Commits `text` to `file` (no shared file, so branches merge cleanly) and returns the id.
fn commit_file(repo: &mut common::GitRepo, file: &str, text: &str, message: &str) -> String {
    repo.write(file, text);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", message]);
    repo.head()
}

/// A merge-commit repository: each pull request is one line with its title (its "wip" and
/// "address review" commits grouped under it), merges are not lines, a direct push stays.
#[tokio::test(flavor = "multi_thread")]
async fn merge_commit_pull_requests_are_one_line_each_with_their_title() {
    let mut repo = common::GitRepo::new();
    repo.commit("feat: base");
    repo.annotated_tag("v1.0.0");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    let feature = [
        commit_file(&mut repo, "api.rs", "1", "feat(api): first cut of the endpoint"),
        commit_file(&mut repo, "api.rs", "2", "wip"),
        commit_file(&mut repo, "api.rs", "3", "address review"),
    ];
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "Merge pull request #31 from acme/feature", "feature"]);
    repo.git(&["checkout", "-q", "-b", "parser"]);
    let parser = [
        commit_file(&mut repo, "parser.rs", "1", "fix: parser crash on empty input"),
        commit_file(&mut repo, "parser.rs", "2", "fix typo"),
    ];
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "Merge pull request #32 from acme/parser", "parser"]);
    repo.commit("docs: a direct push");
    repo.annotated_tag("v1.1.0");

    let server = MockServer::start().await;
    let mut titled_31 = graphql_pr(31, &[], "ann");
    titled_31["title"] = json!("New endpoint for recipes");
    let mut titled_32 = graphql_pr(32, &[], "ann");
    titled_32["title"] = json!("fix(parser): crash on empty input");
    let mut prs = HashMap::new();
    for sha in &feature {
        prs.insert(sha.clone(), titled_31.clone());
    }
    for sha in &parser {
        prs.insert(sha.clone(), titled_32.clone());
    }
    answer(&server, "POST", "/graphql", GraphqlFake::new(prs)).await;
    let (uri, path) = (server.uri(), repo.path.clone());
    let out = tokio::task::spawn_blocking(move || {
        common::notes_gen(&path)
            .env("GITHUB_TOKEN", "ghs_cli")
            .env("GITHUB_REPOSITORY", "acme/app")
            .env("GITHUB_API_URL", &uri)
            .env("GITHUB_GRAPHQL_URL", format!("{uri}/graphql"))
            .args(["--tag", "v1.1.0"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = String::from_utf8(out.stdout).unwrap();
    let features = md.split("## Features").nth(1).unwrap().split("##").next().unwrap();
    assert_eq!(
        features.trim(),
        "- **api:** New endpoint for recipes ([#31](https://github.com/acme/app/pull/31) by @ann)",
        "{md}"
    );
    let fixes = md.split("## Bug fixes").nth(1).unwrap().split("##").next().unwrap();
    assert_eq!(
        fixes.trim(),
        "- **parser:** crash on empty input ([#32](https://github.com/acme/app/pull/32) by @ann)",
        "{md}"
    );
    assert!(md.contains("- a direct push ("), "{md}");
    for gone in ["wip", "address review", "fix typo", "first cut", "Merge pull request"] {
        assert!(!md.contains(gone), "{gone:?} is not a line of its own:\n{md}");
    }
    // The merge commits themselves are not looked up: only the 6 commits of the branches and
    // the direct push.
    let all = server.received_requests().await.unwrap();
    let query: Value = all[0].body_json().unwrap();
    assert_eq!(query["query"].as_str().unwrap().matches(": object(oid:").count(), 6);
}

/// The release on the fake: GET by tag answers the current state, PATCH merges its fields in.
#[derive(Clone)]
struct ReleaseState(std::sync::Arc<std::sync::Mutex<Value>>);

impl Respond for ReleaseState {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        if request.method.as_str() == "PATCH" {
            let fields: Value = request.body_json().unwrap();
            for (k, v) in fields.as_object().unwrap() {
                if k != "make_latest" {
                    state[k] = v.clone();
                }
            }
        }
        ResponseTemplate::new(200).set_body_json(state.clone())
    }
}

/// `notes-gen revoke`, then the publish step again: the release stays revoked (notice on top of
/// the new notes, a prerelease, not latest); `--unrevoke` lifts it. Asserted on the requests.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_keeps_a_revoked_release_revoked_until_unrevoke() {
    let mut repo = common::GitRepo::new();
    repo.commit("feat: base");
    repo.annotated_tag("v1.0.0");
    repo.commit("feat: the new thing");
    repo.annotated_tag("v1.1.0");

    let server = MockServer::start().await;
    let uri = server.uri();
    let state = ReleaseState(std::sync::Arc::new(std::sync::Mutex::new(gh_release(
        &uri,
        21,
        "v1.1.0",
        false,
        "first notes",
    ))));
    answer(&server, "GET", "/repos/acme/app/releases/tags/v1.1.0", state.clone()).await;
    answer(&server, "PATCH", "/repos/acme/app/releases/21", state).await;
    let (uri2, path) = (uri.clone(), repo.path.clone());
    let runs = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str]| {
            common::notes_gen(&path)
                .env("GITHUB_TOKEN", "ghs_cli")
                .env("GITHUB_REPOSITORY", "acme/app")
                .env("GITHUB_API_URL", &uri2)
                .args(args)
                .output()
                .unwrap()
        };
        [
            run(&["revoke", "v1.1.0", "--reason", "data loss in the migration"]),
            run(&["--tag", "v1.1.0", "--publish", "--pull-requests", "false"]),
            run(&["--tag", "v1.1.0", "--publish", "--pull-requests", "false", "--unrevoke"]),
        ]
    })
    .await
    .unwrap();
    for out in &runs {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let all = server.received_requests().await.unwrap();
    let patches: Vec<Value> = requests_to(&all, "PATCH", "/repos/acme/app/releases/21")
        .iter()
        .map(|r| r.body_json().unwrap())
        .collect();
    assert_eq!(patches.len(), 3);
    let notice = "<!-- relkit:revoked -->\n> [!CAUTION]\n> **v1.1.0 is revoked and must not be used.** Reason: data loss in the migration\n<!-- /relkit:revoked -->";
    let (revoked, republished, unrevoked) = (&patches[0], &patches[1], &patches[2]);
    assert!(revoked["body"].as_str().unwrap().starts_with(notice), "{revoked}");
    assert!(revoked["body"].as_str().unwrap().ends_with("first notes"), "{revoked}");
    assert_eq!((&revoked["prerelease"], &revoked["make_latest"]), (&json!(true), &json!("false")));

    let notes = String::from_utf8(runs[1].stdout.clone()).unwrap();
    assert!(notes.contains("the new thing"), "{notes}");
    assert_eq!(
        republished["body"],
        format!("{notice}\n\n{notes}"),
        "the notice stays on top of the new notes"
    );
    assert_eq!((&republished["prerelease"], &republished["make_latest"]), (&json!(true), &json!("false")));

    assert_eq!(unrevoked["body"], notes.as_str(), "--unrevoke publishes the notes alone");
    assert_eq!((&unrevoked["prerelease"], &unrevoked["make_latest"]), (&json!(false), &json!("true")));
}

/// An upload endpoint on a plain TCP socket: it reads each request whole, then drops the first
/// `drop_first` connections without a word and answers the next ones with `asset`. Returns the
/// base URL and the number of requests read.
fn dropping_upload_server(
    drop_first: usize,
    asset: Value,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n < drop_first {
                drop(stream); // the connection drops: no status line, nothing
                continue;
            }
            let json = asset.to_string();
            write!(
                stream,
                "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
                json.len()
            )
            .unwrap();
        }
    });
    (base, count)
}

/// A dropped connection during an upload: the asset list shows nothing under the temporary
/// name, so the file is sent again on a new connection, then swapped in.
#[tokio::test]
async fn an_upload_whose_connection_drops_is_sent_again_when_nothing_was_stored() {
    let server = MockServer::start().await;
    let uri = server.uri();
    let temp = "app.tar.gz.relkit-upload";
    let (upload_base, uploads) = dropping_upload_server(1, gh_asset(&uri, 78, temp));
    let mut release = gh_release(&uri, 1, "v1.2.0", false, "x");
    release["upload_url"] =
        json!(format!("{upload_base}/uploads/repos/acme/app/releases/1/assets{{?name,label}}"));
    answer(
        &server,
        "GET",
        "/repos/acme/app/releases/tags/v1.2.0",
        ResponseTemplate::new(200).set_body_json(release.clone()),
    )
    .await;
    answer(&server, "PATCH", "/repos/acme/app/releases/1", ResponseTemplate::new(200).set_body_json(release))
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases/1/assets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(2) // before the upload, and after the dropped connection
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/app/releases/assets/78"))
        .respond_with(ResponseTemplate::new(200).set_body_json(gh_asset(&uri, 78, "app.tar.gz")))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let asset = dir.path().join("app.tar.gz");
    std::fs::write(&asset, b"binary").unwrap();
    let outcome =
        publish(&github(&server), &request("v1.2.0", vec![(asset, "app.tar.gz".into())])).await.unwrap();
    assert_eq!(outcome.uploaded, ["app.tar.gz"]);
    assert_eq!(uploads.load(std::sync::atomic::Ordering::SeqCst), 2, "sent again once");
}
