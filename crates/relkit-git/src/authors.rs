//! Who committed before a range: the walk behind "made their first contribution".
//!
//! Git keeps no index of authors, so when someone in the range is new the whole older history
//! is read. Two threads share that. One walks from the range's base. The other walks down from
//! release tags further down (seeds the caller guesses: the middle of the older history first,
//! then the middles of its halves, and so on), taking the next seed when it is done below the
//! previous one; the first thread takes seeds too once the base's own walk is done, so that
//! neither waits while the other still has a long stretch to read. Each commit is claimed by
//! the first walk to reach it and read once. The guesses are never trusted: a seed walk's
//! commits count only where the base's walk reaches them, so a seed off the base's history (a
//! maintenance branch) changes the speed, never the answer.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::prelude::FindExt as _;

use crate::commit_heads::{CommitHeads, Packs};
use crate::{Repo, Result, git_error, parse_id};

/// Which walk claimed a commit: the base's (whose authors count) or a seed's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Walker {
    Base,
    Seed,
}

/// What the two threads share: who claimed each commit, and the seeds not taken yet.
struct Shared {
    claims: gix::hashtable::HashMap<ObjectId, Walker>,
    seeds: VecDeque<ObjectId>,
}

impl Shared {
    /// The next seed no walk has claimed, now claimed for a seed walk.
    fn take_seed(&mut self) -> Option<ObjectId> {
        while let Some(seed) = self.seeds.pop_front() {
            if !self.claims.contains_key(&seed) {
                self.claims.insert(seed, Walker::Seed);
                return Some(seed);
            }
        }
        None
    }
}

/// Whether the walk goes on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Not known yet: keep reading.
    Open,
    /// Every wanted author was seen by the base's walk: that is the answer.
    AllSeen,
    /// The wanted authors never came (the caller gave up).
    Abandoned,
}

/// The base's walk: the wanted authors once they arrive, what it has seen, where it met seed walks.
struct BaseWalk<'w> {
    wanted: &'w Receiver<BTreeSet<String>>,
    /// Once the wanted authors are known: them, and those not seen yet.
    missing: Option<(BTreeSet<String>, HashSet<String>)>,
    seen: HashSet<String>,
    /// Commits it reached that a seed walk had claimed.
    contacts: Vec<ObjectId>,
}

impl<'w> BaseWalk<'w> {
    fn new(wanted: &'w Receiver<BTreeSet<String>>) -> Self {
        BaseWalk { wanted, missing: None, seen: HashSet::new(), contacts: Vec::new() }
    }

    /// Takes the wanted authors if they have arrived (waiting for them when `wait`), and says
    /// whether the walk can stop.
    fn verdict(&mut self, wait: bool) -> Verdict {
        if self.missing.is_none() {
            let received = if wait {
                self.wanted.recv().map_err(|_| TryRecvError::Disconnected)
            } else {
                self.wanted.try_recv()
            };
            match received {
                Ok(wanted) => {
                    let still =
                        wanted.iter().filter(|author| !self.seen.contains(*author)).cloned().collect();
                    self.missing = Some((wanted, still));
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => return Verdict::Abandoned,
            }
        }
        match &self.missing {
            Some((_, still)) if still.is_empty() => Verdict::AllSeen,
            _ => Verdict::Open,
        }
    }

    /// Counts a commit's author: as such, and its e-mail alone.
    fn saw(&mut self, author: &str) {
        let email = crate::email_of_author_key(author);
        if let Some((_, still)) = &mut self.missing {
            still.remove(author);
            still.remove(email);
        }
        if !self.seen.contains(author) {
            self.seen.insert(author.to_string());
            self.seen.insert(email.to_string());
        }
    }
}

/// What one thread's seed walks read: each commit's parents and author, kept compact (a
/// large history holds hundreds of thousands of commits and a few thousand authors).
#[derive(Default)]
struct SeedWalk {
    /// Per commit: where its parents start in `parents`, how many, and its author's index.
    commits: gix::hashtable::HashMap<ObjectId, (u32, u32, u32)>,
    parents: Vec<ObjectId>,
    authors: Vec<String>,
    author_index: std::collections::HashMap<String, u32>,
}

impl SeedWalk {
    fn record(&mut self, id: ObjectId, parents: &[ObjectId], author_key: &str) {
        let author = match self.author_index.get(author_key) {
            Some(&index) => index,
            None => {
                let index = self.authors.len() as u32;
                self.authors.push(author_key.to_string());
                self.author_index.insert(author_key.to_string(), index);
                index
            }
        };
        let start = self.parents.len() as u32;
        self.parents.extend_from_slice(parents);
        self.commits.insert(id, (start, parents.len() as u32, author));
    }

