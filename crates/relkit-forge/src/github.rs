//! GitHub REST v3 releases and the commit → pull request lookup (GraphQL first, REST fallback).
//!
//! Endpoints used (shapes as documented at docs.github.com/rest/releases and /graphql):
//! - `GET /repos/{o}/{r}/releases/tags/{tag}`: published releases only, so a 404 is followed by
//!   `GET /repos/{o}/{r}/releases?per_page=100` (paged by `Link`) to find a draft for the tag.
//! - `POST /repos/{o}/{r}/releases`, `PATCH /repos/{o}/{r}/releases/{id}`.
//! - `GET /repos/{o}/{r}/releases/{id}/assets?per_page=100`, `DELETE /repos/{o}/{r}/releases/assets/{id}`,
//!   `POST {upload_url}?name=…` with the file streamed and an explicit `Content-Length`.
//! - `POST /graphql`: `associatedPullRequests` for up to 100 commits per query (one alias each).
//! - `GET /repos/{o}/{r}/commits/{sha}/pulls`: the fallback, one request per commit of the range.

use std::collections::{BTreeMap, BTreeSet};

use relkit_core::{Error, Result};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::RemoteRelease;
use super::http::{Http, Payload, Replay};
use super::path_segment;

/// Commits per GraphQL query (GitHub's node limits allow far more; 100 keeps answers small).
pub const GRAPHQL_BATCH: usize = 100;

/// What the pull-request lookup found, per commit id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullLookup {
    /// The merged pull request each commit belongs to.
    pub pulls: BTreeMap<String, PullRequest>,
    /// The GitHub login of each commit's own author (GraphQL only), so that a co-author's
    /// commit is credited to them, not to the pull request's author.
    pub authors: BTreeMap<String, String>,
    /// The GraphQL node id of each of those logins, for [`GithubApi::users_with_commits_before`].
    pub user_ids: BTreeMap<String, String>,
}

/// A GitHub repository's API.
#[derive(Debug, Clone)]
pub struct GithubApi {
    http: Http,
    api_url: String,
    graphql_url: String,
    owner: String,
    repo: String,
}

/// A merged pull request, as the notes show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PullRequest {
    /// The PR number.
    pub number: u64,
    /// The title.
    pub title: String,
    /// The PR page.
    pub url: String,
    /// The author's login.
    pub author: Option<String>,
    /// Label names.
    pub labels: Vec<String>,
}

impl GithubApi {
    /// A client for `owner/repo` at `api_url` (e.g. `https://api.github.com`) and `graphql_url`.
    pub fn new(http: Http, api_url: &str, graphql_url: &str, owner: &str, repo: &str) -> Self {
        Self {
            http: http
                .with_header("accept", "application/vnd.github+json")
                .with_header("x-github-api-version", "2022-11-28"),
            api_url: api_url.trim_end_matches('/').to_string(),
            graphql_url: graphql_url.to_string(),
            owner: owner.to_string(),
            repo: repo.to_string(),
        }
    }

    /// True when a token was given (needed for publishing; PR lookups are skipped without one).
    pub fn has_token(&self) -> bool {
        self.http.has_token()
    }

    /// The retry limits of this client.
    pub fn policy(&self) -> super::http::RetryPolicy {
        self.http.policy()
    }

    fn repo_url(&self) -> String {
        format!("{}/repos/{}/{}", self.api_url, path_segment(&self.owner), path_segment(&self.repo))
    }

    /// Merged pull requests of each commit, with batched GraphQL queries; falls back to one REST
    /// call per commit when GraphQL is not available.
    pub async fn pull_requests(&self, shas: &[String]) -> Result<PullLookup> {
        match self.pull_requests_graphql(shas).await {
            Ok(found) => Ok(found),
            Err(e) => {
                eprintln!("notes-gen: GraphQL lookup of pull requests failed ({e}); falling back to REST");
                Ok(PullLookup { pulls: self.pull_requests_rest(shas).await?, ..PullLookup::default() })
            }
        }
    }

    async fn pull_requests_graphql(&self, shas: &[String]) -> Result<PullLookup> {
        let mut found = PullLookup::default();
        for batch in shas.chunks(GRAPHQL_BATCH) {
            let query = associated_prs_query(batch)?;
            let body = json!({"query": query, "variables": {"owner": self.owner, "name": self.repo}});
            let reply =
                self.http.send(Method::POST, &self.graphql_url, Payload::Json(&body), Replay::Safe).await?;
            if !reply.status.is_success() {
                return Err(self.http.unexpected(&reply, "GraphQL query"));
            }
            let answer: GraphqlAnswer = reply.json("GraphQL")?;
            let repository = match (answer.data.and_then(|d| d.repository), answer.errors) {
                (Some(r), _) => r,
                (None, Some(errors)) => {
                    let first = errors.first().map(|e| e.message.clone()).unwrap_or_default();
                    return Err(Error::failed(format!("GraphQL error: {first}")));
                }
                (None, None) => return Err(Error::failed("GraphQL answer has no data".to_string())),
            };
            for (i, sha) in batch.iter().enumerate() {
                let Some(Some(commit)) = repository.get(&format!("c{i}")) else { continue };
                if let Some(pr) = commit.associated_pull_requests.nodes.iter().find(|p| p.merged_at.is_some())
                {
                    found.pulls.insert(sha.clone(), pr.to_pull_request());
                }
                if let Some(user) = commit.author.as_ref().and_then(|a| a.user.as_ref()) {
                    found.authors.insert(sha.clone(), user.login.clone());
                    if let Some(id) = &user.id {
                        found.user_ids.insert(user.login.clone(), id.clone());
                    }
                }
            }
        }
        Ok(found)
    }

