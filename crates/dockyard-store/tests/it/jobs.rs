//! The job queue's contract: claim order, exactly-once claims under
//! concurrency, leases (renewal, loss, expiry, exhaustion), finishing, and the
//! per-job event log.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use dockyard_domain::{JobId, OrgId, ProjectId, UserId};
use dockyard_store::{JobOutcome, JobState, KindFilter, NewJob, STATE_EVENT, Store, StoreError};
use serde_json::json;

use crate::fixture;

const TTL: Duration = Duration::from_secs(30);

/// An org (and a project in it) to hang jobs on.
async fn org(store: &Store) -> (OrgId, ProjectId, UserId) {
    let user = store.create_user("o@example.com", "O", "hash", false).await.expect("user");
    let org = store.create_org("acme", "Acme", &user.id).await.expect("org");
    let project = store.create_project(&org.id, "web", "Web", "", &user.id).await.expect("project");
    (org.id, project.id, user.id)
}

fn new_job(org: &OrgId, kind: &str, max_attempts: u32) -> NewJob {
    NewJob {
        kind: kind.to_owned(),
        org_id: org.clone(),
        project_id: None,
        created_by: None,
        payload: json!({ "kind": kind }),
        max_attempts,
    }
}

#[tokio::test]
async fn a_queued_job_reads_back_as_inserted() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let (org, project, user) = org(store).await;
    let job = store
        .insert_job(&NewJob {
            kind: "import".into(),
            org_id: org.clone(),
            project_id: Some(project.clone()),
            created_by: Some(user.clone()),
            payload: json!({ "url": "https://example.com/repo.git", "depth": 1 }),
            max_attempts: 3,
        })
        .await
        .expect("insert");
    let read = store.get_job(&job.id).await.expect("get");
    assert_eq!(read.state, JobState::Queued);
    assert_eq!(read.kind, "import");
    assert_eq!(read.project_id, Some(project));
    assert_eq!(read.created_by, Some(user.clone()));
    assert_eq!(read.payload, json!({ "url": "https://example.com/repo.git", "depth": 1 }));
    assert_eq!(read.progress, serde_json::Value::Null);
    assert_eq!((read.attempt, read.max_attempts), (0, 3));
    assert!(read.result.is_none() && read.error_code.is_none() && read.lease_owner.is_none());
    assert!(read.started_at.is_none() && read.finished_at.is_none());
    let (_, role) = store.get_job_for(&job.id, &user).await.expect("get for");
    assert_eq!(role, Some(dockyard_domain::Role::Owner));
    assert!(matches!(store.get_job(&JobId::new()).await, Err(StoreError::NotFound)));
    assert!(store.insert_job(&new_job(&org, "zero", 0)).await.is_err(), "a job needs an attempt");
}

#[tokio::test]
async fn claims_take_the_oldest_job_first_and_record_the_start() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let (org, _, _) = org(store).await;
    let ids: Vec<JobId> = [
        store.insert_job(&new_job(&org, "a", 1)).await.expect("a").id,
        store.insert_job(&new_job(&org, "b", 1)).await.expect("b").id,
        store.insert_job(&new_job(&org, "c", 1)).await.expect("c").id,
    ]
    .into();
    let now = Utc::now();
    let mut claimed = Vec::new();
    while let Some(transition) = store.claim_job("worker-1", TTL, now, &KindFilter::Any).await.expect("claim") {
        let job = transition.job;
        assert_eq!(job.state, JobState::Running);
        assert_eq!(job.attempt, 1);
        assert_eq!(job.lease_owner.as_deref(), Some("worker-1"));
        assert_eq!(job.lease_expires_at.map(|at| at.timestamp_millis()), Some(now.timestamp_millis() + 30_000));
        assert!(job.started_at.is_some());
        assert_eq!((transition.event.seq, transition.event.kind.as_str()), (1, STATE_EVENT));
        assert_eq!(transition.event.data, json!({ "status": "running", "attempt": 1 }));
        claimed.push(job.id);
    }
    assert_eq!(claimed, ids);
}