    /// The parents and author (an index into `authors`) of a commit this walk read.
    fn get(&self, id: &ObjectId) -> Option<(&[ObjectId], u32)> {
        let (start, count, author) = *self.commits.get(id)?;
        Some((&self.parents[start as usize..(start + count) as usize], author))
    }
}

impl Repo {
    /// Which of the wanted authors (each as [`crate::author_key`] spells it, or an e-mail alone
    /// as [`crate::email_key`] does) authored a commit reachable from `tip`. The walk starts at once, on the caller's thread, and the authors
    /// arrive on `wanted` when the caller knows them (the authors of a range it is still
    /// reading); until then it remembers every author it passes. It stops as soon as every
    /// wanted author was seen,
    /// so it reads the whole history only when someone is new. Given `seeds` (commits expected in
    /// `tip`'s history, such as older releases, in the order to start from them), a second
    /// thread reads the history below them meanwhile, and the caller's thread takes the seeds
    /// left once it is done from `tip`, so that a whole read takes about half as long on two
    /// cores. Each commit is read once, and only up to its author line. A closed channel ends
    /// the walk with nothing found.
    pub fn authors_seen(
        &self,
        tip: &str,
        seeds: &[String],
        wanted: Receiver<BTreeSet<String>>,
    ) -> Result<BTreeSet<String>> {
        let tip = parse_id(tip)?;
        let seeds: VecDeque<ObjectId> = seeds.iter().map(|seed| parse_id(seed)).collect::<Result<_>>()?;
        let has_seeds = !seeds.is_empty();
        let shared = Mutex::new(Shared { claims: std::iter::once((tip, Walker::Base)).collect(), seeds });
        let stop = AtomicBool::new(false);
        let packs = Packs::open(self.repo.objects.store_ref().path(), self.repo.object_hash());
        std::thread::scope(|scope| {
            let seed_thread = has_seeds.then(|| {
                let (repo, packs, shared, stop) = (self.handle(), &packs, &shared, &stop);
                scope.spawn(move || {
                    repo.walk_from_seeds(&mut HeadReader::new(&repo, packs), shared, &mut || {
                        stop.load(Ordering::Relaxed)
                    })
                })
            });
            let mut reader = HeadReader::new(self, &packs);
            let mut base = BaseWalk::new(&wanted);
            let walked = self.walk_from_base(tip, &mut reader, &shared, &mut base);
            // Done from the tip: the seeds left, while the wanted authors may still arrive.
            let own = match walked {
                Ok(Verdict::Open) => Some(
                    self.walk_from_seeds(&mut reader, &shared, &mut || base.verdict(false) != Verdict::Open),
                ),
                _ => None,
            };
            let verdict = match walked {
                Ok(Verdict::Open) => base.verdict(true),
                Ok(verdict) => verdict,
                Err(_) => Verdict::Abandoned,
            };
            if verdict != Verdict::Open {
                stop.store(true, Ordering::Relaxed);
            }
            let other = seed_thread.map(|thread| thread.join().expect("the seed walker does not panic"));
            walked?;
            let Some((wanted, _)) = base.missing.take() else { return Ok(BTreeSet::new()) };
            if verdict != Verdict::Open {
                // All seen early (the answer), or abandoned (nothing: `missing` stays unset).
                return Ok(wanted);
            }
            // Only now does the answer depend on the seed walks, and on their errors.
            let walks: Vec<SeedWalk> = own.into_iter().chain(other).collect::<Result<_>>()?;
            let below = authors_below(&walks, &base.contacts);
            Ok(wanted
                .into_iter()
                .filter(|author| base.seen.contains(author) || below.contains(author.as_str()))
                .collect())
        })
    }

    /// The walk from the range's base: every commit it reaches that no seed walk claimed first.
    /// Ends when there is nothing left to read from the tip, or with the verdict that stops it.
    fn walk_from_base(
        &self,
        tip: ObjectId,
        reader: &mut HeadReader<'_>,
        shared: &Mutex<Shared>,
        base: &mut BaseWalk<'_>,
    ) -> Result<Verdict> {
        let mut queue = VecDeque::from([tip]);
        let mut parents = Vec::new();
        while let Some(id) = queue.pop_front() {
            let verdict = base.verdict(false);
            if verdict != Verdict::Open {
                return Ok(verdict);
            }
            reader.read(id, &mut parents)?;
            claim_parents(shared, Walker::Base, &parents, &mut queue, |held| base.contacts.push(held));
            base.saw(&reader.author);
        }
        Ok(Verdict::Open)
    }

