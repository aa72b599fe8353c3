//! A typed client generated from the OpenAPI document proves the document: progenitor reads
//! `fixtures/openapi.json` — what the server serves at `/api/openapi.json`, checked in and held to
//! it by `the_checked_in_document_is_the_served_one` — and the README's curl session runs through
//! the client against a real server on SQLite. A field the document forgets to make nullable, a
//! status it does not list or a type it misstates fails here as it would in any client generated
//! from it.

use didhub_harness::TestDatabase;
use didhub_migrations::Backend;
use didhub_server::Application;

use crate::support::{ADMIN, ADMIN_PASSWORD, test_config};

#[allow(
    clippy::all,
    clippy::pedantic,
    dead_code,
    unused_imports,
    missing_docs,
    unreachable_pub
)]
mod generated {
    progenitor::generate_api!(spec = "../fixtures/openapi.json", interface = Builder);
}

use generated::{Client, Error};

/// The README's session: register, log in as the administrator, make a system and an alter,
/// search, read the audit log; and a refusal comes back as the document's error body.
#[tokio::test]
async fn the_readme_session_runs_through_a_client_generated_from_the_document() {
    let database = TestDatabase::migrated(Backend::Sqlite, "didhub", Backend::Sqlite.migrator())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let server = Application::build(&test_config(&database, "").await)
        .await
        .unwrap();
    let base = format!("http://{}", server.local_addr());
    tokio::spawn(server.run_until_stopped());

    let anonymous = Client::new(&base);
    let robin = anonymous
        .post_auth_register()
        .body_map(|b| b.username("robin").password("a-long-passphrase"))
        .send()
        .await
        .unwrap();
    assert_eq!(robin.username.as_str(), "robin");
    assert!(!robin.is_approved);

    let login = anonymous
        .post_auth_login()
        .body_map(|b| b.username(ADMIN).password(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {}", login.token.as_str());
    headers.insert(reqwest::header::AUTHORIZATION, bearer.parse().unwrap());
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let admin = Client::new_with_client(&base, http);

    let system = admin
        .post_systems()
        .body_map(|b| b.name("Garden"))
        .send()
        .await
        .unwrap();
    let alter = admin
        .post_alters()
        .body_map(|b| b.system_id(system.id).name("Ash"))
        .send()
        .await
        .unwrap();
    assert_eq!(alter.name.as_str(), "Ash");
    assert_eq!(alter.description, None, "an empty optional field is null");

    let found = admin.get_alters_search().q("as").send().await.unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.items[0].id, alter.id);
    let audit = admin.get_audit().limit(5).send().await.unwrap();
    assert_eq!(audit.items.len(), 5);
    assert!(audit.total >= 5);

    // A refusal is the error body the document describes, with its status.
    match anonymous
        .post_auth_register()
        .body_map(|b| b.username("robin").password("another-passphrase"))
        .send()
        .await
    {
        Err(Error::ErrorResponse(refusal)) => {
            assert_eq!(refusal.status(), 409);
            assert_eq!(refusal.code.as_str(), "conflict");
        }
        other => panic!("registering robin twice: {other:?}"),
    }
}
