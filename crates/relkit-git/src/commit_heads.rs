//! The head of a commit (its header lines up to the author) read straight from the pack files,
//! inflating only that prefix of the object instead of the whole commit message.
//!
//! Walks that need only parents and authors (the first-time contributor walk reads every older
//! commit) spend most of their time inflating; the header is usually less than half of a commit.
//! Anything this reader cannot answer from a prefix (a loose object, a deltified entry, a header
//! longer than the prefix) is left to the caller's full read, so it is an accelerator, never
//! the only way.

use gix::odb::pack;

/// Bytes inflated: the tree, two parents and the author line (on withastro/astro, 14k commits:
/// at most 225 bytes, half under 170); longer headers (octopus merges) take the full read.
const PREFIX_LEN: usize = 256;

/// The pack files of a repository, opened once for prefix reads (shared by every reader).
pub(crate) struct Packs {
    bundles: Vec<pack::Bundle>,
}

impl Packs {
    /// Opens every `*.idx` pack of the object directory, largest first; packs that cannot be
    /// opened are left out (their commits are then read the ordinary way).
    pub(crate) fn open(objects_dir: &std::path::Path, hash: gix::hash::Kind) -> Packs {
        let mut bundles: Vec<pack::Bundle> = std::fs::read_dir(objects_dir.join("pack"))
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "idx"))
            .filter_map(|idx| pack::Bundle::at(&idx, hash).ok())
            .collect();
        // The largest pack first: most lookups end in it.
        bundles.sort_by_key(|b| std::cmp::Reverse(b.index.num_objects()));
        Packs { bundles }
    }
}

/// One reader of commit heads: its own inflater and buffer over shared [`Packs`].
pub(crate) struct CommitHeads<'p> {
    packs: &'p Packs,
    inflate: gix::zlib::Inflate,
    buf: Vec<u8>,
}

impl<'p> CommitHeads<'p> {
    pub(crate) fn new(packs: &'p Packs) -> Self {
        CommitHeads { packs, inflate: gix::zlib::Inflate::default(), buf: vec![0; PREFIX_LEN] }
    }

    /// The first [`PREFIX_LEN`] bytes of commit `id`'s object when it is stored whole in a
    /// pack; `None` when it is not (loose, deltified, not found) or could not be inflated, so
    /// the caller reads it in full.
    pub(crate) fn head(&mut self, id: &gix::oid) -> Option<&[u8]> {
        let (bundle, offset) = self
            .packs
            .bundles
            .iter()
            .find_map(|b| b.index.lookup(id).map(|i| (b, b.index.pack_offset_at_index(i))))?;
        let entry = bundle.pack.entry(offset).ok()?;
        if entry.header != pack::data::entry::Header::Commit {
            return None;
        }
        let size = usize::try_from(entry.decompressed_size).ok()?;
        let input = bundle.pack.entry_slice(entry.data_offset..bundle.pack.pack_end() as u64)?;
        let out = &mut self.buf[..size.min(PREFIX_LEN)];
        self.inflate.reset();
        let (_, _, written) = self.inflate.prefix(input, out).ok()?;
        Some(&self.buf[..written])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relkit_testkit::git;

    /// A loose commit is left to the full read; once packed, only a prefix is inflated, and it
    /// is the start of the object `git cat-file` prints.
    #[test]
    fn packed_commits_are_read_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        git(p, &["init", "-q", "-b", "main"]);
        let message = format!("feat: a long body\n\n{}", "line of the body\n".repeat(200));
        git(p, &["commit", "-q", "--allow-empty", "-m", &message]);
        let id = gix::ObjectId::from_hex(git(p, &["rev-parse", "HEAD"]).trim().as_bytes()).unwrap();
        let full = git(p, &["cat-file", "commit", "HEAD"]);
        let objects = p.join(".git/objects");

        let loose = Packs::open(&objects, gix::hash::Kind::Sha1);
        assert!(CommitHeads::new(&loose).head(&id).is_none(), "loose");
        git(p, &["gc", "-q", "--prune=now"]);
        let packs = Packs::open(&objects, gix::hash::Kind::Sha1);
        let mut heads = CommitHeads::new(&packs);
        let head = heads.head(&id).expect("packed").to_vec();
        assert_eq!(head.len(), PREFIX_LEN, "a prefix, not the whole {}-byte commit", full.len());
        assert!(full.as_bytes().starts_with(&head));
    }
}
