//! The event bus: publish/subscribe on topics (`jobs`, `job:{id}`,
//! `project:{id}`, …) between the parts of Dockyard, and between replicas.
//!
//! Two implementations behind one trait: [`InProcessBus`] (broadcast channels,
//! for one process) and [`PostgresBus`] (PostgreSQL `LISTEN`/`NOTIFY`, for
//! replicas sharing a database), chosen by the database backend at start-up.
//!
//! The bus carries *notifications*, not data: a message may be lost (a lagging
//! subscriber, a reconnecting listener), so everything that matters is in the
//! database and a message at most says what changed. Payloads are small; a
//! payload larger than [`MAX_PAYLOAD_BYTES`] is replaced by the "look" message
//! (`{"look": true}`), which tells subscribers to re-read the database. After a
//! gap in delivery (a lost connection) [`PostgresBus`] sends "look" on every
//! local topic for the same reason.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

/// The largest payload a message carries (PostgreSQL refuses `NOTIFY` payloads
/// of 8000 bytes and more; this leaves room for the envelope).
pub const MAX_PAYLOAD_BYTES: usize = 7000;

/// How many messages a subscriber may fall behind before it skips ahead (and is told so).
const CHANNEL_CAPACITY: usize = 256;

/// The `NOTIFY` channel every replica listens on.
const PG_CHANNEL: &str = "dockyard";

/// The message that says "something changed; read the database".
pub fn look() -> Value {
    json!({ "look": true })
}

/// Whether a payload is the "look" message.
pub fn is_look(payload: &Value) -> bool {
    payload.get("look").and_then(Value::as_bool) == Some(true)
}

/// One message on a topic.
#[derive(Debug, Clone)]
pub struct BusMessage {
    pub topic: Arc<str>,
    pub payload: Value,
}

/// Publish/subscribe on topics. Publishing never blocks and never fails: a
/// message nobody listens to is dropped.
pub trait Bus: Send + Sync + 'static {
    fn publish(&self, topic: &str, payload: Value);
    /// Receives what is published on `topic` from now on.
    fn subscribe(&self, topic: &str) -> Subscription;
}

/// Why [`Subscription::recv`] has no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Missed {
    /// The subscriber fell behind and this many messages were skipped: re-read the database.
    #[error("missed {0} messages")]
    Lagged(u64),
    /// The bus is gone.
    #[error("the bus is closed")]
    Closed,
}

/// A subscription to one topic. Dropping it unsubscribes; the topic's channel
/// goes away with its last subscriber.
pub struct Subscription {
    receiver: Option<broadcast::Receiver<BusMessage>>,
    topic: String,
    registry: Arc<Registry>,
}

