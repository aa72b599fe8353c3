//! DIDHub's data fixtures (`fixtures/data`) on every backend: they survive every migration up to
//! the newest and back, and 0013_lowercase_usernames transforms the usernames as it says.

use didhub_harness::backends;
use didhub_harness::check;
use didhub_harness::data::Fixture;
use didhub_harness::data_staircase::{self, DataStairs, FixtureRun};
use didhub_harness::migrations::MigrationSet;
use didhub_migrations::Backend;
use rstest_reuse::apply;

/// The version that lower-cases usernames.
const LOWERCASE_USERNAMES: i64 = 13;

async fn didhub_data_staircase(kind: Backend) -> DataStairs {
    let set = MigrationSet::load(&check::didhub_migrations(), kind)
        .await
        .unwrap();
    let fixtures = Fixture::load_all(&check::didhub_fixtures()).unwrap();
    data_staircase::walk(&set, &fixtures)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn run<'a>(stairs: &'a DataStairs, fixture: &str) -> &'a FixtureRun {
    stairs
        .runs
        .iter()
        .find(|r| r.fixture == fixture)
        .unwrap_or_else(|| panic!("no run of fixture {fixture}"))
}

fn strings(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

/// The fixtures load, every table's rows come back unchanged after each down, and 0013
/// lower-cases the capitalised usernames, keeping their spelling, and its down restores them.
#[apply(backends)]
#[tokio::test]
async fn fixtures_survive_and_usernames_are_lowercased(#[case] kind: Backend) {
    let stairs = didhub_data_staircase(kind).await;
    let names: Vec<&str> = stairs.runs.iter().map(|r| r.fixture.as_str()).collect();
    assert_eq!(names, ["v0004", "v0011"]);

    let foundation = run(&stairs, "v0004");
    let at_4 = &foundation.snapshots[&4];
    let counts: Vec<(&str, usize)> = at_4.iter().map(|(t, d)| (t.as_str(), d.count())).collect();
    assert_eq!(
        counts,
        [
            ("alters", 4),
            ("audit_logs", 4),
            ("systems", 2),
            ("users", 3)
        ]
    );
    for r in &stairs.runs {
        let newest = *r.snapshots.keys().last().unwrap();
        assert!(
            newest >= LOWERCASE_USERNAMES,
            "{}: newest {newest}",
            r.fixture
        );
        // On the way back down every version holds the data it held on the way up.
        for (version, restored) in &r.restored {
            assert_eq!(
                restored, &r.snapshots[version],
                "{} at {version}",
                r.fixture
            );
        }
        assert!(r.restored.contains_key(&r.version));
    }

    let legacy = run(&stairs, "v0011");
    // The version just below 13, whichever it is.
    let (&before, _) = legacy
        .snapshots
        .range(..LOWERCASE_USERNAMES)
        .next_back()
        .unwrap();
    let (users_before, users_after) = (
        &legacy.snapshots[&before]["users"],
        &legacy.snapshots[&LOWERCASE_USERNAMES]["users"],
    );
    assert_eq!(
        users_before.project(&strings(&["username"])),
        [
            r#"{"username":"Bea.Moss"}"#,
            r#"{"username":"CORVID_7"}"#,
            r#"{"username":"ada"}"#,
            r#"{"username":"dee-dee"}"#,
        ]
    );
    assert_eq!(
        users_after.project(&strings(&["username", "display_name"])),
        [
            r#"{"display_name":"Bea.Moss","username":"bea.moss"}"#,
            r#"{"display_name":"CORVID_7","username":"corvid_7"}"#,
            r#"{"display_name":null,"username":"ada"}"#,
            r#"{"display_name":null,"username":"dee-dee"}"#,
        ]
    );
    assert_eq!(
        legacy.restored[&before]["users"].hash, users_before.hash,
        "the down of {LOWERCASE_USERNAMES} restores the usernames"
    );
    assert!(
        legacy
            .expectations
            .contains(&(LOWERCASE_USERNAMES, "users".to_owned())),
        "{:?}",
        legacy.expectations
    );
}

/// The canonical rendering is dialect-independent: the same fixture gives the same hashes on
/// all three backends at every version.
#[cfg(feature = "containers")]
#[tokio::test]
async fn every_backend_holds_the_same_data_at_every_version() {
    let mut stairs = Vec::new();
    for kind in Backend::ALL {
        stairs.push(didhub_data_staircase(kind).await);
    }
    let drift = data_staircase::compare_backends(&stairs);
    assert!(
        drift.is_empty(),
        "{}",
        drift
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let hashes: Vec<&str> = stairs
        .iter()
        .map(|s| {
            run(s, "v0011").snapshots[&LOWERCASE_USERNAMES]["users"]
                .hash
                .as_str()
        })
        .collect();
    assert_eq!(hashes[0], hashes[1]);
    assert_eq!(hashes[1], hashes[2]);
}
