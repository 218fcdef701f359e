use super::*;
use super::{evaluate::*, parse::*, template::*};
use proptest::prelude::*;

const SHA: &str = "5d2f6c1e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d";
const SHORT: &str = "5d2f6c1";

fn instant(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// A context like a GitHub run: `main` is the default branch, the clock reads
/// 2020-01-10T00:30:00Z and the commit was made the day before.
fn run(event: &str, git_ref: &str) -> RuleContext {
    RuleContext {
        event_name: event.to_owned(),
        git_ref: git_ref.to_owned(),
        sha: SHA.to_owned(),
        default_branch: Some("main".to_owned()),
        now: instant("2020-01-10T00:30:00Z"),
        commit_time: Some(instant("2020-01-09T22:15:07Z")),
        ..RuleContext::default()
    }
}

fn push_branch(branch: &str) -> RuleContext {
    run("push", &format!("refs/heads/{branch}"))
}

/// A release version read from `tag` (any prefix before the version is kept as spelled).
fn release(tag: &str, highest: bool, in_major: bool, in_minor: bool) -> ReleaseVersion {
    let bare = tag.rsplit('/').next().unwrap().trim_start_matches('v');
    ReleaseVersion {
        version: Version::parse(bare).unwrap(),
        tag: tag.to_owned(),
        is_highest: highest,
        is_highest_in_major: in_major,
        is_highest_in_minor: in_minor,
    }
}

/// A tag push of the highest version.
fn push_tag(tag: &str) -> RuleContext {
    RuleContext {
        base_ref: Some("refs/heads/main".to_owned()),
        release: Some(release(tag, true, true, true)),
        ..run("push", &format!("refs/tags/{tag}"))
    }
}

/// A tag push of a tag that is not a version (relkit then has no release version).
fn push_other_tag(tag: &str) -> RuleContext {
    run("push", &format!("refs/tags/{tag}"))
}

fn pull_request() -> RuleContext {
    RuleContext {
        base_ref: Some("main".to_owned()),
        pr_number: Some(15),
        ..run("pull_request", "refs/pull/15/merge")
    }
}

fn pull_request_target() -> RuleContext {
    RuleContext {
        base_ref: Some("main".to_owned()),
        pr_number: Some(15),
        ..run("pull_request_target", "refs/heads/main")
    }
}

fn plan(ctx: &RuleContext, tags: &str, flavor: &str) -> Result<Evaluation> {
    evaluate(&parse_tags(tags)?, &parse_flavor(flavor)?, ctx)
}

fn check(name: &str, ctx: RuleContext, tags: &str, flavor: &str, expected: &[&str]) {
    let evaluation = plan(&ctx, tags, flavor).unwrap_or_else(|e| panic!("{name}: {e}"));
    let sha_expanded: Vec<String> =
        expected.iter().map(|t| t.replace("{SHORT}", SHORT).replace("{SHA}", SHA)).collect();
    assert_eq!(evaluation.tag_names(), sha_expanded, "{name}: tags");
    assert_eq!(evaluation.version.as_deref(), sha_expanded.first().map(String::as_str), "{name}: version");
}

#[test]
fn branch_pushes() {
    let cases: Vec<(&str, RuleContext, &str, &str, Vec<&str>)> = vec![
        ("default rules name the branch", push_branch("dev"), "", "", vec!["dev"]),
        ("edge on the default branch", push_branch("main"), "type=edge", "", vec!["edge"]),
        (
            "edge on a dispatch from the default branch",
            run("workflow_dispatch", "refs/heads/main"),
            "type=edge",
            "",
            vec!["edge"],
        ),
        (
            "branch and short sha",
            push_branch("dev"),
            "type=ref,event=branch\ntype=sha",
            "",
            vec!["dev", "sha-{SHORT}"],
        ),
        (
            "edge for a named branch",
            push_branch("dev"),
            "type=edge,branch=dev\ntype=sha",
            "",
            vec!["edge", "sha-{SHORT}"],
        ),
        (
            "edge for another branch is skipped",
            push_branch("main"),
            "type=edge,branch=dev\ntype=sha",
            "",
            vec!["sha-{SHORT}"],
        ),
        (
            "invalid characters are replaced",
            push_branch("my/feature#1245"),
            "type=ref,event=branch",
            "",
            vec!["my-feature-1245"],
        ),
        (
            "edge skipped off the default branch",
            push_branch("my/feature#1245"),
            "type=edge\ntype=sha",
            "",
            vec!["sha-{SHORT}"],
        ),
        (
            "semver without a version gives nothing",
            push_branch("my/feature#1245"),
            "type=semver,pattern={{version}}\ntype=edge",
            "",
            vec![],
        ),
        (
            "priority reorders",
            push_branch("main"),
            "type=ref,priority=2000,event=branch\ntype=edge",
            "",
            vec!["main", "edge"],
        ),
        (
            "semver from value=",
            push_branch("main"),
            "type=semver,pattern={{version}},value=v1.2.3\ntype=edge",
            "",
            vec!["1.2.3", "edge", "latest"],
        ),
        (
            "match from value=",
            push_branch("main"),
            "type=match,pattern=v(.*),group=1,value=v1.2.3\ntype=edge",
            "",
            vec!["1.2.3", "edge", "latest"],
        ),
        (
            "disabled rule",
            push_branch("main"),
            "type=match,enable=false,pattern=v(.*),group=1,value=v1.2.3\ntype=edge",
            "",
            vec!["edge"],
        ),
        (
            "global expressions",
            push_branch("main"),
            "type=raw,value=t-{{branch}}\ntype=raw,value=t-{{date 'YYYYMMDD'}}\ntype=raw,value=t-cd-{{commit_date 'YYYYMMDD'}}\n\
             type=raw,value=t-{{date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}\ntype=raw,value=t-tag-{{tag}}\n\
             type=raw,value=t-base-{{base_ref}}\ntype=raw,value=t-default,enable={{is_default_branch}}",
            "",
            vec![
                "t-main",
                "t-20200110",
                "t-cd-20200109",
                "t-20200110-093000",
                "t-tag-",
                "t-base-",
                "t-default",
            ],
        ),
        (
            "long sha",
            push_branch("dev"),
            "type=ref,event=branch\ntype=sha,format=long",
            "",
            vec!["dev", "sha-{SHA}"],
        ),
        (
            "disabled branch rule falls through to the sha",
            push_branch("dev"),
            "type=edge,branch=main\ntype=ref,event=branch,enable=false\ntype=sha,format=long\ntype=raw,value=default,enable={{is_default_branch}}",
            "",
            vec!["sha-{SHA}"],
        ),
        (
            "is_not_default_branch",
            push_branch("dev"),
            "type=edge,branch=main\ntype=sha,format=long\ntype=raw,value=notdefault,enable={{is_not_default_branch}}",
            "",
            vec!["notdefault", "sha-{SHA}"],
        ),
        (
            "sha length is configurable",
            RuleContext { short_sha_length: 12, ..push_branch("dev") },
            "type=sha\ntype=raw,value=x-{{sha}}",
            "",
            vec!["x-5d2f6c1e9a8b", "sha-5d2f6c1e9a8b"],
        ),
        (
            "bare values are raw tags",
            push_branch("dev"),
            "type=ref,event=branch\nmy\ntype=raw,custom\ntype=raw,value=tags",
            "",
            vec!["dev", "my", "custom", "tags"],
        ),
        (
            "comments and blank lines",
            push_branch("dev"),
            "# a comment\n\n  type=ref,event=branch  \n",
            "",
            vec!["dev"],
        ),
        (
            "empty value is skipped",
            push_branch("dev"),
            "type=raw,value={{tag}}\ntype=sha",
            "",
            vec!["sha-{SHORT}"],
        ),
    ];
    for (name, ctx, tags, flavor, expected) in cases {
        check(name, ctx, tags, flavor, &expected);
    }
}

#[test]
fn tag_pushes() {
    let prerelease = || RuleContext {
        release: Some(release("v2.0.8-beta.67", false, false, false)),
        ..push_tag("v2.0.8-beta.67")
    };
    let monorepo = || push_tag("p1/v1.0.0");
    let cases: Vec<(&str, RuleContext, &str, &str, Vec<&str>)> = vec![
        ("default rules on a release tag", push_tag("v1.1.1"), "", "", vec!["v1.1.1", "latest"]),
        (
            "default rules on a tag that is not a version",
            push_other_tag("release1"),
            "",
            "",
            vec!["release1", "latest"],
        ),
        (
            "match digits, no latest",
            push_other_tag("20200110-RC2"),
            "type=match,pattern=\\d{8}",
            "latest=false",
            vec!["20200110"],
        ),
        (
            "match group",
            push_other_tag("20200110-RC2"),
            "type=match,pattern=(.*)-RC,group=1",
            "latest=false",
            vec!["20200110"],
        ),
        (
            "match the version",
            push_tag("v1.1.1"),
            "type=match,\"pattern=\\d.\\d.\\d\"",
            "",
            vec!["1.1.1", "latest"],
        ),
        (
            "match anchored",
            push_tag("v1.1.1"),
            "type=match,\"pattern=^v(\\d.\\d.\\d)$\",group=1",
            "",
            vec!["1.1.1", "latest"],
        ),
        ("match on a prerelease", prerelease(), "type=match,\"pattern=\\d.\\d\"", "", vec!["2.0"]),
        (
            "two groups of one match",
            prerelease(),
            "type=match,\"pattern=v(.*)-beta.(.*)\",group=1\ntype=match,\"pattern=v(.*)-beta.(.*)\",group=2",
            "",
            vec!["2.0.8", "67"],
        ),
        (
            "match that does not match",
            push_other_tag("sometag"),
            "type=match,\"pattern=\\d.\\d\"",
            "",
            vec![],
        ),
        (
            "semver version, minor and major",
            push_tag("v1.1.1"),
            "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}\ntype=semver,pattern={{major}}",
            "",
            vec!["1.1.1", "1.1", "1", "latest"],
        ),
        (
            "duplicates collapse",
            push_tag("v1.1.1"),
            "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}.{{patch}}",
            "",
            vec!["1.1.1", "latest"],
        ),
        (
            "a prerelease only gets its version",
            prerelease(),
            "type=semver,pattern={{major}}.{{minor}}\ntype=semver,pattern={{major}}",
            "",
            vec!["2.0.8-beta.67"],
        ),
        (
            "a prerelease keeps {{raw}}",
            prerelease(),
            "type=semver,pattern={{raw}}",
            "",
            vec!["v2.0.8-beta.67"],
        ),
        (
            "raw with spaces",
            push_tag("v1.1.1"),
            "type=semver,pattern={{ raw }}",
            "",
            vec!["v1.1.1", "latest"],
        ),
        (
            "a higher priority raw tag decides latest",
            prerelease(),
            "type=raw,priority=2000,foo\ntype=semver,pattern={{version}}\ntype=match,\"pattern=\\d.\\d\"",
            "",
            vec!["foo", "2.0.8-beta.67", "2.0"],
        ),
        (
            "first producing rule decides latest",
            push_tag("v1.1.1"),
            "type=raw,priority=2000,foo\ntype=ref,event=tag\ntype=edge",
            "",
            vec!["foo", "v1.1.1"],
        ),
        (
            "monorepo tag with several match rules",
            monorepo(),
            "type=match,\"pattern=/^v(\\d.\\d.\\d)$/ig\",group=1\ntype=match,pattern=\\d.\\d.\\d\ntype=match,pattern=\\d.\\d\n\
             type=ref,event=pr\ntype=sha",
            "",
            vec!["1.0.0", "1.0", "sha-{SHORT}", "latest"],
        ),
        (
            "monorepo tag with a missing group",
            monorepo(),
            "type=match,pattern=p1/v(\\d.\\d.\\d),group=1\ntype=match,pattern=p1/v(\\d.\\d),group=1\n\
             type=match,pattern=p1/v(\\d.\\d),group=3\ntype=sha",
            "",
            vec!["1.0.0", "1.0", "sha-{SHORT}", "latest"],
        ),
        (
            "flavor suffix unless the rule sets one",
            monorepo(),
            "type=match,pattern=p1/v(\\d.\\d.\\d),group=1\ntype=match,pattern=p1/v(\\d.\\d),group=1,suffix=\ntype=sha",
            "suffix=-dev",
            vec!["1.0.0-dev", "1.0", "sha-{SHORT}-dev", "latest"],
        ),
        (
            "expressions on a tag",
            push_tag("v1.1.1"),
            "type=raw,{{tag}}-{{sha}}-foo\ntype=raw,{{base_ref}}-foo\ntype=raw,default-foo,enable={{is_default_branch}}",
            "",
            vec!["v1.1.1-{SHORT}-foo", "main-foo"],
        ),
        (
            "suffix on latest",
            push_tag("v1.1.1"),
            "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}.{{patch}}",
            "suffix=-dev,onlatest=true",
            vec!["1.1.1-dev", "latest-dev"],
        ),
        (
            "prefix and suffix on latest",
            push_tag("v1.1.1"),
            "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}.{{patch}}",
            "prefix=foo-,onlatest=true\nsuffix=-dev,onlatest=true",
            vec!["foo-1.1.1-dev", "foo-latest-dev"],
        ),
        (
            "semver match= on a monorepo tag",
            monorepo(),
            "type=semver,pattern={{version}},\"match=v(\\d.\\d.\\d)$\"",
            "",
            vec!["1.0.0", "latest"],
        ),
        (
            "semver value= with match= on a branch",
            push_branch("main"),
            "type=semver,pattern={{version}},value=p1/v1.2.3,\"match=v(\\d.\\d.\\d)$\"\ntype=edge",
            "",
            vec!["1.2.3", "edge", "latest"],
        ),
        ("latest=false", push_tag("v1.1.1"), "type=ref,event=tag", "latest=false", vec!["v1.1.1"]),
        (
            "latest=true for every tag",
            push_branch("dev"),
            "type=ref,priority=90,event=branch\ntype=raw,my\ntype=raw,custom",
            "latest=true",
            vec!["my", "custom", "dev", "latest"],
        ),
        (
            "rule prefix and suffix beat the flavor's",
            push_branch("dev"),
            "type=match,pattern=\\d{8}\ntype=raw,my,prefix=foo-,suffix=-bar\ntype=raw,custom",
            "latest=false\nprefix=glo-\nsuffix=-bal",
            vec!["foo-my-bar", "glo-custom-bal"],
        ),
        (
            "enable true and false",
            push_branch("dev"),
            "type=raw,foo\ntype=raw,bar,enable=false\ntype=raw,baz,enable=true",
            "",
            vec!["foo", "baz"],
        ),
    ];
    for (name, ctx, tags, flavor, expected) in cases {
        check(name, ctx, tags, flavor, &expected);
    }
}

#[test]
fn pull_requests_schedules_and_releases() {
    let schedule = || run("schedule", "refs/heads/main");
    let release_event =
        || RuleContext { event_name: "release".to_owned(), base_ref: None, ..push_tag("v1.1.1") };
    let cases: Vec<(&str, RuleContext, &str, &str, Vec<&str>)> = vec![
        ("default rules on a pull request", pull_request(), "", "", vec!["pr-15"]),
        ("pr and sha", pull_request(), "type=ref,event=pr\ntype=sha", "", vec!["pr-15", "sha-{SHORT}"]),
        (
            "sha first",
            pull_request(),
            "type=sha,priority=2000\ntype=ref,event=pr",
            "",
            vec!["sha-{SHORT}", "pr-15"],
        ),
        (
            "pr keeps its prefix, takes the flavor suffix",
            pull_request(),
            "type=ref,event=pr",
            "prefix=glo-\nsuffix=-bal",
            vec!["pr-15-bal"],
        ),
        (
            "pr with an empty prefix",
            pull_request(),
            "type=ref,event=pr,prefix=",
            "prefix=glo-\nsuffix=-bal",
            vec!["15-bal"],
        ),
        (
            "pull_request_target uses the pr ref",
            pull_request_target(),
            "type=sha,priority=2000\ntype=ref,event=pr",
            "",
            vec!["sha-{SHORT}", "pr-15"],
        ),
        (
            "pull_request_target has no branch",
            pull_request_target(),
            "type=ref,event=tag\ntype=ref,event=pr\ntype=ref,event=branch\ntype=sha\ntype=sha,format=long",
            "",
            vec!["pr-15", "sha-{SHORT}", "sha-{SHA}"],
        ),
        (
            "base_ref of a pull request",
            pull_request(),
            "type=raw,value=t-{{base_ref}}\ntype=raw,t-default,enable={{is_default_branch}}",
            "",
            vec!["t-main"],
        ),
        ("default rules on a schedule", schedule(), "", "", vec!["nightly", "main"]),
        (
            "schedule date patterns",
            schedule(),
            "type=schedule,pattern={{date 'YYYYMMDD'}}\ntype=schedule,pattern=src-{{commit_date 'YYYY-MM-DD'}}",
            "",
            vec!["20200110", "src-2020-01-09"],
        ),
        (
            "schedule time",
            schedule(),
            "type=schedule,pattern={{date 'YYYYMMDD-HHmmss'}}",
            "",
            vec!["20200110-003000"],
        ),
        (
            "schedule is a default-branch event",
            schedule(),
            "type=schedule\ntype=sha,priority=2000\ntype=raw,value=default,enable={{is_default_branch}}",
            "",
            vec!["sha-{SHORT}", "nightly", "default"],
        ),
        (
            "schedule with the flavor",
            schedule(),
            "type=schedule",
            "prefix=glo-\nsuffix=-bal",
            vec!["glo-nightly-bal"],
        ),
        (
            "schedule in a time zone",
            schedule(),
            "type=schedule,pattern={{date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}\n\
             type=schedule,\"pattern=src-{{commit_date 'YYYYMMDD-HHmmss' tz=\"\"Asia/Tokyo\"\"}}\"",
            "",
            vec!["20200110-093000", "src-20200110-071507"],
        ),
        (
            "schedule rules wait for a schedule",
            push_branch("main"),
            "type=schedule\ntype=sha",
            "",
            vec!["sha-{SHORT}"],
        ),
        ("default rules on a release", release_event(), "", "", vec!["v1.1.1", "latest"]),
        (
            "release with expressions",
            release_event(),
            "type=ref,event=tag\ntype=raw,value=base-{{base_ref}}\ntype=raw,value=default,enable={{is_default_branch}}",
            "",
            vec!["v1.1.1", "base-", "latest"],
        ),
        (
            "dates without a format are ISO 8601",
            release_event(),
            "type=raw,value={{commit_date}}\ntype=raw,value={{date tz='Asia/Tokyo'}}",
            "",
            vec!["2020-01-09T22-15-07Z", "2020-01-10T09-30-00-09-00"],
        ),
    ];
    for (name, ctx, tags, flavor, expected) in cases {
        check(name, ctx, tags, flavor, &expected);
    }
}

/// The places where relkit deliberately differs from metadata-action.
#[test]
fn deliberate_differences() {
    let hotfix = || RuleContext { release: Some(release("v1.9.1", false, true, true)), ..push_tag("v1.9.1") };
    let old_minor =
        || RuleContext { release: Some(release("v1.8.5", false, false, true)), ..push_tag("v1.8.5") };
    let dispatch = || RuleContext {
        release: Some(release("v1.2.3", true, true, true)),
        ..run("workflow_dispatch", "refs/heads/main")
    };
    let semver3 = "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}\ntype=semver,pattern={{major}}";
    let cases: Vec<(&str, RuleContext, &str, &str, Vec<&str>)> = vec![
        ("hotfix below the highest: no latest", hotfix(), semver3, "", vec!["1.9.1", "1.9", "1"]),
        ("old minor: no major tag", old_minor(), semver3, "", vec!["1.8.5", "1.8"]),
        ("ref tag of a hotfix: no latest", hotfix(), "type=ref,event=tag", "", vec!["v1.9.1"]),
        ("match on a hotfix: no latest", hotfix(), "type=match,pattern=\\d.\\d.\\d", "", vec!["1.9.1"]),
        (
            "latest=true still forces latest",
            hotfix(),
            "type=ref,event=tag",
            "latest=true",
            vec!["v1.9.1", "latest"],
        ),
        ("semver on workflow_dispatch", dispatch(), semver3, "", vec!["1.2.3", "1.2", "1", "latest"]),
        ("ref tag needs a tag ref", dispatch(), "type=ref,event=tag\ntype=sha", "", vec!["sha-{SHORT}"]),
        (
            "match on workflow_dispatch",
            dispatch(),
            "type=match,pattern=v(.*),group=1",
            "",
            vec!["1.2.3", "latest"],
        ),
        (
            "a fixed semver pattern is a floating tag",
            hotfix(),
            "type=semver,pattern={{version}}\ntype=semver,pattern=stable",
            "",
            vec!["1.9.1"],
        ),
        (
            "a value= version is ranked against existing versions",
            RuleContext {
                existing_versions: vec![Version::new(1, 2, 0), Version::parse("2.0.0-rc.1").unwrap()],
                ..push_branch("main")
            },
            "type=semver,pattern={{version}},value=v1.0.4\ntype=semver,pattern={{major}}\ntype=semver,pattern={{major}}.{{minor}},value=v1.0.4",
            "",
            vec!["1.0.4", "1.0"],
        ),
        (
            "build metadata: {{version}} drops it, {{raw}} spells + as _",
            push_tag("v1.2.3+build.5"),
            "type=semver,pattern={{version}}\ntype=semver,pattern={{raw}}",
            "",
            vec!["1.2.3", "v1.2.3_build.5", "latest"],
        ),
        (
            "quoted commas stay in the pattern",
            push_other_tag("r12x"),
            "type=match,\"pattern=\\d{1,2}\"",
            "latest=false",
            vec!["12"],
        ),
    ];
    for (name, ctx, tags, flavor, expected) in cases {
        check(name, ctx, tags, flavor, &expected);
    }
}

#[test]
fn match_warnings_name_the_rule() {
    let evaluation = plan(
        &push_tag("p1/v1.0.0"),
        "type=match,pattern=p1/v(\\d.\\d),group=3\ntype=match,pattern=^nope",
        "",
    )
    .unwrap();
    assert!(evaluation.tags.is_empty());
    assert_eq!(evaluation.warnings.len(), 2, "{:?}", evaluation.warnings);
    assert!(evaluation.warnings[0].contains("group 3 does not exist"), "{:?}", evaluation.warnings);
    assert!(evaluation.warnings[1].contains("does not match \"p1/v1.0.0\""), "{:?}", evaluation.warnings);
}

#[test]
fn evaluation_errors() {
    let too_long = format!("type=raw,value={}", "x".repeat(129));
    let cases: Vec<(&str, RuleContext, &str, &str)> = vec![
        (
            "not a version",
            push_other_tag("sometag"),
            "type=ref,event=tag\ntype=semver,pattern={{version}}",
            "\"sometag\" is not a valid SemVer",
        ),
        (
            "partial version value",
            push_branch("main"),
            "type=semver,pattern={{version}},value=1.2",
            "\"1.2\" is not a valid SemVer",
        ),
        (
            "match= that does not match",
            push_tag("v1.2.3"),
            "type=semver,pattern={{version}},match=x(\\d+)",
            "does not match \"v1.2.3\"",
        ),
        (
            "enable must be a boolean",
            push_branch("dev"),
            "type=raw,value=a,enable={{branch}}",
            "enable= must render true or false, got \"dev\"",
        ),
        ("tag too long", push_branch("dev"), &too_long, "registries accept at most 128"),
        ("tag starts with a dash", push_branch("#1-fix"), "type=ref,event=branch", "starts with \"-\""),
        (
            "edge without a default branch",
            RuleContext { default_branch: None, ..push_branch("dev") },
            "type=edge",
            "name it with type=edge,branch=main",
        ),
    ];
    for (name, ctx, tags, message) in cases {
        let error = plan(&ctx, tags, "").expect_err(name);
        assert_eq!(error.exit_code(), 2, "{name}");
        assert!(error.message().contains(message), "{name}: {error}");
        assert!(!error.message().contains('\n'), "{name}: one line");
    }
}

#[test]
fn rules_are_sorted_by_priority_keeping_input_order() {
    let rules = parse_tags(
        "type=ref,event=branch\ntype=ref,event=tag\ntype=ref,event=pr\ntype=schedule\ntype=sha\ntype=raw,foo\n\
         type=edge\ntype=semver,pattern={{version}}\ntype=match,\"pattern=\\d.\\d.\\d\",group=0",
    )
    .unwrap();
    let order: Vec<(RuleType, i64)> = rules.iter().map(|rule| (rule.rule_type, rule.priority)).collect();
    assert_eq!(
        order,
        vec![
            (RuleType::Schedule, 1000),
            (RuleType::Semver, 900),
            (RuleType::Match, 800),
            (RuleType::Edge, 700),
            (RuleType::Ref, 600),
            (RuleType::Ref, 600),
            (RuleType::Ref, 600),
            (RuleType::Raw, 200),
            (RuleType::Sha, 100),
        ]
    );
    let events: Vec<RefEvent> = rules
        .iter()
        .filter_map(|rule| match rule.kind {
            RuleKind::Ref { event } => Some(event),
            _ => None,
        })
        .collect();
    assert_eq!(events, vec![RefEvent::Branch, RefEvent::Tag, RefEvent::Pr]);
}

#[test]
fn empty_tags_input_gives_the_defaults() {
    let rules = parse_tags("  \n# nothing\n").unwrap();
    let types: Vec<RuleType> = rules.iter().map(|rule| rule.rule_type).collect();
    assert_eq!(types, vec![RuleType::Schedule, RuleType::Ref, RuleType::Ref, RuleType::Ref]);
}

#[test]
fn parsed_attributes_and_defaults() {
    let rule = |text: &str| parse_tags(text).unwrap().iter().next().unwrap().clone();
    let sha = rule("type=sha");
    assert_eq!(sha.prefix, Some(Template::literal("sha-")));
    assert!(matches!(sha.kind, RuleKind::Sha { format: ShaFormat::Short }));
    assert_eq!(rule("type=sha,prefix=").prefix, Some(Template::default()));
    assert!(matches!(rule("type=sha,format=long").kind, RuleKind::Sha { format: ShaFormat::Long }));
    assert_eq!(rule("type=ref,event=pr").prefix, Some(Template::literal("pr-")));
    assert_eq!(rule("type=ref,event=branch").prefix, None);
    assert_eq!(rule("type=semver,priority=1,pattern={{version}}").priority, 1);
    assert_eq!(rule("type=raw,priority=-5,x").priority, -5);
    assert!(matches!(rule("type=match,pattern=v(.*),group=1").kind, RuleKind::Match { group: 1, .. }));
    assert!(
        matches!(rule("type=edge,branch=master").kind, RuleKind::Edge { branch: Some(ref b) } if b == "master")
    );
    assert!(
        matches!(rule("type=schedule").kind, RuleKind::Schedule { ref pattern } if *pattern == Template::literal("nightly"))
    );
    assert!(
        matches!(rule("type=raw, \"value=a\"\"b,c\" ").kind, RuleKind::Raw { ref value } if *value == Template::literal("a\"b,c"))
    );
    assert_eq!(rule("acustomtag").rule_type, RuleType::Raw);
    assert_eq!(rule("TYPE=raw, Value = spaced ").text, "TYPE=raw, Value = spaced");
    assert!(
        matches!(rule("TYPE=raw, Value = spaced ").kind, RuleKind::Raw { ref value } if *value == Template::literal("spaced"))
    );
}

#[test]
fn bad_rules_are_one_line_usage_errors() {
    let cases = [
        ("type=semver", "missing pattern="),
        ("type=match", "missing pattern="),
        ("type=foo", "unknown type \"foo\""),
        ("type=Semver,pattern={{version}}", "unknown type \"Semver\""),
        ("type=pep440,pattern={{version}}", "use type=semver"),
        ("type=sha,format=foo", "format must be short or long"),
        ("type=ref", "missing event="),
        ("type=ref,event=foo", "event must be branch, tag or pr"),
        ("type=raw", "missing value="),
        ("type=match,pattern=v(.*),group=foo", "group= must be a capture group number"),
        ("type=sha,formt=long", "unknown attribute \"formt\""),
        ("type=raw,value=a\"b", "quote inside an unquoted field"),
        ("type=raw,\"value=a", "quoted field is not closed"),
        ("type=raw,value={{brnach}}", "unknown expression {{brnach}}"),
        ("type=raw,value={{branch", "without a closing }}"),
        ("type=schedule,pattern={{branch}}", "unknown expression {{branch}}"),
        ("type=semver,pattern={{branch}}", "expected one of {{raw}} {{version}}"),
        ("type=raw,value={{date YYYYMMDD}}", "must be quoted"),
        ("type=raw,value={{date 'YYYY' tz='Mars/Olympus'}}", "unknown time zone \"Mars/Olympus\""),
        ("type=raw,value={{date 'YYYY' zone='UTC'}}", "unexpected argument"),
        ("type=raw,value={{sha 'x'}}", "takes no arguments"),
        ("type=raw,x,priority=high", "priority= must be an integer"),
        ("type=match,pattern=(unclosed", "not a supported regular expression"),
        ("type=match,pattern=/a/y", "flag 'y' is not supported"),
        ("type=raw,value={{date 'dddd, MMMM Do'}}", "value= is given twice"),
        ("type=sha,type=raw", "type= is given twice"),
        ("type=semver,pattern={{version}},match=v\\d", "needs a capture group"),
    ];
    for (text, message) in cases {
        let error = parse_tags(text).expect_err(text);
        assert_eq!(error.exit_code(), 2, "{text}");
        assert!(error.message().contains(message), "{text}: {error}");
        assert!(error.message().contains(&format!("{text:?}")), "{text}: names the rule: {error}");
        assert!(error.message().contains("expected"), "{text}: says the expected form: {error}");
    }
}

#[test]
fn flavors() {
    let ok = [
        ("latest=true", LatestMode::Always, "", false, "", false),
        ("latest=false", LatestMode::Never, "", false, "", false),
        ("latest=auto", LatestMode::Auto, "", false, "", false),
        ("prefix=sha-", LatestMode::Auto, "sha-", false, "", false),
        ("suffix=-alpine", LatestMode::Auto, "", false, "-alpine", false),
        ("latest=false\nprefix=dev-\nsuffix=-alpine", LatestMode::Never, "dev-", false, "-alpine", false),
        ("prefix=dev-,onlatest=true", LatestMode::Auto, "dev-", true, "", false),
        ("suffix=-alpine,onlatest=true", LatestMode::Auto, "", false, "-alpine", true),
        (
            "prefix=dev-,onlatest=true\nsuffix=-alpine,onlatest=true",
            LatestMode::Auto,
            "dev-",
            true,
            "-alpine",
            true,
        ),
    ];
    for (input, latest, prefix, prefix_on_latest, suffix, suffix_on_latest) in ok {
        let flavor = parse_flavor(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(flavor.latest, latest, "{input}");
        assert_eq!(flavor.prefix, Template::parse(prefix, Scope::Global).unwrap(), "{input}");
        assert_eq!(flavor.prefix_on_latest, prefix_on_latest, "{input}");
        assert_eq!(flavor.suffix, Template::parse(suffix, Scope::Global).unwrap(), "{input}");
        assert_eq!(flavor.suffix_on_latest, suffix_on_latest, "{input}");
    }
    let bad = [
        ("randomstr\nlatest=auto", "is not key=value"),
        ("unknwown=foo", "unknown key"),
        ("latest", "is not key=value"),
        ("latest=foo", "latest must be auto, true or false"),
        ("prefix=a,onlatest=yes", "onlatest must be true or false"),
        ("onlatest=true", "must follow prefix= or suffix="),
    ];
    for (input, message) in bad {
        let error = parse_flavor(input).expect_err(input);
        assert_eq!(error.exit_code(), 2);
        assert!(error.message().contains(message), "{input}: {error}");
    }
}

#[test]
fn image_tags_follow_metadata_action() {
    let evaluation = plan(&push_tag("v1.1.1"), "type=semver,pattern={{version}}", "").unwrap();
    assert_eq!(
        evaluation.image_tags(&["org/app", "ghcr.io/MyUser/MyApp"]),
        vec!["org/app:1.1.1", "org/app:latest", "ghcr.io/myuser/myapp:1.1.1", "ghcr.io/myuser/myapp:latest"]
    );
    assert_eq!(evaluation.image_tags(&[]), vec!["1.1.1", "latest"]);
    assert!(evaluation.tags[1].is_latest && !evaluation.tags[0].is_latest);
    assert_eq!(evaluation.tags[0].priority, 900);
}

#[test]
fn moment_formats() {
    // Friday 10 January 2020, 00:30:00.042 UTC.
    let at = instant("2020-01-10T00:30:00.042Z");
    let cases = [
        ("YYYYMMDD", None, "20200110"),
        ("dddd, MMMM Do YYYY, h:mm:ss a", None, "Friday, January 10th 2020, 12:30:00 am"),
        ("YYYYMMDD-HHmmss", Some("Asia/Tokyo"), "20200110-093000"),
        ("YY-M-D H:m:s A", Some("America/New_York"), "20-1-9 19:30:0 PM"),
        ("ddd DDD DDDD Q W WW GGGG w gggg E d", None, "Fri 10 010 1 2 02 2020 2 2020 5 5"),
        ("SSS S SSSS X x", None, "042 0 0420 1578616200 1578616200042"),
        ("[week] W, ZZ Z z", Some("Asia/Kolkata"), "week 2, +0530 +05:30 IST"),
        ("LL \\Y", None, "January 10, 2020 Y"),
        ("kk hh", None, "24 12"),
    ];
    for (format, zone, expected) in cases {
        assert_eq!(moment::format(at, Some(format), zone).unwrap(), expected, "{format}");
    }
    assert_eq!(moment::format(at, None, None).unwrap(), "2020-01-10T00:30:00Z");
    assert_eq!(moment::format(at, None, Some("Asia/Tokyo")).unwrap(), "2020-01-10T09:30:00+09:00");
    // Week numbers around the new year: 1 January 2021 is a Friday in ISO week 53 of 2020
    // and in locale week 1 of 2021.
    let new_year = instant("2021-01-01T12:00:00Z");
    assert_eq!(moment::format(new_year, Some("W GGGG w gggg"), None).unwrap(), "53 2020 1 2021");
}

#[test]
fn short_sha_length_values() {
    assert_eq!(parse_short_sha_length("12").unwrap(), 12);
    for bad in ["0", "", "abc", "-3"] {
        assert_eq!(parse_short_sha_length(bad).unwrap_err().exit_code(), 2, "{bad:?}");
    }
}

#[test]
fn sanitizing_replaces_runs() {
    assert_eq!(sanitize_tag("my/feature#1245"), "my-feature-1245");
    assert_eq!(sanitize_tag("a//b  c"), "a-b-c");
    assert_eq!(sanitize_tag("v1.2.3_x-y"), "v1.2.3_x-y");
    assert_eq!(sanitize_tag("é"), "-");
}

fn arbitrary_context() -> impl Strategy<Value = RuleContext> {
    (
        "[a-z_]{0,20}",
        prop_oneof![
            "refs/heads/[ -~]{0,20}",
            "refs/tags/v?[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-[a-z0-9.]{1,8})?",
            "refs/pull/[0-9]{1,4}/merge",
            "[ -~]{0,30}",
        ],
        "[0-9a-f]{0,40}",
        proptest::option::of("[ -~]{0,12}"),
        0usize..50,
        any::<i32>(),
        prop_oneof![
            Just(Dialect::Relkit),
            any::<bool>().prop_map(|highest_only| Dialect::Compatible { highest_only })
        ],
    )
        .prop_map(|(event_name, git_ref, sha, default_branch, short_sha_length, seconds, dialect)| {
            RuleContext {
                event_name,
                git_ref,
                sha,
                default_branch,
                short_sha_length,
                now: Timestamp::from_second(i64::from(seconds)).unwrap(),
                dialect,
                ..RuleContext::default()
            }
        })
}

fn rule_like_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~\n]{0,120}",
        proptest::collection::vec(
            prop_oneof![
                Just("type=".to_owned()),
                Just("semver".to_owned()),
                Just("match".to_owned()),
                Just("raw".to_owned()),
                Just("sha".to_owned()),
                Just("ref".to_owned()),
                Just("edge".to_owned()),
                Just("schedule".to_owned()),
                Just(",pattern=".to_owned()),
                Just(",value=".to_owned()),
                Just(",event=".to_owned()),
                Just(",enable=".to_owned()),
                Just(",prefix=".to_owned()),
                Just("{{".to_owned()),
                Just("}}".to_owned()),
                Just("{{date '".to_owned()),
                Just("' tz='".to_owned()),
                Just("\"".to_owned()),
                Just("\n".to_owned()),
                "[ -~]{0,6}",
            ],
            0..16,
        )
        .prop_map(|parts| parts.concat()),
    ]
}

