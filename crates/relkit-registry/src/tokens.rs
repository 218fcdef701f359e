//! Bearer tokens for one registry: one token per scope set, asked once for the widest scope the
//! running operation declared (a promote: `pull,push` on the destination and `pull` on the
//! mount source), reused by every request it covers until it expires, and fetched again once
//! (not once per request) when the registry refuses it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// Actions per repository, e.g. `{"acme/app": {"pull", "push"}}`.
pub(crate) type Scopes = BTreeMap<String, BTreeSet<String>>;

/// Scopes of one repository.
pub(crate) fn scopes(repo: &str, actions: &[&str]) -> Scopes {
    BTreeMap::from([(repo.to_string(), actions.iter().map(|a| a.to_string()).collect())])
}

/// True when `have` grants everything `need` asks for.
pub(crate) fn covers(have: &Scopes, need: &Scopes) -> bool {
    need.iter().all(|(repo, actions)| have.get(repo).is_some_and(|h| actions.is_subset(h)))
}

fn merge(into: &mut Scopes, more: &Scopes) {
    for (repo, actions) in more {
        into.entry(repo.clone()).or_default().extend(actions.iter().cloned());
    }
}

/// The `scope` parameters of a token request: `repository:acme/app:pull,push`.
pub(crate) fn scope_params(scopes: &Scopes) -> Vec<String> {
    scopes
        .iter()
        .map(|(repo, actions)| {
            // pull before push before delete, as registries and docker spell it.
            let mut actions: Vec<&str> = actions.iter().map(String::as_str).collect();
            actions.sort_by_key(|a| match *a {
                "pull" => 0,
                "push" => 1,
                _ => 2,
            });
            format!("repository:{repo}:{}", actions.join(","))
        })
        .collect()
}

/// A token answer: the `Authorization` value (none: the realm granted anonymous access) and
/// when to stop using it.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub header: Option<String>,
    pub expires: Instant,
}

impl Token {
    /// A token valid for `expires_in` seconds (the token spec's default is 60), used until
    /// shortly before it ends so that a long request does not outlive it.
    pub fn new(header: Option<String>, expires_in: Option<u64>) -> Self {
        let lifetime = Duration::from_secs(expires_in.filter(|s| *s > 0).unwrap_or(60));
        let margin = (lifetime / 10).min(Duration::from_secs(30));
        Self { header, expires: Instant::now() + lifetime - margin }
    }

    fn usable(&self, failed: Option<&str>) -> bool {
        Instant::now() < self.expires && (failed.is_none() || self.header.as_deref() != failed)
    }
}

type Cell = Arc<OnceCell<Token>>;

/// The tokens of one registry.
#[derive(Default)]
pub(crate) struct TokenCache {
    entries: Mutex<Vec<(Scopes, Cell)>>,
    planned: Mutex<Scopes>,
}

impl TokenCache {
    /// Declares what the running operation will need, so the first token asked for covers it.
    pub fn plan(&self, more: &Scopes) {
        merge(&mut self.planned.lock().expect("token plan lock"), more);
    }

    /// The scopes to ask for when `need` is needed: widened to the plan when the plan touches
    /// one of its repositories.
    fn wanted(&self, need: &Scopes) -> Scopes {
        let planned = self.planned.lock().expect("token plan lock");
        let mut wanted = need.clone();
        if need.keys().any(|repo| planned.contains_key(repo)) {
            merge(&mut wanted, &planned);
        }
        wanted
    }

    /// The cell holding (or about to hold) a token for `need`: a cached one that covers it, is
    /// unexpired and is not the one the registry just refused (`failed`); else a new cell for
    /// the widened scopes. Concurrent callers refused the same token share one new cell, so
    /// the token is fetched once.
    pub fn cell(&self, need: &Scopes, failed: Option<&str>) -> (Scopes, Cell) {
        let mut entries = self.entries.lock().expect("token cache lock");
        entries.retain(|(_, cell)| cell.get().is_none_or(|t| t.usable(failed)));
        if let Some((scopes, cell)) = entries.iter().find(|(scopes, _)| covers(scopes, need)) {
            return (scopes.clone(), cell.clone());
        }
        let scopes = self.wanted(need);
        let cell = Cell::default();
        entries.push((scopes.clone(), cell.clone()));
        (scopes, cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_planned_scope_is_asked_once_and_covers_every_request() {
        let cache = TokenCache::default();
        cache.plan(&scopes("dst", &["pull", "push"]));
        cache.plan(&scopes("src", &["pull"]));
        let (asked, cell) = cache.cell(&scopes("src", &["pull"]), None);
        assert_eq!(scope_params(&asked), ["repository:dst:pull,push", "repository:src:pull"]);
        cell.set(Token::new(Some("Bearer a".into()), Some(300))).unwrap();
        for need in [scopes("dst", &["pull"]), scopes("dst", &["push", "pull"])] {
            let (_, same) = cache.cell(&need, None);
            assert!(Arc::ptr_eq(&cell, &same));
        }
        // Another repository gets its own token; a refused token is replaced once.
        let (other, _) = cache.cell(&scopes("else", &["pull"]), None);
        assert_eq!(scope_params(&other), ["repository:else:pull"]);
        let (_, fresh) = cache.cell(&scopes("dst", &["pull"]), Some("Bearer a"));
        assert!(!Arc::ptr_eq(&cell, &fresh));
        let (_, shared) = cache.cell(&scopes("dst", &["pull"]), Some("Bearer a"));
        assert!(Arc::ptr_eq(&fresh, &shared), "a second refusal of the same token refetches again");
    }

    #[test]
    fn expired_tokens_are_not_reused() {
        let cache = TokenCache::default();
        let (_, cell) = cache.cell(&scopes("a", &["pull"]), None);
        cell.set(Token { header: Some("Bearer old".into()), expires: Instant::now() }).unwrap();
        let (_, next) = cache.cell(&scopes("a", &["pull"]), None);
        assert!(!Arc::ptr_eq(&cell, &next));
        assert!(Token::new(None, Some(300)).expires > Instant::now() + Duration::from_secs(269));
    }
}