impl Subscription {
    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub async fn recv(&mut self) -> Result<BusMessage, Missed> {
        let Some(receiver) = self.receiver.as_mut() else { return Err(Missed::Closed) };
        match receiver.recv().await {
            Ok(message) => Ok(message),
            Err(broadcast::error::RecvError::Lagged(n)) => Err(Missed::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => Err(Missed::Closed),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.receiver.take();
        self.registry.prune(&self.topic);
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("topic", &self.topic).finish_non_exhaustive()
    }
}

/// The local subscribers of every topic: one broadcast channel per topic that
/// has subscribers.
#[derive(Default)]
struct Registry {
    topics: Mutex<HashMap<String, broadcast::Sender<BusMessage>>>,
}

impl Registry {
    fn topics(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<BusMessage>>> {
        self.topics.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn subscribe(self: &Arc<Self>, topic: &str) -> Subscription {
        let receiver =
            self.topics().entry(topic.to_owned()).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0).subscribe();
        Subscription { receiver: Some(receiver), topic: topic.to_owned(), registry: self.clone() }
    }

    fn deliver(&self, topic: &str, payload: Value) {
        let topics = self.topics();
        if let Some(sender) = topics.get(topic) {
            // An error only means every receiver is gone; `prune` removes the channel.
            let _ = sender.send(BusMessage { topic: Arc::from(topic), payload });
        }
    }

    /// Sends "look" on every topic: after a gap, every subscriber re-reads.
    fn look_everywhere(&self) {
        for (topic, sender) in self.topics().iter() {
            let _ = sender.send(BusMessage { topic: Arc::from(topic.as_str()), payload: look() });
        }
    }

    fn prune(&self, topic: &str) {
        let mut topics = self.topics();
        if topics.get(topic).is_some_and(|sender| sender.receiver_count() == 0) {
            topics.remove(topic);
        }
    }

    fn len(&self) -> usize {
        self.topics().len()
    }
}

/// Caps a payload: one over [`MAX_PAYLOAD_BYTES`] becomes "look".
fn bounded(topic: &str, payload: Value) -> Value {
    let size = serde_json::to_vec(&payload).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
    if size > MAX_PAYLOAD_BYTES {
        tracing::warn!(topic, size, "a bus payload is too large; subscribers are told to look instead");
        look()
    } else {
        payload
    }
}

/// The bus inside one process: a broadcast channel per topic.
#[derive(Default)]
pub struct InProcessBus {
    registry: Arc<Registry>,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many topics have subscribers (for tests of the pruning).
    pub fn topic_count(&self) -> usize {
        self.registry.len()
    }
}

impl Bus for InProcessBus {
    fn publish(&self, topic: &str, payload: Value) {
        self.registry.deliver(topic, bounded(topic, payload));
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        self.registry.subscribe(topic)
    }
}

/// Aborts background tasks when the bus is dropped.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The bus across replicas: `pg_notify('dockyard', {o, t, p})` on one dedicated
/// connection, and one `LISTEN dockyard` connection per process that fans
/// messages out to the local subscribers. A replica delivers its own messages
/// locally at once and skips them when they come back from PostgreSQL.
/// Both connections reconnect with backoff; start-up does not wait for the database.
pub struct PostgresBus {
    registry: Arc<Registry>,
    instance: String,
    outbox: mpsc::Sender<String>,
    listening: watch::Receiver<bool>,
    _tasks: Tasks,
}

impl PostgresBus {
    /// Starts the listener and the sender for the database at `url`. Needs a tokio runtime.
    pub fn start(url: &str) -> Self {
        let registry = Arc::new(Registry::default());
        let instance = crate::crypto::random_token(12).unwrap_or_else(|_| format!("pid-{}", std::process::id()));
        let (outbox, queued) = mpsc::channel(1024);
        let (listening_tx, listening) = watch::channel(false);
        let listener = tokio::spawn(listen(url.to_owned(), instance.clone(), registry.clone(), listening_tx));
        let sender = tokio::spawn(send(url.to_owned(), queued));
        Self { registry, instance, outbox, listening, _tasks: Tasks(vec![listener, sender]) }
    }

    /// Waits until the listener is connected (or `timeout` passes); answers whether it is.
    /// Messages other replicas publish before that are not seen.
    pub async fn wait_listening(&self, timeout: Duration) -> bool {
        let mut listening = self.listening.clone();
        matches!(tokio::time::timeout(timeout, listening.wait_for(|on| *on)).await, Ok(Ok(_)))
    }
}

impl Bus for PostgresBus {
    fn publish(&self, topic: &str, payload: Value) {
        let payload = bounded(topic, payload);
        let envelope = json!({ "o": self.instance, "t": topic, "p": payload }).to_string();
        if envelope.len() < 7900 {
            if let Err(error) = self.outbox.try_send(envelope) {
                tracing::warn!(topic, %error, "bus: could not queue a message for other replicas; they will poll");
            }
        } else {
            tracing::warn!(topic, "bus: topic name too long to send to other replicas");
        }
        self.registry.deliver(topic, payload);
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        self.registry.subscribe(topic)
    }
}

/// Keeps a `LISTEN` connection up and fans notifications out locally.
async fn listen(url: String, instance: String, registry: Arc<Registry>, listening: watch::Sender<bool>) {
    use sqlx::postgres::PgListener;
    let mut delay = Duration::from_millis(250);
    let mut first = true;
    loop {
        let connected = async {
            let mut listener = PgListener::connect(&url).await?;
            listener.listen(PG_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        match connected {
            Ok(mut listener) => {
                delay = Duration::from_millis(250);
                let _ = listening.send(true);
                if !first {
                    tracing::info!("bus: listening again; subscribers re-read what they may have missed");
                    registry.look_everywhere();
                }
                first = false;
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) => fan_out(&instance, &registry, notification.payload()),
                        // The connection dropped and was re-established: notifications in between are lost.
                        Ok(None) => registry.look_everywhere(),
                        Err(error) => {
                            tracing::warn!(%error, "bus: the LISTEN connection failed; reconnecting");
                            break;
                        }
                    }
                }
                let _ = listening.send(false);
            }
            Err(error) => tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "bus: cannot LISTEN"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

fn fan_out(instance: &str, registry: &Registry, raw: &str) {
    let Ok(envelope) = serde_json::from_str::<Value>(raw) else {
        tracing::warn!("bus: ignoring a malformed notification");
        return;
    };
    if envelope["o"].as_str() == Some(instance) {
        return;
    }
    let Some(topic) = envelope["t"].as_str() else { return };
    registry.deliver(topic, envelope["p"].clone());
}

/// Sends queued messages with `pg_notify` on one connection, in order. While the
/// database is unreachable, messages are dropped (other replicas poll as well).
async fn send(url: String, mut queued: mpsc::Receiver<String>) {
    use sqlx::Connection;
    use sqlx::postgres::PgConnection;
    let mut connection: Option<PgConnection> = None;
    let mut retry_at = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(250);
    while let Some(envelope) = queued.recv().await {
        if connection.is_none() {
            if tokio::time::Instant::now() < retry_at {
                continue;
            }
            match PgConnection::connect(&url).await {
                Ok(fresh) => {
                    connection = Some(fresh);
                    delay = Duration::from_millis(250);
                }
                Err(error) => {
                    tracing::warn!(%error, "bus: cannot connect to send notifications");
                    retry_at = tokio::time::Instant::now() + delay;
                    delay = (delay * 2).min(Duration::from_secs(10));
                    continue;
                }
            }
        }
        let Some(open) = connection.as_mut() else { continue };
        let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(PG_CHANNEL).bind(&envelope).execute(&mut *open).await;
        if let Err(error) = sent {
            tracing::warn!(%error, "bus: NOTIFY failed; reconnecting");
            connection = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn next(subscription: &mut Subscription) -> BusMessage {
        tokio::time::timeout(Duration::from_secs(5), subscription.recv())
            .await
            .expect("a message within 5 s")
            .expect("a message")
    }

    #[tokio::test]
    async fn in_process_subscribers_get_their_topic_only_and_in_order() {
        let bus = InProcessBus::new();
        let mut jobs = bus.subscribe("jobs");
        let mut also_jobs = bus.subscribe("jobs");
        let mut other = bus.subscribe("job:1");
        bus.publish("nobody-listens", json!(0));
        for n in 1..=3 {
            bus.publish("jobs", json!({ "n": n }));
        }
        for subscription in [&mut jobs, &mut also_jobs] {
            for n in 1..=3 {
                let message = next(subscription).await;
                assert_eq!((&*message.topic, message.payload), ("jobs", json!({ "n": n })));
            }
        }
        bus.publish("job:1", json!("one"));
        assert_eq!(next(&mut other).await.payload, json!("one"));
    }

    #[tokio::test]
    async fn in_process_topics_are_pruned_with_their_last_subscriber() {
        let bus = InProcessBus::new();
        let first = bus.subscribe("a");
        let second = bus.subscribe("a");
        let third = bus.subscribe("b");
        assert_eq!(bus.topic_count(), 2);
        drop(first);
        assert_eq!(bus.topic_count(), 2, "a still has a subscriber");
        drop(second);
        drop(third);
        assert_eq!(bus.topic_count(), 0);
        // Publishing to a topic without subscribers creates nothing.
        bus.publish("a", json!(1));
        assert_eq!(bus.topic_count(), 0);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_and_an_oversized_payload_becomes_look() {
        let bus = InProcessBus::new();
        let mut slow = bus.subscribe("t");
        for n in 0..(CHANNEL_CAPACITY + 10) {
            bus.publish("t", json!(n));
        }
        assert_eq!(slow.recv().await.map(|message| message.payload), Err(Missed::Lagged(10)));
        assert_eq!(slow.recv().await.map(|message| message.payload), Ok(json!(10)));

        let mut big = bus.subscribe("big");
        bus.publish("big", json!({ "text": "x".repeat(MAX_PAYLOAD_BYTES) }));
        let message = next(&mut big).await;
        assert!(is_look(&message.payload), "{}", message.payload);
        bus.publish("big", json!({ "text": "small" }));
        assert_eq!(next(&mut big).await.payload, json!({ "text": "small" }));
    }

    #[tokio::test]
    async fn two_postgres_buses_on_one_database_see_each_others_messages_once() {
        let Some(database) = crate::testing::postgres_database().await else {
            eprintln!("skipped: needs DOCKYARD_TEST_DATABASE_URL (PostgreSQL)");
            return;
        };
        let first = PostgresBus::start(&database.url);
        let second = PostgresBus::start(&database.url);
        assert!(first.wait_listening(Duration::from_secs(10)).await, "the first replica listens");
        assert!(second.wait_listening(Duration::from_secs(10)).await, "the second replica listens");
        let mut on_first = first.subscribe("job:x");
        let mut on_second = second.subscribe("job:x");
        let mut unrelated = second.subscribe("job:y");

        first.publish("job:x", json!({ "seq": 1 }));
        second.publish("job:x", json!({ "seq": 2 }));
        first.publish("job:x", json!({ "text": "y".repeat(MAX_PAYLOAD_BYTES + 1) }));
        for subscription in [&mut on_first, &mut on_second] {
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(next(subscription).await.payload);
            }
            // Each replica sees its own message at once and the other's through
            // PostgreSQL, so the order between the two may differ; none repeats.
            assert!(got.contains(&json!({ "seq": 1 })) && got.contains(&json!({ "seq": 2 })), "{got:?}");
            assert!(got.iter().any(is_look), "the oversized payload arrives as look: {got:?}");
            let extra = tokio::time::timeout(Duration::from_millis(300), subscription.recv()).await;
            assert!(extra.is_err(), "no duplicate: {extra:?}");
        }
        assert!(tokio::time::timeout(Duration::from_millis(100), unrelated.recv()).await.is_err());
    }
}
