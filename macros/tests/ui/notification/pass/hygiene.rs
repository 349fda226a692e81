//! `#[notification_endpoint]` names only `::courier::__private::...` and hygienic locals: user
//! items called like the prelude, common crates and the generated locals, and a renamed crate,
//! do not disturb it.
#![deny(warnings)]
#![allow(dead_code, non_camel_case_types)]

extern crate courier as notices;

mod serde {}
mod serde_json {}
mod tokio {}

struct Result;
struct Option;
struct Ok;
struct Err;
struct Box;
struct Send;
struct Sized;
struct String;
struct Vec;
struct Arc;
struct Future;
struct Pin;
struct Priority;
struct NotificationResult;
struct NotificationMessage;
struct NotificationInvocation;
struct NotificationOutcome;
struct messages;
struct message;
struct value;
struct method;
struct future;

#[derive(::serde::Deserialize)]
struct Event {
    id: u64,
}

struct Audit;

#[notices::notification_endpoint(crate = "notices")]
impl Audit {
    fn info(
        &self,
        ctx: &notices::Context,
        publisher_id: std::string::String,
        event_type: std::string::String,
        payload: Event,
        metadata: notices::Metadata,
    ) -> notices::notify::NotificationResult {
        let _ = (ctx, publisher_id, event_type, payload.id, metadata);
        notices::notify::NotificationResult::Handled
    }

    async fn warn(
        &self,
        publisher_id: std::string::String,
        event_type: std::string::String,
        payload: ::serde_json::Value,
        metadata: notices::Metadata,
    ) -> std::result::Result<(), std::string::String> {
        let _ = (publisher_id, event_type, payload, metadata);
        std::result::Result::Ok(())
    }
}

struct Batch;

#[notices::notification_endpoint(batch, crate = "notices")]
impl Batch {
    fn sample(&self, batch: std::vec::Vec<notices::NotificationMessage<Event>>) {
        let _ = batch;
    }
}

fn main() {
    use notices::notify::NotificationEndpoint as _;
    assert_eq!(Audit.endpoint_info().methods.len(), 2);
    assert!(Batch.endpoint_info().batch);
}