#[tokio::test]
async fn worker_pools_claim_only_their_kinds() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let (org, _, _) = org(store).await;
    let agent = store.insert_job(&new_job(&org, "agent", 1)).await.expect("agent").id;
    let import = store.insert_job(&new_job(&org, "import", 1)).await.expect("import").id;
    let now = Utc::now();
    let general = KindFilter::Except(vec!["agent"]);
    let agents = KindFilter::Only(vec!["agent"]);
    let first = store.claim_job("general", TTL, now, &general).await.expect("claim").expect("a job");
    assert_eq!(first.job.id, import, "the general pool skips the older agent job");
    assert!(store.claim_job("general", TTL, now, &general).await.expect("claim").is_none());
    let second = store.claim_job("agents", TTL, now, &agents).await.expect("claim").expect("a job");
    assert_eq!(second.job.id, agent);
    assert!(store.claim_job("none", TTL, now, &KindFilter::Only(Vec::new())).await.expect("claim").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_claimers_take_each_of_fifty_jobs_exactly_once() {
    let fixture = fixture().await;
    let store = fixture.store.clone();
    let (org, _, _) = org(&store).await;
    let mut all = BTreeSet::new();
    for n in 0..50 {
        all.insert(store.insert_job(&new_job(&org, &format!("job-{n}"), 1)).await.expect("insert").id);
    }
    let claimer = |owner: &'static str| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(transition) = store.claim_job(owner, TTL, Utc::now(), &KindFilter::Any).await.expect("claim")
            {
                assert_eq!(transition.job.lease_owner.as_deref(), Some(owner));
                mine.push(transition.job.id);
                tokio::task::yield_now().await;
            }
            mine
        })
    };
    let (first, second) = (claimer("worker-a"), claimer("worker-b"));
    let (first, second) = (first.await.expect("a"), second.await.expect("b"));
    let mut seen = BTreeSet::new();
    for id in first.iter().chain(&second) {
        assert!(seen.insert(id.clone()), "{id} was claimed twice");
    }
    assert_eq!(seen, all, "every job was claimed ({} by a, {} by b)", first.len(), second.len());
    for id in &all {
        let job = store.get_job(id).await.expect("job");
        assert_eq!((job.state, job.attempt), (JobState::Running, 1));
    }
}

#[tokio::test]
async fn renewal_keeps_the_lease_and_fails_once_it_is_lost() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let (org, _, _) = org(store).await;
    let job = store.insert_job(&new_job(&org, "renewed", 2)).await.expect("insert");
    let start = Utc::now();
    store.claim_job("worker-a", TTL, start, &KindFilter::Any).await.expect("claim").expect("a job");
    assert!(store.renew_job_lease(&job.id, "worker-a", TTL, start + Duration::from_secs(20)).await.expect("renew"));
    let renewed = store.get_job(&job.id).await.expect("job");
    assert_eq!(renewed.lease_expires_at.map(|at| at.timestamp_millis()), Some(start.timestamp_millis() + 50_000));
    assert!(!store.renew_job_lease(&job.id, "worker-b", TTL, start).await.expect("renew"), "not b's lease");
    // Not expired at +40 s thanks to the renewal: nobody can claim it.
    assert!(
        store
            .claim_job("worker-b", TTL, start + Duration::from_secs(40), &KindFilter::Any)
            .await
            .expect("claim")
            .is_none()
    );
    // Expired at +60 s: b takes it over, and a's lease is gone for good.
    let taken = store
        .claim_job("worker-b", TTL, start + Duration::from_secs(60), &KindFilter::Any)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!((taken.job.id.clone(), taken.job.attempt), (job.id.clone(), 2));
    assert!(!store.renew_job_lease(&job.id, "worker-a", TTL, start + Duration::from_secs(61)).await.expect("renew"));
    assert!(!store.set_job_progress(&job.id, "worker-a", &json!({ "done": 1 })).await.expect("progress"));
    assert!(store.set_job_progress(&job.id, "worker-b", &json!({ "done": 2 })).await.expect("progress"));
    assert_eq!(store.get_job(&job.id).await.expect("job").progress, json!({ "done": 2 }));
}

