//! Helpers for tests of services built on courier: fixtures of real oslo.messaging messages,
//! as captured from oslo.messaging 18.3.1 on RabbitMQ.
//!
//! ```
//! use courier_runtime::testing::OSLO_CALL_BODY;
//! use courier_runtime::wire::{Request, decode_body};
//!
//! let request = Request::from_message(decode_body(OSLO_CALL_BODY.as_bytes()).unwrap()).unwrap();
//! assert_eq!(request.method, "echo");
//! assert_eq!(request.context.user(), Some("alice"));
//! ```

/// The body of a call as a Python `RPCClient` publishes it (envelope 2.0, double-encoded).
pub const OSLO_CALL_BODY: &str = r#"{"oslo.version": "2.0", "oslo.message": "{\"method\": \"echo\", \"args\": {\"value\": [1, \"two\", {\"three\": 3.0}]}, \"_msg_id\": \"3f0916369bd04475b2eb5ca177d85354\", \"_reply_q\": \"reply_8845ac724b524fb3b63b99350a696cd9\", \"_timeout\": null, \"_unique_id\": \"379b6f474992456da4b61e3a0b19ecd6\", \"_context_user\": \"alice\", \"_context_request_id\": \"req-1\"}"}"#;

/// The body of the reply a Python `RPCServer` sends for [`OSLO_CALL_BODY`].
pub const OSLO_REPLY_BODY: &str = r#"{"oslo.version": "2.0", "oslo.message": "{\"result\": {\"value\": [1, \"two\", {\"three\": 3.0}], \"ctx_user\": \"alice\"}, \"failure\": null, \"ending\": true, \"_msg_id\": \"3f0916369bd04475b2eb5ca177d85354\", \"_unique_id\": \"d299a3be08ea48879918a63ee7901f27\"}"}"#;

/// The `failure` field of a reply for `raise ValueError('bad things', 42)`.
pub const OSLO_FAILURE_VALUE_ERROR: &str = r#"{"class": "ValueError", "module": "builtins", "message": "('bad things', 42)", "tb": ["Traceback (most recent call last):\n", "ValueError: ('bad things', 42)\n"], "args": ["bad things", 42], "kwargs": {}}"#;

/// A notification as the `messagingv2` driver publishes it.
pub const OSLO_NOTIFICATION_V2_BODY: &str = r#"{"oslo.version": "2.0", "oslo.message": "{\"message_id\": \"470bbc99-f9bd-40e2-a43b-b194a904e159\", \"publisher_id\": \"compute.host1\", \"event_type\": \"compute.instance.create.end\", \"priority\": \"INFO\", \"payload\": {\"instance_id\": 12, \"state\": \"active\"}, \"timestamp\": \"2026-11-23 07:02:47.787110\", \"_unique_id\": \"c90d7441683c4f22b013ddf417447411\"}"}"#;

/// A notification as the `messaging` (1.0, unenveloped) driver publishes it.
pub const OSLO_NOTIFICATION_V1_BODY: &str = r#"{"message_id": "8a2e9c1e-6f1b-4a53-9d2e-3c1f2b7a0d11", "publisher_id": "compute.host1", "event_type": "compute.instance.delete.start", "priority": "WARN", "payload": {"instance_id": 13}, "timestamp": "2026-11-23 07:02:47.787110", "_unique_id": "46df0c0e8b1e4d0f9a3f5b1c2d3e4f50"}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Failure, Notification, Reply, decode_body};

    #[test]
    fn every_fixture_decodes() {
        let reply = Reply::from_message(decode_body(OSLO_REPLY_BODY.as_bytes()).unwrap()).unwrap();
        assert!(reply.ending && reply.failure.is_none());
        assert_eq!(reply.result["ctx_user"], "alice");
        assert_eq!(Failure::from_json_str(OSLO_FAILURE_VALUE_ERROR).unwrap().class, "ValueError");
        for body in [OSLO_NOTIFICATION_V2_BODY, OSLO_NOTIFICATION_V1_BODY] {
            let n = Notification::from_message(decode_body(body.as_bytes()).unwrap()).unwrap();
            assert_eq!(n.publisher_id, "compute.host1");
        }
    }
}
