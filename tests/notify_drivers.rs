//! oslo's notification drivers through the public API: `log`, `test`, `routing` (with oslo's
//! YAML), several drivers at once, and `retry` as the drivers see it. On `fake://`.

use std::sync::{Arc, Mutex};

use courier::{
    Context, Notifier, Priority,
    notify::{LOG_DRIVER_TARGET, NotifierDriver, RoutingConfig, TestNotifications},
    transport::TransportConfig,
};
use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};

/// An event of the `log` driver: its level and fields.
#[derive(Debug, Clone)]
struct Logged {
    level: tracing::Level,
    fields: Vec<(String, String)>,
}

impl Logged {
    fn field(&self, name: &str) -> &str {
        self.fields.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }

    fn notification(&self) -> Value {
        serde_json::from_str(self.field("notification")).expect("the notification field is JSON")
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Logged>>>);

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: LayerContext<'_, S>) {
        if event.metadata().target() != LOG_DRIVER_TARGET {
            return;
        }
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Logged { level: *event.metadata().level(), fields });
    }
}

impl Capture {
    /// Captures the `log` driver's events on this thread until the guard drops.
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::registry()
            .with(self.clone())
            .with(tracing_subscriber::filter::LevelFilter::TRACE);
        tracing::subscriber::set_default(subscriber)
    }

    fn take(&self) -> Vec<Logged> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A fake transport with a control exchange of its own.
async fn transport() -> (Arc<dyn courier::Transport>, String) {
    let exchange = unique("courier-drivers");
    let config = TransportConfig::default().with_control_exchange(exchange.clone());
    (courier::connect_with("fake://", config).await.unwrap(), exchange)
}

#[tokio::test]
async fn log_driver_emits_one_event_per_notification_at_its_priority_with_secrets_masked() {
    let capture = Capture::default();
    let _guard = capture.install();
    let (transport, _) = transport().await;
    let notifier = Notifier::new(transport, "compute.host1").with_driver(NotifierDriver::Log);
    let ctx = Context::new().with_user("alice").with_auth_token("s3cret");
    let payload = json!({"instance_id": 12, "admin_password": "hunter2", "nested": {"token": "t"}});

    for priority in Priority::ALL {
        notifier.notify(&ctx, priority, "compute.instance.update", &payload).await.unwrap();
    }

    let logged = capture.take();
    let levels: Vec<_> = logged.iter().map(|l| l.level).collect();
    use tracing::Level;
    assert_eq!(
        levels,
        [Level::INFO, Level::DEBUG, Level::INFO, Level::WARN, Level::ERROR, Level::ERROR, Level::TRACE],
        "audit, debug, info, warn, error, critical, sample"
    );
    for (event, priority) in logged.iter().zip(Priority::ALL) {
        assert_eq!(event.field("priority"), priority.as_wire());
        assert_eq!(event.field("event_type"), "compute.instance.update");
        assert_eq!(event.field("publisher_id"), "compute.host1");
        let json = event.notification();
        assert_eq!(json["priority"], priority.as_wire());
        assert_eq!(json["payload"]["instance_id"], 12);
        assert_eq!(json["payload"]["admin_password"], "***");
        assert_eq!(json["payload"]["nested"]["token"], "***");
        assert!(json["message_id"].as_str().is_some_and(|id| id.len() == 36), "{json}");
        assert!(json["timestamp"].is_string());
        assert!(
            !event.field("notification").contains("s3cret")
                && !event.field("notification").contains("hunter2")
        );
    }
}

#[tokio::test]
async fn test_driver_keeps_what_oslo_keeps_and_several_drivers_all_get_it() {
    let capture = Capture::default();
    let _guard = capture.install();
    let (transport, exchange) = transport().await;
    let topic = unique("notifications");
    let sent = TestNotifications::new();
    let notifier = Notifier::new(transport, "compute.host1")
        .with_topics([topic.as_str()])
        .with_drivers([NotifierDriver::MessagingV2, NotifierDriver::test(&sent), NotifierDriver::Log])
        .with_retry(Some(3));
    assert_eq!(notifier.drivers().len(), 3);
    let ctx = Context::new().with_user("alice").with_auth_token("s3cret");

    notifier.info(&ctx, "compute.instance.create.end", json!({"id": 1})).await.unwrap();
    notifier.prepare("compute.host2").error(&ctx, "compute.instance.fail", "boom").await.unwrap();

    let recorded = sent.take();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].event_type(), "compute.instance.create.end");
    assert_eq!(recorded[0].publisher_id(), "compute.host1");
    assert_eq!(recorded[0].payload(), &json!({"id": 1}));
    assert_eq!(recorded[0].priority, Priority::Info);
    assert_eq!(recorded[0].retry, Some(3), "the driver sees the notifier's retry, as oslo's");
    assert_eq!(recorded[0].message["priority"], "INFO");
    assert_eq!(recorded[0].context["user"], "alice");
    assert_eq!(recorded[0].context["auth_token"], Value::Null, "the context is redacted");
    assert_eq!((recorded[1].publisher_id(), recorded[1].priority), ("compute.host2", Priority::Error));
    assert_eq!(recorded[1].payload(), "boom");
    assert!(sent.is_empty());

    // The messaging driver published each to `<topic>.<priority>`, the log driver logged each.
    assert_eq!(courier::fake::queued(&exchange, &format!("{topic}.info")), 1);
    assert_eq!(courier::fake::queued(&exchange, &format!("{topic}.error")), 1);
    assert_eq!(capture.take().len(), 2);
}

