use didhub_server::config::{BootstrapAdmin, Secret};
use didhub_server::seed::{DEMO_PASSWORD, DEMO_SYSTEM, DEMO_USERNAME, SeedReport, seed};
use poem::http::StatusCode;

use crate::support::{ADMIN, ADMIN_PASSWORD, TestApp, backends, names};
use didhub_migrations::Backend;
use rstest_reuse::apply;

#[apply(backends)]
#[tokio::test]
async fn seeding_twice_changes_nothing_the_second_time(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = BootstrapAdmin {
        username: ADMIN.into(),
        password: Secret::new(ADMIN_PASSWORD),
    };
    let first = seed(&app.state, &admin).await.unwrap();
    assert_eq!(
        first,
        SeedReport {
            admin_created: false,
            demo_user_created: true,
            demo_system_created: true,
            alters_created: 3
        },
        "the admin already existed from startup"
    );
    let admin_token = app.admin_token().await;
    let audit_before = app
        .get("/api/audit?limit=1", &admin_token)
        .await
        .expect(StatusCode::OK)["total"]
        .clone();

    let second = seed(&app.state, &admin).await.unwrap();
    assert_eq!(second, SeedReport::default());
    let audit_after = app
        .get("/api/audit?limit=1", &admin_token)
        .await
        .expect(StatusCode::OK)["total"]
        .clone();
    assert_eq!(audit_before, audit_after, "nothing was written");

    let demo = app
        .login(DEMO_USERNAME, DEMO_PASSWORD)
        .await
        .expect(StatusCode::OK);
    let token = demo["token"].as_str().unwrap();
    assert_eq!(
        names(&app.get("/api/systems", token).await.expect(StatusCode::OK)),
        [DEMO_SYSTEM]
    );
    assert_eq!(
        names(&app.get("/api/alters", token).await.expect(StatusCode::OK)),
        ["Ash", "Briar", "Cedar"]
    );
}
