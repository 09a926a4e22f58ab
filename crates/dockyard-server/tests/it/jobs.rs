//! The job API in process: `GET /api/v1/jobs/{job}` and its event stream, over
//! a real database (SQLite by default, PostgreSQL with
//! `DOCKYARD_TEST_DATABASE_URL`), driven with `tower::ServiceExt::oneshot`.
//! Events are written through the services and the store directly; the one
//! real job kind so far is the failure of an unknown kind, which the end-to-end
//! worker test uses.

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use dockyard_domain::{JobId, OrgId, ProjectId, Role, Scope, UserId};
use dockyard_server::{AppState, Config};
use dockyard_services::{NewJob, RequestContext, Services, bus, job_topic};
use dockyard_store::{JobOutcome, KindFilter, PoolSettings, Store};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A fresh PostgreSQL database when the environment names a server, dropped afterwards.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut connection) = sqlx::PgConnection::connect(&admin_url).await {
                    let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut connection).await;
                }
            });
        })
        .join();
    }
}

struct JobApp {
    router: Router,
    state: AppState,
    services: Services,
    org: OrgId,
    project: ProjectId,
    /// A viewer of the org, with a read token.
    member: String,
    /// The owner of another org.
    stranger: String,
    dir: PathBuf,
    _database: Option<PgDatabase>,
}