#[tokio::test]
async fn an_expired_lease_is_reclaimed_by_another_owner_as_the_next_attempt() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let (org, _, _) = org(store).await;
    let job = store.insert_job(&new_job(&org, "retried", 3)).await.expect("insert");
    let start = Utc::now();
    let first = store.claim_job("worker-a", TTL, start, &KindFilter::Any).await.expect("claim").expect("job");
    let started_at = first.job.started_at;
    assert!(
        store
            .claim_job("worker-b", TTL, start + Duration::from_secs(29), &KindFilter::Any)
            .await
            .expect("claim")
            .is_none()
    );
    let second = store
        .claim_job("worker-b", TTL, start + Duration::from_secs(31), &KindFilter::Any)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(second.job.id, job.id);
    assert_eq!(second.job.attempt, 2);
    assert_eq!(second.job.lease_owner.as_deref(), Some("worker-b"));
    assert_eq!(second.job.started_at, started_at, "started_at is the first start");
    assert_eq!((second.event.seq, second.event.data["attempt"].clone()), (2, json!(2)));
    // a, back from the dead, cannot finish what b now owns.
    let late = Utc::now() + Duration::from_secs(32);
    assert!(
        store.finish_job(&job.id, "worker-a", &JobOutcome::Succeeded(json!({})), late).await.expect("finish").is_none()
    );
    assert_eq!(store.get_job(&job.id).await.expect("job").state, JobState::Running);
}

#[tokio::test]
async fn a_job_out_of_attempts_is_not_claimed_but_surfaced_and_failed_once() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let (org, _, _) = org(store).await;
    let job = store.insert_job(&new_job(&org, "doomed", 1)).await.expect("insert");
    let start = Utc::now();
    store.claim_job("worker-a", TTL, start, &KindFilter::Any).await.expect("claim").expect("job");
    assert!(store.exhausted_jobs(start, 10).await.expect("exhausted").is_empty(), "the lease still runs");
    let later = start + Duration::from_secs(60);
    assert!(
        store.claim_job("worker-b", TTL, later, &KindFilter::Any).await.expect("claim").is_none(),
        "no attempt left"
    );
    let exhausted = store.exhausted_jobs(later, 10).await.expect("exhausted");
    assert_eq!(exhausted.iter().map(|job| &job.id).collect::<Vec<_>>(), [&job.id]);
    let failed = store
        .fail_exhausted_job(&job.id, "job_abandoned", "the worker stopped", later)
        .await
        .expect("fail")
        .expect("it was exhausted");
    assert_eq!(failed.job.state, JobState::Failed);
    assert_eq!(failed.job.error_code.as_deref(), Some("job_abandoned"));
    assert!(failed.job.finished_at.is_some());
    assert_eq!(
        failed.event.data,
        json!({ "status": "failed", "attempt": 1, "error": { "code": "job_abandoned", "message": "the worker stopped" } })
    );
    assert!(store.fail_exhausted_job(&job.id, "job_abandoned", "again", later).await.expect("fail").is_none());
    assert!(store.exhausted_jobs(later, 10).await.expect("exhausted").is_empty());
}