proptest! {
    /// Arbitrary `tags:`/`flavor:` input never panics; it parses or is a usage error, and
    /// whatever parses evaluates without panicking against arbitrary contexts.
    #[test]
    fn parsing_and_evaluating_never_panic(tags in rule_like_text(), flavor in rule_like_text(), ctx in arbitrary_context()) {
        match parse_tags(&tags) {
            Ok(rules) => {
                if let Ok(flavor) = parse_flavor(&flavor)
                    && let Ok(evaluation) = evaluate(&rules, &flavor, &ctx)
                {
                    for tag in &evaluation.tags {
                        prop_assert!(!tag.name.is_empty() && tag.name.len() <= MAX_TAG_LENGTH);
                        prop_assert!(tag.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
                    }
                }
            }
            Err(error) => {
                prop_assert_eq!(error.exit_code(), 2);
                prop_assert!(!error.message().contains('\n'));
            }
        }
    }
}

#[test]
fn spellings_of_expression_values_and_flavors() {
    let compatible =
        |ctx: RuleContext| RuleContext { dialect: Dialect::Compatible { highest_only: true }, ..ctx };
    for ctx in [push_branch("a&b"), compatible(push_branch("a&b"))] {
        // A flavor value keeps everything after the first `=` (metadata-action: `a`).
        check("flavor a=b", ctx, "type=raw,value=x", "prefix=a=b", &["a-bx"]);
    }
    // Handlebars HTML-escapes `{{…}}` (not `{{{…}}}`): the compatible dialect does too.
    check("HTML escaping", compatible(push_branch("a&b")), "type=raw,value={{branch}}", "", &["a-amp-b"]);
    check("triple stash", compatible(push_branch("a&b")), "type=raw,value={{{branch}}}", "", &["a-b"]);
    check("relkit does not escape", push_branch("a&b"), "type=raw,value={{branch}}", "", &["a-b"]);
}

#[test]
fn the_compatible_dialect_warns_where_relkit_fails() {
    let ctx =
        RuleContext { dialect: Dialect::Compatible { highest_only: true }, ..push_other_tag("sometag") };
    let evaluation = plan(&ctx, "type=semver,pattern={{version}}", "").unwrap();
    assert!(evaluation.tags.is_empty());
    assert!(evaluation.warnings[0].contains("not a valid semver"), "{:?}", evaluation.warnings);
    assert!(plan(&push_other_tag("sometag"), "type=semver,pattern={{version}}", "").is_err());
    let branch =
        RuleContext { dialect: Dialect::Compatible { highest_only: false }, ..push_branch("#12-fix") };
    check("registry-refused tags pass", branch, "type=ref,event=branch", "", &["-12-fix"]);
    assert!(plan(&push_branch("#12-fix"), "type=ref,event=branch", "").is_err());
}
