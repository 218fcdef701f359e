//! The commands, wiring git, configuration, the forge and rendering together. Everything that
//! can be checked locally is checked before the first request to the forge.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use relkit_core::actions::{Env, Outputs, add_mask, append_summary, report_warning, running_in_actions};
use relkit_core::config::Config;
use relkit_core::github::GithubContext;
use relkit_core::tagset::{Scope, TagSet};
use relkit_core::version::{TagGrammar, is_stable};
use relkit_core::{Error, Result};
use relkit_git::{PathGlobs, Repo};

use crate::cli::{ChangelogArgs, Cli, Command, ForgeArgs, ForgeKind, NotesArgs, RepoArgs, RevokeArgs};
use crate::forge::Forge;
use crate::forge::forgejo::ForgejoApi;
use crate::forge::github::{GithubApi, PullLookup};
use crate::forge::http::{AuthScheme, Http, RetryPolicy};
use crate::notes::{Inputs, ReleaseInfo, assemble, credit_contributors};
use crate::publish::{PublishRequest, publish, revoke};
use crate::range::{RangeRequest, Since, midway_releases, resolve};
use crate::render::{Format, Template, to_json};
use crate::sections::ReleaseYml;
use crate::verification::{self, AssetChecksum};
use crate::{changelog, schema};
use relkit_core::config::{NotesConfig, SchemaBump};

const BIN: &str = "notes-gen";

/// Runs one command and returns the process exit code.
pub fn run(cli: Cli, env: &dyn Env) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            return relkit_core::actions::report_error(env, BIN, &Error::failed(format!("runtime: {e}")));
        }
    };
    mask_secrets(env);
    let result = runtime.block_on(async {
        match cli.command {
            Some(Command::Revoke(args)) => revoke_command(&args, env).await,
            Some(Command::Changelog(args)) => changelog_command(&args, env),
            None => notes_command(&cli.notes, env).await,
        }
    });
    match result {
        Ok(()) => 0,
        Err(e) => relkit_core::actions::report_error(env, BIN, &e),
    }
}

/// Under Actions, asks the runner to hide every token this run may use, before anything else
/// is printed.
fn mask_secrets(env: &dyn Env) {
    if !running_in_actions(env) {
        return;
    }
    for name in ["INPUT_TOKEN", "GITHUB_TOKEN", "FORGEJO_TOKEN", "GITEA_TOKEN"] {
        if let Some(value) = env.var(name).filter(|v| !v.trim().is_empty()) {
            println!("{}", add_mask(value.trim()));
        }
    }
}

/// The repository, its configuration and tags, read once.
struct Workspace {
    repo: Repo,
    root: PathBuf,
    notes: NotesConfig,
    schema_bump: SchemaBump,
    /// The paths a component's commits must touch (`--path`, `components.<name>.paths`).
    paths: Option<PathGlobs>,
    grammar: TagGrammar,
    tags: TagSet,
}

fn open_workspace(args: &RepoArgs) -> Result<Workspace> {
    let repo = Repo::discover(&args.repo)?;
    repo.require_full_history("notes-gen")?;
    let root = repo.root();
    let config = Config::load(args.config.as_deref(), Some(&root))?;
    let notes = config.notes.clone();
    let schema_bump = config.version.schema_bump;
    let patterns: Vec<String> =
        args.paths.iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect();
    let patterns =
        if patterns.is_empty() { config.component_paths(args.component.as_deref()) } else { patterns };
    let paths = if patterns.is_empty() {
        None
    } else {
        Some(PathGlobs::new(&patterns, "--path / components.<name>.paths")?)
    };
    let grammar = config.tags.grammar(args.component.as_deref());
    let tags = TagSet::from_refs(&grammar, repo.tag_refs()?);
    Ok(Workspace { repo, root, notes, schema_bump, paths, grammar, tags })
}

/// The custom template (`--template`, or `notes.template` in the config) compiled by `compile`,
/// or the built-in one.
fn load_template(
    args: &RepoArgs,
    ws: &Workspace,
    compile: fn(Option<(&str, &str)>) -> Result<Template>,
) -> Result<Template> {
    let path = match (&args.template, &ws.notes.template) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => ws.root.join(p),
        (None, None) => return compile(None),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::usage(format!("cannot read template {}: {e}", path.display())))?;
    compile(Some((&path.display().to_string(), &text)))
}

