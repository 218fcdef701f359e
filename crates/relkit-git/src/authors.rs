//! Who committed before a range: the walk behind "made their first contribution".
//!
//! Git keeps no index of authors, so when someone in the range is new the whole older history
//! is read. Two walkers share that: one from the range's base, one from release tags further
//! down (guesses at the middle of the history and then nearer the base, supplied by the caller;
//! it moves to the next one when it is done with the previous one). Each commit is claimed by the
//! first walker to reach it and read once. The guesses are never trusted: the second walker's
//! commits count only where the first walker's walk reaches them, so a seed off the base's
//! history (a maintenance branch) changes the speed, never the answer.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::prelude::FindExt as _;

use crate::commit_heads::{CommitHeads, Packs};
use crate::{Repo, Result, git_error, parse_id};

/// Which walker claimed a commit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Walker {
    Base,
    Seed,
}

/// Commits claimed so far, by walker.
type Claims = Mutex<gix::hashtable::HashMap<ObjectId, Walker>>;

/// How the base walker ended.
enum BaseWalk {
    /// Every wanted e-mail was seen early: these are the answer.
    AllSeen(BTreeSet<String>),
    /// The wanted e-mails never arrived (the caller gave up).
    Abandoned,
    /// The base walker read all it could reach.
    Finished {
        wanted: BTreeSet<String>,
        seen: HashSet<String>,
        /// Commits it reached that the seed walker had claimed.
        contacts: Vec<ObjectId>,
    },
}

/// What the seed walker read: each commit's parents and author e-mail, kept compact (a large
/// history holds hundreds of thousands of commits and a few thousand authors).
#[derive(Default)]
struct SeedWalk {
    /// Per commit: where its parents start in `parents`, how many, and its author's index.
    commits: gix::hashtable::HashMap<ObjectId, (u32, u32, u32)>,
    parents: Vec<ObjectId>,
    emails: Vec<String>,
    email_index: std::collections::HashMap<String, u32>,
}

impl SeedWalk {
    fn record(&mut self, id: ObjectId, parents: &[ObjectId], email: String) {
        let next = self.emails.len() as u32;
        let author = *self.email_index.entry(email).or_insert_with_key(|email| {
            self.emails.push(email.clone());
            next
        });
        let start = self.parents.len() as u32;
        self.parents.extend_from_slice(parents);
        self.commits.insert(id, (start, parents.len() as u32, author));
    }

    /// The parents and author e-mail of a commit this walker read.
    fn get(&self, id: &ObjectId) -> Option<(&[ObjectId], &str)> {
        let (start, count, author) = *self.commits.get(id)?;
        let parents = &self.parents[start as usize..(start + count) as usize];
        Some((parents, self.emails[author as usize].as_str()))
    }
}

impl Repo {
    /// Which of the wanted author e-mails (compared in lower case) authored a commit reachable
    /// from `tip`. The walk starts at once, on the caller's thread, and the e-mails arrive on
    /// `wanted` when the caller knows them (the authors of a range it is still reading); until
    /// then it remembers every e-mail it passes. It stops as soon as every wanted e-mail was seen,
    /// so it reads the whole history only when someone is new. Given `seeds` (commits expected in
    /// `tip`'s history, such as older releases: the deepest first), a second walker on its own
    /// thread reads the history below them meanwhile, one after the other, so that a whole read
    /// takes about half as long on two cores. Each commit is read once, and only up to its
    /// author line. A closed channel ends the walk with nothing found.
    pub fn authors_seen(
        &self,
        tip: &str,
        seeds: &[String],
        wanted: Receiver<BTreeSet<String>>,
    ) -> Result<BTreeSet<String>> {
        let tip = parse_id(tip)?;
        let mut seeds: Vec<ObjectId> = seeds.iter().map(|seed| parse_id(seed)).collect::<Result<_>>()?;
        seeds.retain(|seed| *seed != tip);
        let claims = Claims::new(std::iter::once((tip, Walker::Base)).collect());
        let stop = AtomicBool::new(false);
        let packs = Packs::open(self.repo.objects.store_ref().path(), self.repo.object_hash());
        std::thread::scope(|scope| {
            let seed_walker = (!seeds.is_empty()).then(|| {
                let (repo, seeds, packs, claims, stop) = (self.handle(), &seeds, &packs, &claims, &stop);
                scope.spawn(move || repo.walk_from_seeds(seeds, HeadReader::new(&repo, packs), claims, stop))
            });
            let base = self.walk_from_base(tip, HeadReader::new(self, &packs), &claims, &wanted);
            if !matches!(base, Ok(BaseWalk::Finished { .. })) {
                stop.store(true, Ordering::Relaxed);
            }
            let below = seed_walker.map(|walker| walker.join().expect("the seed walker does not panic"));
            Ok(match base? {
                BaseWalk::AllSeen(wanted) => wanted,
                BaseWalk::Abandoned => BTreeSet::new(),
                BaseWalk::Finished { wanted, mut seen, contacts } => {
                    // Only now does the answer depend on the seed walker, and on its errors.
                    if let Some(below) = below.transpose()? {
                        seen.extend(authors_below(&below, contacts));
                    }
                    wanted.into_iter().filter(|email| seen.contains(email)).collect()
                }
            })
        })
    }