#[tokio::test]
async fn noop_only_and_no_driver_disable_the_notifier() {
    let (transport, _) = transport().await;
    let notifier = Notifier::new(transport, "p");
    assert!(!notifier.clone().with_driver(NotifierDriver::Noop).is_enabled());
    assert!(!notifier.clone().with_drivers([]).is_enabled());
    assert!(!notifier.clone().with_topics(Vec::<String>::new()).is_enabled());
    let sent = TestNotifications::new();
    let no_topics = notifier.with_topics(Vec::<String>::new()).with_drivers([NotifierDriver::test(&sent)]);
    assert!(no_topics.is_enabled(), "topics only matter to the messaging drivers");
    no_topics.audit(&Context::new(), "e", 1).await.unwrap();
    assert_eq!(sent.len(), 1);
}

#[tokio::test]
async fn routing_driver_follows_oslos_yaml() {
    let capture = Capture::default();
    let _guard = capture.install();
    let (transport, exchange) = transport().await;
    let topic = unique("notifications");
    let sent = TestNotifications::new();
    // oslo's documented example, with this test's own record for `test`.
    let yaml = "
group_1:
  messagingv2:
    accepted_events:
      - compute.instance.exists
      - compute.instance.delete.*
    accepted_priorities:
      - info
      - error
  test:
    accepted_events: ['image.*']
group_2:
  log:
    accepted_priorities: [ERROR, crit*]
  test:
    accepted_priorities: [critical]
";
    let config = RoutingConfig::from_yaml_with(yaml, |name| match name {
        "test" => Ok(NotifierDriver::test(&sent)),
        other => other.parse(),
    })
    .unwrap();
    let notifier = Notifier::new(transport, "p")
        .with_topics([topic.as_str()])
        .with_driver(NotifierDriver::routing(config))
        .with_retry(Some(0));
    let ctx = Context::new();

    notifier.info(&ctx, "compute.instance.delete.end", 1).await.unwrap(); // messagingv2
    notifier.warn(&ctx, "compute.instance.delete.end", 2).await.unwrap(); // nothing
    notifier.error(&ctx, "compute.instance.exists", 3).await.unwrap(); // messagingv2, log
    notifier.info(&ctx, "image.upload", 4).await.unwrap(); // test
    notifier.critical(&ctx, "image.upload", 5).await.unwrap(); // test (once), log
    notifier.info(&ctx, "compute.instance.create.end", 6).await.unwrap(); // nothing

    assert_eq!(courier::fake::queued(&exchange, &format!("{topic}.info")), 1);
    assert_eq!(courier::fake::queued(&exchange, &format!("{topic}.warn")), 0);
    assert_eq!(courier::fake::queued(&exchange, &format!("{topic}.error")), 1);
    let payloads: Vec<_> = sent.take().iter().map(|s| (s.payload().clone(), s.retry)).collect();
    assert_eq!(payloads, [(json!(4), Some(0)), (json!(5), Some(0))], "a driver accepted twice gets it once");
    let logged: Vec<_> = capture.take().iter().map(|l| l.notification()["payload"].clone()).collect();
    assert_eq!(logged, [json!(3), json!(5)]);
}

#[test]
fn routing_config_file_errors_name_the_file() {
    let missing = std::env::temp_dir().join(unique("no-such-routing")).with_extension("yaml");
    let err = RoutingConfig::from_file(&missing).unwrap_err().to_string();
    assert!(
        err.contains("cannot read the routing notifier config") && err.contains("no-such-routing"),
        "{err}"
    );

    let path = std::env::temp_dir().join(unique("routing")).with_extension("yaml");
    std::fs::write(&path, "g:\n  log:\n    accepted_events: ['x.*']\n").unwrap();
    let config = RoutingConfig::from_file(&path);
    std::fs::remove_file(&path).unwrap();
    let config = config.unwrap();
    assert_eq!(config.drivers_for("x.y", Priority::Info), [&NotifierDriver::Log]);
    assert!(config.drivers_for("y", Priority::Info).is_empty());
}

#[test]
fn driver_lists_parse_like_oslos_option() {
    assert_eq!(
        NotifierDriver::parse_list(" messaging ,log,,noop").unwrap(),
        [NotifierDriver::Messaging, NotifierDriver::Log, NotifierDriver::Noop]
    );
    let err = NotifierDriver::parse_list("messagingv2, smtp").unwrap_err().to_string();
    assert!(err.contains("`smtp`"), "{err}");
}