fn read_release_yml(ws: &Workspace) -> Result<Option<ReleaseYml>> {
    let path = ws.root.join(&ws.notes.release_yml);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(ReleaseYml::parse(&text, &ws.notes.release_yml)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::usage(format!("cannot read {}: {e}", path.display()))),
    }
}

fn write_output(path: Option<&Path>, text: &str) -> Result<()> {
    match path {
        Some(p) => {
            std::fs::write(p, text).map_err(|e| Error::failed(format!("cannot write {}: {e}", p.display())))
        }
        None => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).map_err(|e| Error::failed(format!("cannot write to stdout: {e}")))
        }
    }
}

/// The forge client, or `None` when the repository is unknown (local use without a remote).
fn forge_client(args: &ForgeArgs, ctx: &GithubContext, env: &dyn Env) -> Result<Option<Forge>> {
    let Some(repository) = args.repository.clone().or_else(|| ctx.repository.clone()) else {
        return Ok(None);
    };
    let (owner, name) = repository
        .split_once('/')
        .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| Error::usage(format!("repository {repository:?} must be owner/name")))?;
    let policy = RetryPolicy {
        max_rate_limit_wait: Duration::from_secs(args.max_rate_limit_wait),
        ..RetryPolicy::default()
    };
    let token = token_for(args.forge, ctx, env);
    Ok(Some(match args.forge {
        ForgeKind::Github => {
            let http = Http::new("GitHub", token, AuthScheme::Bearer, policy)?;
            Forge::Github(GithubApi::new(http, &ctx.api_url, &ctx.graphql_url, owner, name))
        }
        ForgeKind::Forgejo => {
            let server = args.server.clone().or_else(|| env.var("GITHUB_SERVER_URL")).ok_or_else(|| {
                Error::usage("--forge forgejo needs --server URL (e.g. https://forge.example.org)")
            })?;
            if !(server.starts_with("https://") || server.starts_with("http://")) {
                return Err(Error::usage(format!("--server {server:?} must be an http(s) URL")));
            }
            let http = Http::new("Forgejo", token, AuthScheme::Token, policy)?;
            Forge::Forgejo(ForgejoApi::new(http, &server, owner, name))
        }
    }))
}

fn token_for(kind: ForgeKind, ctx: &GithubContext, env: &dyn Env) -> Option<String> {
    let var = |name: &str| env.var(name).filter(|v| !v.trim().is_empty());
    var("INPUT_TOKEN").or_else(|| match kind {
        ForgeKind::Github => ctx.token.as_ref().map(|t| t.expose().to_string()),
        ForgeKind::Forgejo => var("FORGEJO_TOKEN").or_else(|| var("GITEA_TOKEN")),
    })
}

fn server_url(args: &ForgeArgs, ctx: &GithubContext) -> String {
    match args.forge {
        ForgeKind::Github => ctx.server_url.clone(),
        ForgeKind::Forgejo => args.server.clone().unwrap_or_else(|| ctx.server_url.clone()),
    }
    .trim_end_matches('/')
    .to_string()
}