    /// Which of `users` (login → GraphQL node id) authored a commit in the history of
    /// `commit`, as GitHub sees it: a commit counts for an account under any of its verified
    /// e-mails, so a person with several e-mails is one contributor. One query per 100 users.
    pub async fn users_with_commits_before(
        &self,
        commit: &str,
        users: &BTreeMap<String, String>,
    ) -> Result<BTreeSet<String>> {
        let mut seen = BTreeSet::new();
        let users: Vec<(&String, &String)> = users.iter().collect();
        for batch in users.chunks(GRAPHQL_BATCH) {
            let mut variables = serde_json::Map::new();
            variables.insert("owner".into(), self.owner.clone().into());
            variables.insert("name".into(), self.repo.clone().into());
            variables.insert("oid".into(), commit.into());
            for (i, (_, id)) in batch.iter().enumerate() {
                variables.insert(format!("u{i}"), id.as_str().into());
            }
            let body = json!({"query": earlier_commits_query(batch.len()), "variables": variables});
            let reply =
                self.http.send(Method::POST, &self.graphql_url, Payload::Json(&body), Replay::Safe).await?;
            if !reply.status.is_success() {
                return Err(self.http.unexpected(&reply, "GraphQL query"));
            }
            let answer: HistoryAnswer = reply.json("GraphQL")?;
            let Some(history) = answer.data.and_then(|d| d.repository).and_then(|r| r.object) else {
                let first = answer.errors.and_then(|e| e.into_iter().next()).map(|e| e.message);
                return Err(Error::failed(format!(
                    "GraphQL error: {}",
                    first.unwrap_or_else(|| format!("commit {commit} not found"))
                )));
            };
            for (i, (login, _)) in batch.iter().enumerate() {
                if history.get(&format!("u{i}")).is_some_and(|h| !h.nodes.is_empty()) {
                    seen.insert((*login).clone());
                }
            }
        }
        Ok(seen)
    }

    async fn pull_requests_rest(&self, shas: &[String]) -> Result<BTreeMap<String, PullRequest>> {
        let mut found = BTreeMap::new();
        for sha in shas {
            let url = format!("{}/commits/{sha}/pulls?per_page=100", self.repo_url());
            let reply = self.http.send(Method::GET, &url, Payload::Empty, Replay::Safe).await?;
            if reply.status == StatusCode::NOT_FOUND || reply.status == StatusCode::UNPROCESSABLE_ENTITY {
                continue; // the commit is not on GitHub (not pushed yet)
            }
            if !reply.status.is_success() {
                return Err(self.http.unexpected(&reply, "list pull requests of a commit"));
            }
            let prs: Vec<RestPull> = reply.json("list pull requests of a commit")?;
            if let Some(pr) = prs.into_iter().find(|p| p.merged_at.is_some()) {
                found.insert(sha.clone(), pr.into_pull_request());
            }
        }
        Ok(found)
    }
}

impl crate::releases::Dialect for GithubApi {
    fn http(&self) -> &Http {
        &self.http
    }

    fn repo_url(&self) -> String {
        GithubApi::repo_url(self)
    }

    fn drafts_url(&self) -> String {
        format!("{}/releases?per_page=100", self.repo_url())
    }

    fn asset_url(&self, _: &RemoteRelease, asset_id: u64) -> String {
        format!("{}/releases/assets/{asset_id}", self.repo_url())
    }

    /// The release's `upload_url` template without its `{?name,label}` part.
    fn upload_base(&self, release: &RemoteRelease) -> Result<String> {
        let template = release
            .upload_url
            .as_deref()
            .ok_or_else(|| Error::failed(format!("GitHub release {} has no upload_url", release.tag_name)))?;
        Ok(template.split('{').next().unwrap_or(template).to_string())
    }

    fn already_exists(&self, status: StatusCode, body: &str) -> bool {
        status == StatusCode::UNPROCESSABLE_ENTITY && body.contains("already_exists")
    }

    fn has_make_latest(&self) -> bool {
        true
    }
}