    /// The walk from the range's base, which decides when to stop.
    fn walk_from_base(
        &self,
        tip: ObjectId,
        mut reader: HeadReader<'_>,
        claims: &Claims,
        wanted: &Receiver<BTreeSet<String>>,
    ) -> Result<BaseWalk> {
        let mut queue = VecDeque::from([tip]);
        let mut seen: HashSet<String> = HashSet::new();
        // Once the wanted e-mails are known: them, and those not seen yet.
        let mut missing: Option<(BTreeSet<String>, HashSet<String>)> = None;
        let mut contacts = Vec::new();
        let mut parents = Vec::new();
        while let Some(id) = queue.pop_front() {
            if missing.is_none() {
                match wanted.try_recv() {
                    Ok(w) => {
                        let still = w.iter().filter(|email| !seen.contains(*email)).cloned().collect();
                        missing = Some((w, still));
                    }
                    Err(TryRecvError::Empty) => {}
                    Err(TryRecvError::Disconnected) => return Ok(BaseWalk::Abandoned),
                }
            }
            if let Some((w, still)) = &missing
                && still.is_empty()
            {
                return Ok(BaseWalk::AllSeen(w.clone()));
            }
            let email = reader.read(id, &mut parents)?;
            claim_parents(claims, Walker::Base, &parents, &mut queue, |seed_walkers| {
                contacts.push(seed_walkers)
            });
            if let Some((_, still)) = &mut missing {
                still.remove(&email);
            }
            seen.insert(email);
        }
        let wanted = match missing {
            Some((w, _)) => w,
            None => match wanted.recv() {
                Ok(w) => w,
                Err(_) => return Ok(BaseWalk::Abandoned),
            },
        };
        Ok(BaseWalk::Finished { wanted, seen, contacts })
    }

    /// The walk from the seeds, one after the other: everything below each that no walker has
    /// claimed yet, until told to stop.
    fn walk_from_seeds(
        &self,
        seeds: &[ObjectId],
        mut reader: HeadReader<'_>,
        claims: &Claims,
        stop: &AtomicBool,
    ) -> Result<SeedWalk> {
        let mut read = SeedWalk::default();
        let mut parents = Vec::new();
        for &seed in seeds {
            {
                let mut claimed = claims.lock().expect("claims lock");
                if claimed.contains_key(&seed) {
                    // Read already: by the base walker (it got there first), or below an earlier seed.
                    continue;
                }
                claimed.insert(seed, Walker::Seed);
            }
            let mut queue = VecDeque::from([seed]);
            while let Some(id) = queue.pop_front() {
                if stop.load(Ordering::Relaxed) {
                    return Ok(read);
                }
                let email = reader.read(id, &mut parents)?;
                claim_parents(claims, Walker::Seed, &parents, &mut queue, |_| {});
                read.record(id, &parents, email);
            }
        }
        Ok(read)
    }
}

/// Claims for `walker` each of `parents` that no walker holds yet, and queues it; hands those the
/// other walker holds to `held_by_other`.
fn claim_parents(
    claims: &Claims,
    walker: Walker,
    parents: &[ObjectId],
    queue: &mut VecDeque<ObjectId>,
    mut held_by_other: impl FnMut(ObjectId),
) {
    let mut claimed = claims.lock().expect("claims lock");
    for &parent in parents {
        match claimed.get(&parent) {
            None => {
                claimed.insert(parent, walker);
                queue.push_back(parent);
            }
            Some(holder) if *holder != walker => held_by_other(parent),
            Some(_) => {}
        }
    }
}

/// The e-mails of the seed walker's commits that the base's history reaches: those below the
/// commits where the base walker met the seed walker's claims.
fn authors_below(below: &SeedWalk, contacts: Vec<ObjectId>) -> impl Iterator<Item = String> + '_ {
    let mut stack = contacts;
    let mut done = gix::hashtable::HashSet::default();
    std::iter::from_fn(move || {
        while let Some(id) = stack.pop() {
            if !done.insert(id) {
                continue;
            }
            // Not read by the seed walker: the base walker claimed it, and counted it.
            if let Some((parents, email)) = below.get(&id) {
                stack.extend_from_slice(parents);
                return Some(email.to_string());
            }
        }
        None
    })
}

/// Reads a commit's parents and author e-mail, from a pack prefix when it can.
struct HeadReader<'a> {
    repo: &'a Repo,
    heads: CommitHeads<'a>,
    buf: Vec<u8>,
}

impl<'a> HeadReader<'a> {
    fn new(repo: &'a Repo, packs: &'a Packs) -> Self {
        HeadReader { repo, heads: CommitHeads::new(packs), buf: Vec::new() }
    }

    /// Fills `parents` with the parents of commit `id` and returns its author's e-mail in lower case.
    fn read(&mut self, id: ObjectId, parents: &mut Vec<ObjectId>) -> Result<String> {
        parents.clear();
        let hash = self.repo.repo.object_hash();
        if let Some(head) = self.heads.head(&id)
            && let Some(email) = parents_and_author(gix::objs::CommitRefIter::from_bytes(head, hash), parents)
        {
            return Ok(email);
        }
        parents.clear();
        let commit = self
            .repo
            .repo
            .objects
            .find_commit_iter(&id, &mut self.buf)
            .map_err(|e| git_error("cannot read a commit", e))?;
        parents_and_author(commit, parents)
            .ok_or_else(|| git_error("cannot decode a commit", format!("{id} has no author line")))
    }
}

/// Pushes each parent of `commit` onto `parents` and returns its author's e-mail in lower case;
/// `None` when the author line is not there (a prefix cut short, or no commit).
fn parents_and_author(commit: gix::objs::CommitRefIter<'_>, parents: &mut Vec<ObjectId>) -> Option<String> {
    use gix::objs::commit::ref_iter::Token;
    for token in commit {
        match token.ok()? {
            Token::Parent { id } => parents.push(id),
            Token::Author { signature } => return Some(signature.email.to_str_lossy().to_lowercase()),
            _ => {}
        }
    }
    None
}