#[tokio::test]
async fn only_the_lease_owner_finishes_a_job_and_only_once() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let (org, _, _) = org(store).await;
    let good = store.insert_job(&new_job(&org, "good", 1)).await.expect("insert");
    let bad = store.insert_job(&new_job(&org, "bad", 1)).await.expect("insert");
    let now = Utc::now();
    store.claim_job("worker-a", TTL, now, &KindFilter::Any).await.expect("claim").expect("job");
    store.claim_job("worker-a", TTL, now, &KindFilter::Any).await.expect("claim").expect("job");
    let outcome = JobOutcome::Succeeded(json!({ "files": 3 }));
    assert!(store.finish_job(&good.id, "worker-b", &outcome, now).await.expect("finish").is_none());
    let done = store.finish_job(&good.id, "worker-a", &outcome, now).await.expect("finish").expect("owner");
    assert_eq!(done.job.state, JobState::Succeeded);
    assert_eq!(done.job.result, Some(json!({ "files": 3 })));
    assert!(done.job.lease_expires_at.is_none() && done.job.finished_at.is_some());
    assert_eq!((done.event.seq, done.event.data.clone()), (2, json!({ "status": "succeeded", "attempt": 1 })));
    assert!(store.finish_job(&good.id, "worker-a", &outcome, now).await.expect("finish").is_none(), "finished once");
    assert!(!store.renew_job_lease(&good.id, "worker-a", TTL, now).await.expect("renew"), "no lease after the end");

    let failure = JobOutcome::Failed { code: "clone_failed".into(), message: "the repository does not exist".into() };
    let failed = store.finish_job(&bad.id, "worker-a", &failure, now).await.expect("finish").expect("owner");
    assert_eq!(failed.job.state, JobState::Failed);
    assert_eq!(failed.job.error_code.as_deref(), Some("clone_failed"));
    assert_eq!(failed.job.error_message.as_deref(), Some("the repository does not exist"));
    assert!(failed.job.result.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_numbers_rise_by_one_per_job_even_under_concurrent_appends() {
    let fixture = fixture().await;
    let store = fixture.store.clone();
    let (org, _, _) = org(&store).await;
    let job = store.insert_job(&new_job(&org, "logged", 1)).await.expect("insert");
    let other = store.insert_job(&new_job(&org, "other", 1)).await.expect("insert");
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let store = store.clone();
        let id = job.id.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..10 {
                let event =
                    store.append_job_event(&id, "log", &json!({ "writer": writer, "n": n })).await.expect("append");
                seqs.push(event.seq);
            }
            seqs
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        let mine = task.await.expect("writer");
        assert!(mine.windows(2).all(|pair| pair[0] < pair[1]), "one writer's events rise: {mine:?}");
        seqs.extend(mine);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=40).collect::<Vec<i64>>());
    // Another job counts on its own.
    assert_eq!(store.append_job_event(&other.id, "log", &json!("x")).await.expect("append").seq, 1);

    let page = store.job_events_after(&job.id, 0, 15).await.expect("page");
    assert_eq!(page.iter().map(|event| event.seq).collect::<Vec<_>>(), (1..=15).collect::<Vec<i64>>());
    let rest = store.job_events_after(&job.id, 35, 100).await.expect("rest");
    assert_eq!(rest.iter().map(|event| event.seq).collect::<Vec<_>>(), [36, 37, 38, 39, 40]);
    assert!(rest.iter().all(|event| event.kind == "log" && event.data["n"].is_number()));
    assert!(store.job_events_after(&job.id, 40, 100).await.expect("none").is_empty());
    assert!(matches!(store.append_job_event(&JobId::new(), "log", &json!(1)).await, Err(StoreError::NotFound)));
}

#[tokio::test]
async fn jobs_outlive_their_project_but_not_their_org_and_are_in_backups() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let (org, project, _) = org(store).await;
    let job = store
        .insert_job(&NewJob { project_id: Some(project.clone()), ..new_job(&org, "import", 1) })
        .await
        .expect("insert");
    store.append_job_event(&job.id, "log", &json!("cloning")).await.expect("append");
    store.delete_project(&project).await.expect("delete project");
    assert_eq!(store.get_job(&job.id).await.expect("still there").project_id, Some(project));

    let manifest = store.dump(&fixture.dir.join("dump")).await.expect("dump");
    let rows = |name: &str| manifest.tables.iter().find(|table| table.name == name).map(|table| table.rows);
    assert_eq!((rows("jobs"), rows("job_events")), (Some(1), Some(1)));
    let target = crate::fixture().await;
    target.store.load(&fixture.dir.join("dump"), &manifest, false).await.expect("load");
    let restored = target.store.get_job(&job.id).await.expect("restored");
    assert_eq!((restored.kind.as_str(), restored.payload.clone()), ("import", json!({ "kind": "import" })));
    assert_eq!(target.store.job_events_after(&job.id, 0, 10).await.expect("events")[0].data, json!("cloning"));

    store.delete_org(&org).await.expect("delete org");
    assert!(matches!(store.get_job(&job.id).await, Err(StoreError::NotFound)));
    assert!(store.job_events_after(&job.id, 0, 10).await.expect("events").is_empty());
}