/// The GraphQL query for one batch: one `object(oid:)` alias per commit.
pub fn associated_prs_query(shas: &[String]) -> Result<String> {
    let mut q = String::from(
        "query($owner: String!, $name: String!) {\n  repository(owner: $owner, name: $name) {\n",
    );
    for (i, sha) in shas.iter().enumerate() {
        if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::failed(format!("not a full commit id: {sha:?}")));
        }
        q.push_str(&format!(
            "    c{i}: object(oid: \"{sha}\") {{ ... on Commit {{ author {{ user {{ login id }} }} \
             associatedPullRequests(first: 5) {{ nodes {{ number title url mergedAt \
             author {{ __typename login }} labels(first: 50) {{ nodes {{ name }} }} }} }} }} }}\n"
        ));
    }
    q.push_str("  }\n}\n");
    Ok(q)
}

/// The GraphQL query asking, for `users` node ids `$u0…`, for one commit of each in the history
/// of `$oid` (`Commit.history(author: {id})`). The ids travel as variables, never in the text.
pub fn earlier_commits_query(users: usize) -> String {
    let mut q = String::from("query($owner: String!, $name: String!, $oid: GitObjectID!");
    for i in 0..users {
        q.push_str(&format!(", $u{i}: ID!"));
    }
    q.push_str(
        ") {\n  repository(owner: $owner, name: $name) {\n    object(oid: $oid) {\n      ... on Commit {\n",
    );
    for i in 0..users {
        q.push_str(&format!(
            "        u{i}: history(first: 1, author: {{id: $u{i}}}) {{ nodes {{ oid }} }}\n"
        ));
    }
    q.push_str("      }\n    }\n  }\n}\n");
    q
}

#[derive(Deserialize)]
struct HistoryAnswer {
    data: Option<HistoryData>,
    errors: Option<Vec<GraphqlError>>,
}

#[derive(Deserialize)]
struct HistoryData {
    repository: Option<HistoryRepository>,
}

#[derive(Deserialize)]
struct HistoryRepository {
    object: Option<BTreeMap<String, Connection<serde::de::IgnoredAny>>>,
}

#[derive(Deserialize)]
struct GraphqlAnswer {
    data: Option<GraphqlData>,
    errors: Option<Vec<GraphqlError>>,
}

#[derive(Deserialize)]
struct GraphqlData {
    repository: Option<BTreeMap<String, Option<GraphqlCommit>>>,
}

#[derive(Deserialize)]
struct GraphqlError {
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphqlCommit {
    author: Option<GitActor>,
    associated_pull_requests: Connection<GraphqlPull>,
}

/// A commit's `author` (a `GitActor`), linked to a GitHub user when the e-mail is known.
#[derive(Deserialize)]
struct GitActor {
    user: Option<User>,
}

/// A `User`: login and GraphQL node id.
#[derive(Deserialize)]
struct User {
    login: String,
    id: Option<String>,
}

#[derive(Deserialize)]
struct Connection<T> {
    nodes: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphqlPull {
    number: u64,
    title: String,
    url: String,
    merged_at: Option<String>,
    author: Option<Login>,
    labels: Option<Connection<Named>>,
}

#[derive(Deserialize)]
struct Login {
    login: String,
    /// GraphQL's `__typename` of an `Actor`: `Bot` logins are shown as GitHub shows them
    /// elsewhere (`dependabot[bot]`), which is what `.github/release.yml` exclusions name.
    #[serde(rename = "__typename")]
    typename: Option<String>,
}

impl Login {
    fn display(&self) -> String {
        if self.typename.as_deref() == Some("Bot") && !self.login.ends_with("[bot]") {
            format!("{}[bot]", self.login)
        } else {
            self.login.clone()
        }
    }
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

impl GraphqlPull {
    fn to_pull_request(&self) -> PullRequest {
        PullRequest {
            number: self.number,
            title: self.title.clone(),
            url: self.url.clone(),
            author: self.author.as_ref().map(Login::display),
            labels: self
                .labels
                .as_ref()
                .map(|l| l.nodes.iter().map(|n| n.name.clone()).collect())
                .unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
struct RestPull {
    number: u64,
    title: String,
    html_url: String,
    merged_at: Option<String>,
    user: Option<Login>,
    #[serde(default)]
    labels: Vec<Named>,
}

impl RestPull {
    fn into_pull_request(self) -> PullRequest {
        PullRequest {
            number: self.number,
            title: self.title,
            url: self.html_url,
            author: self.user.map(|u| u.login),
            labels: self.labels.into_iter().map(|l| l.name).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_has_one_alias_per_commit_and_rejects_non_ids() {
        let shas = vec!["a".repeat(40), "b".repeat(40)];
        let q = associated_prs_query(&shas).unwrap();
        assert!(q.contains(&format!("c0: object(oid: \"{}\")", "a".repeat(40))));
        assert!(q.contains(&format!("c1: object(oid: \"{}\")", "b".repeat(40))));
        assert!(associated_prs_query(&["\") { evil }".to_string()]).is_err());
    }
}