    /// Seed walks, one seed after the other: everything below each seed that no walk has
    /// claimed yet, until no seed is left or `stop` says so.
    fn walk_from_seeds(
        &self,
        reader: &mut HeadReader<'_>,
        shared: &Mutex<Shared>,
        stop: &mut dyn FnMut() -> bool,
    ) -> Result<SeedWalk> {
        let mut read = SeedWalk::default();
        let mut parents = Vec::new();
        loop {
            let Some(seed) = shared.lock().expect("walk lock").take_seed() else { break };
            let mut queue = VecDeque::from([seed]);
            while let Some(id) = queue.pop_front() {
                if stop() {
                    return Ok(read);
                }
                reader.read(id, &mut parents)?;
                claim_parents(shared, Walker::Seed, &parents, &mut queue, |_| {});
                read.record(id, &parents, &reader.author);
            }
        }
        Ok(read)
    }
}

/// Claims for `walker` each of `parents` that no walk holds yet, and queues it; hands those a
/// walk of the other kind holds to `held_by_other`.
fn claim_parents(
    shared: &Mutex<Shared>,
    walker: Walker,
    parents: &[ObjectId],
    queue: &mut VecDeque<ObjectId>,
    mut held_by_other: impl FnMut(ObjectId),
) {
    let mut shared = shared.lock().expect("walk lock");
    for &parent in parents {
        match shared.claims.get(&parent) {
            None => {
                shared.claims.insert(parent, walker);
                queue.push_back(parent);
            }
            Some(holder) if *holder != walker => held_by_other(parent),
            Some(_) => {}
        }
    }
}

/// The authors of the seed walks' commits that the base's history reaches (and their e-mails
/// alone): those below the commits where the base's walk met a seed walk's claims.
fn authors_below<'a>(walks: &'a [SeedWalk], contacts: &[ObjectId]) -> HashSet<&'a str> {
    let mut stack = contacts.to_vec();
    let mut done = gix::hashtable::HashSet::default();
    let mut authors: Vec<Vec<bool>> = walks.iter().map(|walk| vec![false; walk.authors.len()]).collect();
    while let Some(id) = stack.pop() {
        if !done.insert(id) {
            continue;
        }
        // Read by neither seed walk: the base's walk claimed it, and counted it.
        for (walk, found) in walks.iter().zip(&mut authors) {
            if let Some((parents, author)) = walk.get(&id) {
                stack.extend_from_slice(parents);
                found[author as usize] = true;
                break;
            }
        }
    }
    walks
        .iter()
        .zip(&authors)
        .flat_map(|(walk, found)| {
            walk.authors.iter().zip(found).filter(|(_, f)| **f).map(|(author, _)| author.as_str())
        })
        .flat_map(|author| [author, crate::email_of_author_key(author)])
        .collect()
}

/// Reads a commit's parents and author, from a pack prefix when it can.
struct HeadReader<'a> {
    repo: &'a Repo,
    heads: CommitHeads<'a>,
    buf: Vec<u8>,
    /// The author of the commit read last, as [`crate::author_key`] spells it.
    author: String,
}

impl<'a> HeadReader<'a> {
    fn new(repo: &'a Repo, packs: &'a Packs) -> Self {
        HeadReader { repo, heads: CommitHeads::new(packs), buf: Vec::new(), author: String::new() }
    }

    /// Fills `parents` with the parents of commit `id`, and `self.author` with its author's key
    /// (mapped through the mailmap).
    fn read(&mut self, id: ObjectId, parents: &mut Vec<ObjectId>) -> Result<()> {
        parents.clear();
        let hash = self.repo.repo.object_hash();
        let mailmap = self.repo.mailmap.as_deref();
        if let Some(head) = self.heads.head(&id)
            && parents_and_author(
                gix::objs::CommitRefIter::from_bytes(head, hash),
                mailmap,
                parents,
                &mut self.author,
            )
        {
            return Ok(());
        }
        parents.clear();
        let commit = self
            .repo
            .repo
            .objects
            .find_commit_iter(&id, &mut self.buf)
            .map_err(|e| git_error("cannot read a commit", e))?;
        if parents_and_author(commit, mailmap, parents, &mut self.author) {
            Ok(())
        } else {
            Err(git_error("cannot decode a commit", format!("{id} has no author line")))
        }
    }
}

/// Pushes each parent of `commit` onto `parents` and puts its author (through the mailmap, if
/// any) into `author` as [`crate::author_key`] spells it; false when the author line is not
/// there (a prefix cut short, or no commit).
fn parents_and_author(
    commit: gix::objs::CommitRefIter<'_>,
    mailmap: Option<&gix::mailmap::Snapshot>,
    parents: &mut Vec<ObjectId>,
    author: &mut String,
) -> bool {
    use gix::objs::commit::ref_iter::Token;
    for token in commit {
        match token {
            Ok(Token::Parent { id }) => parents.push(id),
            Ok(Token::Author { signature }) => {
                let mapped = mailmap.and_then(|m| m.try_resolve_ref(signature));
                let name = mapped.as_ref().and_then(|m| m.name).unwrap_or(signature.name);
                let email = mapped.as_ref().and_then(|m| m.email).unwrap_or(signature.email);
                crate::write_author_key(author, &name.to_str_lossy(), &email.to_str_lossy());
                return true;
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}