async fn notes_command(args: &NotesArgs, env: &dyn Env) -> Result<()> {
    let ctx = GithubContext::from_env(env)?;
    let ws = open_workspace(&args.repo)?;
    let mut config = ws.notes.clone();
    config.require_conventional |= args.require_conventional;
    let template = load_template(&args.repo, &ws, Template::notes)?;
    let release_yml = read_release_yml(&ws)?;
    let tag = args.tag.clone().or_else(|| {
        ctx.release_tag()
            .or(ctx.tag_from_ref())
            .filter(|t| ws.grammar.try_parse(t).is_some())
            .map(str::to_string)
    });
    if args.publish && tag.is_none() {
        return Err(Error::usage("--publish needs a release tag: pass --tag vX.Y.Z or run on a tag push"));
    }
    let request = RangeRequest { tag, since: args.since, from: args.from.clone(), to: args.to.clone() };
    let range = resolve(&ws.repo, &ws.tags, &ws.grammar, &request)?;
    // Which authors of the range committed before it: a walk of the older history (all of it
    // when someone is new) on its own thread, from now on, while the range is read and looked
    // up; it learns the authors once the range is read.
    let (authors_tx, authors_rx) = std::sync::mpsc::channel();
    let earlier_walk = match (&range.from, config.contributors) {
        (Some(from), true) => {
            let seeds = midway_releases(&ws.tags, from, range.previous_tag.as_deref());
            let (repo, from) = (ws.repo.handle(), from.clone());
            Some(std::thread::spawn(move || repo.authors_seen(&from, &seeds, authors_rx)))
        }
        _ => None,
    };
    let hidden: Vec<String> = range.from.iter().cloned().collect();
    let commits =
        changelog::commits(&ws.repo, &range.to, &hidden, ws.paths.as_ref(), &mut Default::default())?;
    // A walk that already ended needs nothing more: a failed send is no error.
    let _ = authors_tx.send(commits.iter().flat_map(relkit_git::Commit::author_keys).collect());
    let mut notices = range.notices.clone();

    let asset_paths = file_list(&args.assets);
    let verification_input = {
        let mut input = verification::read_inputs(&file_list(&args.verification))?;
        for path in &asset_paths {
            input
                .assets
                .push(AssetChecksum { name: asset_name(path)?, sha256: verification::sha256_file(path)? });
        }
        input
    };
    let repository = args.forge.repository.clone().or_else(|| ctx.repository.clone());
    let verification = verification::build(verification_input, repository.as_deref())?;
    let schema_changes = schema::schema_changes(
        &ws.repo,
        range.from.as_deref(),
        &range.to,
        &config.schema_globs,
        ws.paths.as_ref(),
    )?;
    let forge = forge_client(&args.forge, &ctx, env)?;
    let lookup = match (&forge, !args.pull_requests) {
        (_, true) => PullLookup::default(),
        (Some(Forge::Github(api)), false) if api.has_token() => {
            let shas: Vec<String> =
                commits.iter().filter(|c| c.parent_count < 2).map(|c| c.id.clone()).collect();
            api.pull_requests(&shas).await?
        }
        (Some(Forge::Github(_)), false) | (None, false) => {
            notices.push("No GitHub token was given, so pull requests were not looked up: these notes come from git alone.".into());
            PullLookup::default()
        }
        (Some(Forge::Forgejo(api)), false) => {
            let shas: Vec<String> =
                commits.iter().filter(|c| c.parent_count < 2).map(|c| c.id.clone()).collect();
            match api.pull_requests(&shas).await {
                Ok(Some(pulls)) => PullLookup { pulls, ..PullLookup::default() },
                Err(e) => {
                    notices.push(format!(
                        "Pull requests could not be looked up ({e}): these notes come from git alone."
                    ));
                    PullLookup::default()
                }
                Ok(None) => {
                    if !shas.is_empty() {
                        notices.push("The forge found no pull request for any commit (Gitea's `commits/{sha}/pull` endpoint answered 404): these notes come from git alone.".into());
                    }
                    PullLookup::default()
                }
            }
        }
    };

    let release = range.release.as_ref();
    let server = server_url(&args.forge, &ctx);
    let compare_url = match (&repository, &range.previous_tag, release) {
        (Some(repo), Some(prev), Some(tag)) => Some(format!("{server}/{repo}/compare/{prev}...{}", tag.name)),
        _ => None,
    };
    let info = ReleaseInfo {
        tag: release.map(|r| r.name.clone()),
        version: release.map(|r| r.version.to_string()),
        title: release.map(|r| r.name.clone()).unwrap_or_else(|| "Unreleased".to_string()),
        prerelease: release.is_some_and(|r| !is_stable(&r.version)),
        previous_tag: range.previous_tag.clone(),
        from: range.from.clone(),
        to: range.to.clone(),
        repository: repository.clone(),
        compare_url,
        ..ReleaseInfo::default()
    };
    // Everything but who is new, while the walk of the older history may still run.
    let mut notes = assemble(Inputs {
        release: info,
        commits: &commits,
        pulls: &lookup.pulls,
        commit_logins: &lookup.authors,
        earlier_authors: None,
        earlier_logins: None,
        schema_changes,
        schema_bump: ws.schema_bump,
        verification,
        config: &config,
        release_yml: release_yml.as_ref(),
        notices,
    })?;
    let earlier_authors: Option<BTreeSet<String>> = match earlier_walk {
        Some(walk) => Some(walk.join().map_err(|_| Error::failed("the history walk panicked"))??),
        None => None,
    };
    let earlier_logins = match (&forge, &range.from, &earlier_authors) {
        (Some(Forge::Github(api)), Some(from), Some(earlier)) if !lookup.user_ids.is_empty() => {
            Some(earlier_logins(api, from, &commits, &lookup, earlier).await)
        }
        _ => None,
    };
    credit_contributors(
        &mut notes,
        &commits,
        &lookup.pulls,
        &lookup.authors,
        earlier_authors.as_ref(),
        earlier_logins.as_ref(),
        &config,
    );
    let markdown = template.render_notes(&notes)?;
    // The JSON notes are printed with `--format json`, and are otherwise a step output only.
    let json = if args.repo.format == Format::Json || Outputs::collected(env) {
        to_json(&notes)?
    } else {
        String::new()
    };
    write_output(
        args.repo.output.as_deref(),
        if args.repo.format == Format::Json { &json } else { &markdown },
    )?;

    let mut outputs = empty_outputs();
    outputs
        .set("tag", notes.release.tag.clone().unwrap_or_default())
        .set("previous_tag", notes.release.previous_tag.clone().unwrap_or_default())
        .set("from", notes.release.from.clone().unwrap_or_default())
        .set("to", notes.release.to.clone())
        .set("commit_count", notes.release.commit_count.to_string())
        .set("body", markdown.clone())
        .set("json", json);
    if args.publish {
        let forge = forge.ok_or_else(|| {
            Error::usage(
                "--publish needs the repository: pass --repository owner/name or set GITHUB_REPOSITORY",
            )
        })?;
        if token_for(args.forge.forge, &ctx, env).is_none() {
            return Err(Error::usage(format!(
                "--publish needs a {} token: set GITHUB_TOKEN (FORGEJO_TOKEN for Forgejo), or the action input `token`",
                forge.name()
            )));
        }
        let release = range.release.as_ref().ok_or_else(|| Error::usage("--publish needs a release tag"))?;
        let prerelease = !is_stable(&release.version);
        let request = PublishRequest {
            tag: release.name.clone(),
            target_commitish: Some(range.to.clone()),
            name: args.name.clone().unwrap_or_else(|| release.name.clone()),
            body: markdown.clone(),
            prerelease,
            make_latest: !prerelease && ws.tags.is_highest(&release.version, Scope::All),
            draft: args.draft,
            unrevoke: args.unrevoke,
            assets: asset_paths.iter().map(|p| Ok((p.clone(), asset_name(p)?))).collect::<Result<_>>()?,
        };
        let outcome = publish(&forge, &request).await?;
        eprintln!(
            "{BIN}: {} {} release {} ({} asset(s) uploaded, {} replaced)",
            outcome.action,
            forge.name(),
            release.name,
            outcome.uploaded.len(),
            outcome.replaced.len()
        );
        outputs
            .set("release_id", outcome.id.to_string())
            .set("release_url", outcome.url.clone().unwrap_or_default())
            .set("publish_action", outcome.action);
    }
    outputs.write(env)?;
    if running_in_actions(env) {
        append_summary(env, &format!("## Release notes: {}\n\n{markdown}\n", notes.release.title))?;
        for n in &notes.notices {
            report_warning(env, BIN, n);
        }
    }
    Ok(())
}

