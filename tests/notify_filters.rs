//! Filters decide which notifications reach an endpoint: regexes anchored at the start, on the
//! event type, the publisher id, and context, metadata and payload keys (a missing key or a
//! value that is not a string is no match).
//!
//! Each filtered endpoint records what it sees; an unfiltered witness, last in the chain,
//! records everything, so once the witness saw every message the others are done with them.

use std::sync::Arc;

use courier::{Context, NotificationListener, Target, notify::NotificationFilter};
use courier_test_support::transports::{Recorder, TransportEnv, channel};
use courier_test_support::unique;
use serde_json::{Value, json};

/// One notification to send: a label (its event type ends with it), publisher, context and
/// payload.
struct Case {
    event_type: &'static str,
    publisher_id: &'static str,
    context: Context,
    payload: Value,
}

fn case(event_type: &'static str, publisher_id: &'static str, context: Context, payload: Value) -> Case {
    Case { event_type, publisher_id, context, payload }
}

async fn each_field_kind_matches_and_mismatches(url: &'static str) {
    let env = TransportEnv::new(url).await;
    let topic = unique("filters");
    let (sender, mut seen) = channel();
    let filtered = [
        ("event_type", NotificationFilter::new().with_event_type(r"compute\.instance\.").unwrap()),
        ("publisher_id", NotificationFilter::new().with_publisher_id(r"compute\.host\d").unwrap()),
        ("context", NotificationFilter::new().with_context("user", "ali").unwrap()),
        ("metadata_match", NotificationFilter::new().with_metadata("timestamp", r"20\d\d-").unwrap()),
        ("metadata_miss", NotificationFilter::new().with_metadata("message_id", "not-a-uuid").unwrap()),
        ("payload", NotificationFilter::new().with_payload("state", "act").unwrap()),
        (
            "all_of",
            NotificationFilter::new()
                .with_event_type("compute")
                .and_then(|f| f.with_payload("state", "active"))
                .unwrap(),
        ),
    ];
    let mut builder = NotificationListener::builder(Arc::clone(&env.transport)).target(Target::new(&topic));
    for (name, filter) in filtered {
        builder = builder.endpoint_with_filter(Recorder(name, sender.clone()), filter);
    }
    let listener = builder.endpoint(Recorder("witness", sender)).build().unwrap();
    listener.start().await.unwrap();

    let alice = || Context::new().with_user("alice");
    let cases = [
        case("compute.instance.create", "compute.host1", alice(), json!({"state": "active"})),
        // Anchored at the start only: `compute.instance.` further in does not match.
        case(
            "image.compute.instance.x",
            "image.compute.host1",
            Context::new().with_user("bob"),
            json!({"state": "deleted"}),
        ),
        // A missing key, and values that are not strings, are no match.
        case("compute.volume", "compute.hostX", Context::new(), json!({"other": "active"})),
        case("compute.instance.delete", "compute.host2", Context::new().with("user", 5), json!({"state": 3})),
        case("compute.x", "compute.host3", alice(), json!(["state", "active"])),
    ];
    for case in &cases {
        env.notifier(case.publisher_id, &topic)
            .info(&case.context, case.event_type, case.payload.clone())
            .await
            .unwrap();
    }
    let mut reports = Vec::new();
    let mut witnessed = 0;
    while witnessed < cases.len() {
        let report = seen.next("the witness to see every notification").await;
        witnessed += usize::from(report.by == "witness");
        reports.push(report);
    }
    listener.wait().await;
    reports.extend(seen.drain_now());

    let saw = |by: &str| {
        let mut events: Vec<String> =
            reports.iter().filter(|r| r.by == by).map(|r| r.event_type.clone()).collect();
        events.sort();
        events
    };
    assert_eq!(saw("event_type"), ["compute.instance.create", "compute.instance.delete"]);
    assert_eq!(saw("publisher_id"), ["compute.instance.create", "compute.instance.delete", "compute.x"]);
    assert_eq!(saw("context"), ["compute.instance.create", "compute.x"]);
    assert_eq!(saw("metadata_match").len(), cases.len(), "every real timestamp matches");
    assert!(saw("metadata_miss").is_empty());
    assert_eq!(saw("payload"), ["compute.instance.create"]);
    assert_eq!(saw("all_of"), ["compute.instance.create"]);
    assert_eq!(saw("witness").len(), cases.len());
}

courier_test_support::on_every_transport!(each_field_kind_matches_and_mismatches);

#[test]
fn invalid_patterns_are_reported_with_their_field() {
    let error = NotificationFilter::new().with_context("user", "[unclosed").unwrap_err();
    assert!(matches!(error, courier::Error::InvalidConfig { source: Some(_), .. }), "{error}");
    assert!(error.to_string().contains("context `user`"), "{error}");
    // The regex error is kept as the source, naming what is wrong with the pattern.
    let source = std::error::Error::source(&error).expect("the regex error").to_string();
    assert!(source.contains("unclosed"), "{source}");
}