impl Drop for JobApp {
    fn drop(&mut self) {
        self.state.stop.send_replace(true);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn database_url(dir: &std::path::Path) -> (String, Option<PgDatabase>) {
    let admin_url = std::env::var("DOCKYARD_TEST_DATABASE_URL").ok().filter(|url| !url.is_empty());
    let Some(admin_url) = admin_url else {
        if std::env::var("DOCKYARD_TEST_BACKEND").as_deref() == Ok("postgres") {
            panic!("DOCKYARD_TEST_BACKEND=postgres but DOCKYARD_TEST_DATABASE_URL is not set");
        }
        return (format!("sqlite://{}?mode=rwc", dir.join("dockyard.db").display()), None);
    };
    use sqlx::Connection;
    let name = format!("dy_srv_{}", JobId::new());
    let mut connection = sqlx::PgConnection::connect(&admin_url).await.expect("connect to PostgreSQL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .expect("create a database");
    let (prefix, _) = admin_url.rsplit_once('/').expect("the admin URL ends in /database");
    (format!("{prefix}/{name}"), Some(PgDatabase { admin_url, name }))
}

async fn read_token(services: &Services, user: &UserId) -> String {
    let context = RequestContext::default();
    services.create_token(None, user, "test", Scope::Read, None, &context).await.expect("token").secret
}

async fn job_app() -> JobApp {
    let dir = std::env::temp_dir().join(format!("dockyard-server-jobs-{}", JobId::new()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (url, database) = database_url(&dir).await;
    let store = Store::connect(&url, &PoolSettings::default()).await.expect("connect");
    store.migrate().await.expect("migrate");
    let mut config = Config { data_dir: dir.clone(), ..Config::default() };
    config.rate_limit.enabled = false;
    let services = Services::new(store.clone(), config.services());
    let state = AppState::new(config, services.clone(), None);
    state.ready.store(true, std::sync::atomic::Ordering::Release);
    let router = dockyard_server::router(state.clone());

    let owner = store.create_user("owner@example.com", "Owner", "hash", false).await.expect("user");
    let viewer = store.create_user("viewer@example.com", "Viewer", "hash", false).await.expect("user");
    let outsider = store.create_user("outsider@example.com", "Outsider", "hash", false).await.expect("user");
    let org = store.create_org("acme", "Acme", &owner.id).await.expect("org");
    store.add_member(&org.id, &viewer.id, Role::Viewer).await.expect("member");
    store.create_org("elsewhere", "Elsewhere", &outsider.id).await.expect("other org");
    let project = store.create_project(&org.id, "web", "Web", "", &owner.id).await.expect("project");
    let member = read_token(&services, &viewer.id).await;
    let stranger = read_token(&services, &outsider.id).await;
    JobApp { router, state, services, org: org.id, project: project.id, member, stranger, dir, _database: database }
}

impl JobApp {
    async fn enqueue(&self, kind: &str) -> JobId {
        let new = NewJob {
            kind: kind.into(),
            org_id: self.org.clone(),
            project_id: Some(self.project.clone()),
            created_by: None,
            payload: json!({}),
            max_attempts: 1,
        };
        self.services.enqueue_job(new).await.expect("enqueue").id
    }

    async fn log(&self, job: &JobId, line: &str) -> i64 {
        self.services.record_job_event(job, "log", json!({ "line": line })).await.expect("event").seq
    }

    /// Claims and finishes the job as a worker would, and says so on the bus.
    async fn finish(&self, job: &JobId, outcome: JobOutcome) {
        let store = self.services.store();
        let claimed =
            store.claim_job("test-worker", Duration::from_secs(30), Utc::now(), &KindFilter::Any).await.expect("claim");
        assert_eq!(claimed.map(|claimed| claimed.job.id), Some(job.clone()));
        store.finish_job(job, "test-worker", &outcome, Utc::now()).await.expect("finish").expect("the owner");
        self.services.bus().publish(&job_topic(job), bus::look());
    }

    async fn send(&self, path: &str, token: Option<&str>, last_event_id: Option<&str>) -> axum::response::Response {
        let mut request = Request::builder().uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let request = request.body(Body::empty()).expect("a request");
        self.router.clone().oneshot(request).await.expect("the router is infallible")
    }

    async fn json(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let response = self.send(path, token, None).await;
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Opens the event stream; panics unless it is a 200 `text/event-stream`.
    async fn stream(&self, job: &JobId, query: &str, last_event_id: Option<&str>) -> SseReader {
        let response = self.send(&format!("/api/v1/jobs/{job}/events{query}"), Some(&self.member), last_event_id).await;
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers().get("content-type").and_then(|value| value.to_str().ok());
        assert_eq!(content_type, Some("text/event-stream"));
        SseReader { body: response.into_body(), text: String::new(), ended: false }
    }
}

/// One parsed Server-Sent Event.
#[derive(Debug, Clone)]
struct SseEvent {
    id: Option<i64>,
    event: String,
    data: Value,
}

struct SseReader {
    body: Body,
    text: String,
    ended: bool,
}

impl SseReader {
    /// The next event (skipping keep-alive comments), or `None` when the stream closed.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let mut event = SseEvent { id: None, event: "message".into(), data: Value::Null };
                let mut seen = false;
                for line in block.lines() {
                    if let Some(id) = line.strip_prefix("id:") {
                        event.id = Some(id.trim().parse().expect("numeric id"));
                    } else if let Some(kind) = line.strip_prefix("event:") {
                        event.event = kind.trim().to_owned();
                        seen = true;
                    } else if let Some(data) = line.strip_prefix("data:") {
                        event.data = serde_json::from_str(data.trim()).expect("JSON data");
                        seen = true;
                    }
                }
                if seen {
                    return Some(event);
                }
                continue;
            }
            if self.ended {
                return None;
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("the stream sends something within 10 s");
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(bytes) = frame.into_data() {
                        self.text.push_str(std::str::from_utf8(&bytes).expect("UTF-8"));
                    }
                }
                Some(Err(error)) => panic!("the stream failed: {error}"),
                None => self.ended = true,
            }
        }
    }

    /// Every event up to the end of the stream.
    async fn rest(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

fn ids(events: &[SseEvent]) -> Vec<i64> {
    events.iter().filter_map(|event| event.id).collect()
}

#[tokio::test]
async fn a_job_answers_members_and_is_not_found_for_strangers_and_bad_ids() {
    let app = job_app().await;
    let job = app.enqueue("import").await;
    let (status, body) = app.json(&format!("/api/v1/jobs/{job}"), Some(&app.member)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], job.as_str());
    assert_eq!((body["kind"].clone(), body["status"].clone()), (json!("import"), json!("queued")));
    assert_eq!(body["project_id"], app.project.as_str());
    assert_eq!(body["attempt"], 0);
    assert!(body["progress"].is_null() && body["result"].is_null() && body["error"].is_null(), "{body}");
    assert!(body["created_at"].is_string() && body["started_at"].is_null() && body["finished_at"].is_null());

    for (path, token) in [
        (format!("/api/v1/jobs/{job}"), &app.stranger),
        (format!("/api/v1/jobs/{}", JobId::new()), &app.member),
        ("/api/v1/jobs/not-an-id".to_owned(), &app.member),
        (format!("/api/v1/jobs/{job}/events"), &app.stranger),
        (format!("/api/v1/jobs/{}/events", JobId::new()), &app.member),
    ] {
        let (status, body) = app.json(&path, Some(token)).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{path}: {body}");
    }
    let (status, _) = app.json(&format!("/api/v1/jobs/{job}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The job stays readable after its project is deleted: it belongs to the org.
    app.services.store().delete_project(&app.project).await.expect("delete project");
    let (status, body) = app.json(&format!("/api/v1/jobs/{job}"), Some(&app.member)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_event_stream_replays_from_last_event_id_and_ends_with_the_job() {
    let app = job_app().await;
    let job = app.enqueue("import").await;
    for line in ["one", "two", "three"] {
        app.log(&job, line).await;
    }
    app.finish(&job, JobOutcome::Succeeded(json!({ "files": 3 }))).await;
    // The log: 1-3 the lines, 4 the start, 5 the end.

    let everything = app.stream(&job, "", None).await.rest().await;
    assert_eq!(ids(&everything), [1, 2, 3, 4, 5]);
    let kinds: Vec<&str> = everything.iter().map(|event| event.event.as_str()).collect();
    assert_eq!(kinds, ["log", "log", "log", "state", "state", "end"]);
    assert_eq!(everything[0].data, json!({ "line": "one" }));
    assert_eq!(everything[3].data, json!({ "status": "running", "attempt": 1 }));
    assert_eq!(everything[4].data, json!({ "status": "succeeded", "attempt": 1 }));
    let end = everything.last().expect("end");
    assert_eq!(
        (end.id, end.data.clone()),
        (None, json!({ "status": "succeeded", "error": null, "result": { "files": 3 } }))
    );

    let resumed = app.stream(&job, "", Some("3")).await.rest().await;
    assert_eq!(ids(&resumed), [4, 5]);
    assert_eq!(resumed.last().map(|event| event.event.as_str()), Some("end"));
    let after = app.stream(&job, "?after=4", None).await.rest().await;
    assert_eq!(ids(&after), [5]);
    let header_wins = app.stream(&job, "?after=1", Some("4")).await.rest().await;
    assert_eq!(ids(&header_wins), [5]);
    let caught_up = app.stream(&job, "", Some("5")).await.rest().await;
    assert_eq!(caught_up.iter().map(|event| event.event.as_str()).collect::<Vec<_>>(), ["end"]);

    for (query, header, code) in [
        ("", Some("abc"), "invalid_last_event_id"),
        ("", Some("-1"), "invalid_last_event_id"),
        ("?after=-2", None, "invalid_query"),
    ] {
        let response = app.send(&format!("/api/v1/jobs/{job}/events{query}"), Some(&app.member), header).await;
        let status = response.status();
        let body: Value =
            serde_json::from_slice(&response.into_body().collect().await.expect("body").to_bytes()).expect("a problem");
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{query} {header:?}");
    }
}

#[tokio::test]
async fn a_live_stream_follows_new_events_resumes_after_a_drop_and_closes_at_the_end() {
    let app = job_app().await;
    let job = app.enqueue("import").await;
    let mut first = app.stream(&job, "", None).await;
    app.log(&job, "a").await;
    app.log(&job, "b").await;
    let (a, b) = (first.next().await.expect("a"), first.next().await.expect("b"));
    assert_eq!((a.id, b.id), (Some(1), Some(2)));
    assert_eq!(b.data, json!({ "line": "b" }));
    // The browser drops the connection; events keep coming meanwhile.
    drop(first);
    app.log(&job, "c").await;
    let mut second = app.stream(&job, "", Some("2")).await;
    assert_eq!(second.next().await.map(|event| (event.id, event.data)), Some((Some(3), json!({ "line": "c" }))));
    app.log(&job, "d").await;
    assert_eq!(second.next().await.and_then(|event| event.id), Some(4));
    app.finish(&job, JobOutcome::Failed { code: "clone_failed".into(), message: "no such repository".into() }).await;
    let rest = second.rest().await;
    assert_eq!(ids(&rest), [5, 6]);
    let end = rest.last().expect("end");
    assert_eq!(end.event, "end");
    assert_eq!(end.data["status"], "failed");
    assert_eq!(end.data["error"], json!({ "code": "clone_failed", "message": "no such repository" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_fails_a_job_of_an_unknown_kind_and_the_stream_shows_it_to_the_end() {
    let app = job_app().await;
    let workers = app.services.start_workers(1, app.state.stopped());
    let job = app.enqueue("mystery").await;
    let events = app.stream(&job, "", None).await.rest().await;
    let summary: Vec<(Option<i64>, &str, Value)> =
        events.iter().map(|event| (event.id, event.event.as_str(), event.data["status"].clone())).collect();
    assert_eq!(
        summary,
        [(Some(1), "state", json!("running")), (Some(2), "state", json!("failed")), (None, "end", json!("failed"))]
    );
    assert_eq!(events[1].data["error"]["code"], "job_kind_unknown");
    let (status, body) = app.json(&format!("/api/v1/jobs/{job}"), Some(&app.member)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["status"].clone(), body["attempt"].clone()), (json!("failed"), json!(1)));
    assert_eq!(body["error"]["code"], "job_kind_unknown");
    assert!(body["error"]["message"].as_str().is_some_and(|message| message.contains("mystery")), "{body}");
    assert!(body["started_at"].is_string() && body["finished_at"].is_string(), "{body}");
    app.state.stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(10), workers).await.expect("the workers stop").expect("no panic");
}