/// The logins of the range that GitHub knows to have committed before it (under any of their
/// e-mails). Only logins none of whose e-mails in the range committed locally before it are
/// asked about (the forge matched each e-mail to the account, so any is the account's own);
/// when the query fails git decides alone, and the error is printed.
async fn earlier_logins(
    api: &GithubApi,
    from: &str,
    commits: &[relkit_git::Commit],
    lookup: &PullLookup,
    earlier_authors: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut seen_locally = BTreeSet::new();
    for commit in commits {
        if let Some(login) = lookup.authors.get(&commit.id)
            && let [_, email] = commit.author_keys()
            && earlier_authors.contains(&email)
        {
            seen_locally.insert(login.clone());
        }
    }
    let candidates: std::collections::BTreeMap<String, String> = lookup
        .user_ids
        .iter()
        .filter(|(login, _)| !seen_locally.contains(*login))
        .map(|(login, id)| (login.clone(), id.clone()))
        .collect();
    if candidates.is_empty() {
        return seen_locally;
    }
    match api.users_with_commits_before(from, &candidates).await {
        Ok(seen) => seen_locally.into_iter().chain(seen).collect(),
        Err(e) => {
            eprintln!(
                "{BIN}: earlier commits of new contributors could not be looked up ({e}); deciding by git alone"
            );
            seen_locally
        }
    }
}

/// Every step output any command writes, empty; each command fills in what it knows, so the
/// action's outputs are always all set.
fn empty_outputs() -> Outputs {
    let mut outputs = Outputs::new();
    for name in [
        "tag",
        "previous_tag",
        "from",
        "to",
        "commit_count",
        "body",
        "json",
        "release_id",
        "release_url",
        "publish_action",
    ] {
        outputs.set(name, "");
    }
    outputs
}

/// File lists from flags or the environment: each value may hold several paths, one per line
/// or separated by commas.
fn file_list(values: &[String]) -> Vec<PathBuf> {
    values
        .iter()
        .flat_map(|v| v.split(['\n', ',']))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

fn asset_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| Error::usage(format!("asset path {} has no file name", path.display())))
}

async fn revoke_command(args: &RevokeArgs, env: &dyn Env) -> Result<()> {
    let ctx = GithubContext::from_env(env)?;
    let forge = forge_client(&args.forge, &ctx, env)?.ok_or_else(|| {
        Error::usage("revoke needs the repository: pass --repository owner/name or set GITHUB_REPOSITORY")
    })?;
    if token_for(args.forge.forge, &ctx, env).is_none() {
        return Err(Error::usage(
            "revoke needs a token: set GITHUB_TOKEN (FORGEJO_TOKEN for Forgejo), or the action input `token`",
        ));
    }
    let release = revoke(&forge, &args.tag, &args.reason).await?;
    eprintln!("{BIN}: revoked {} release {} (now marked as a prerelease)", forge.name(), args.tag);
    let mut outputs = empty_outputs();
    outputs
        .set("tag", args.tag.clone())
        .set("release_id", release.id.to_string())
        .set("release_url", release.html_url.unwrap_or_default());
    outputs.write(env)?;
    if running_in_actions(env) {
        append_summary(env, &format!("## Release {} revoked\n\nReason: {}\n", args.tag, args.reason))?;
    }
    Ok(())
}

fn changelog_command(args: &ChangelogArgs, env: &dyn Env) -> Result<()> {
    let ctx = GithubContext::from_env(env)?;
    let ws = open_workspace(&args.repo)?;
    let template = load_template(&args.repo, &ws, Template::changelog)?;
    let release_yml = read_release_yml(&ws)?;
    let request = changelog::ChangelogRequest {
        stable_only: args.since == Since::Stable,
        last: args.last,
        unreleased: args.unreleased,
        links: ctx.repository.clone().map(|r| (ctx.server_url.trim_end_matches('/').to_string(), r)),
    };
    let releases =
        changelog::build(&ws.repo, &ws.tags, &ws.notes, release_yml.as_ref(), ws.paths.as_ref(), &request)?;
    let text = match args.repo.format {
        Format::Json => to_json(&releases)?,
        Format::Markdown => template.render_changelog(&releases)?,
    };
    write_output(args.repo.output.as_deref(), &text)?;
    let mut outputs = empty_outputs();
    outputs
        .set("body", text)
        .set("commit_count", releases.iter().map(|r| r.release.commit_count).sum::<usize>().to_string());
    outputs.write(env)
}
