//! `courier` usage: help, version, and the mistakes that exit 3 before any broker is contacted.

mod cli_support;

use cli_support::*;

#[test]
fn help_and_version_exit_0_and_document_the_exit_codes() {
    for args in [&["--help"][..], &["call", "--help"], &["cast", "-h"]] {
        let run = run_blocking(args);
        run.assert_code(0);
        assert!(run.stdout.contains("Exit codes:"), "{run:?}");
        assert!(run.stdout.contains("2  the call timed out"), "{run:?}");
        assert!(run.stdout.contains("COURIER_TRANSPORT_URL"), "{run:?}");
    }
    let run = run_blocking(&["--version"]);
    run.assert_code(0);
    assert!(run.stdout.starts_with("courier "), "{run:?}");
}

#[track_caller]
fn assert_usage_error(args: &[&str], expected: &str) {
    let run = run_blocking(args);
    run.assert_code(3);
    assert!(run.stdout.is_empty(), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "not one line: {run:?}");
    assert!(run.stderr.starts_with("courier: error: "), "{run:?}");
    assert!(run.stderr.contains(expected), "expected {expected:?}: {run:?}");
}

#[test]
fn usage_mistakes_exit_3_with_one_line() {
    assert_usage_error(&["call", "--url", BROKER_URL, "ping"], "--topic");
    assert_usage_error(&["call", "--url", BROKER_URL, "--topic", "t"], "<METHOD>");
    assert_usage_error(
        &["call", "--url", BROKER_URL, "--topic", "t", "ping", "--timeout", "soon"],
        "--timeout",
    );
    assert_usage_error(&["cast", "--url", BROKER_URL, "--topic", "t", "ping", "--bogus"], "--bogus");
    assert_usage_error(&["frobnicate"], "frobnicate");
    assert_usage_error(&[], "no command given");
}

#[test]
fn malformed_json_exits_3_before_connecting() {
    // Port 1: were the JSON read after connecting, the message would be a connection error.
    let url = "rabbit://guest:guest@127.0.0.1:1/";
    assert_usage_error(
        &["call", "--url", url, "--topic", "t", "ping", "--args", "{not json"],
        "malformed JSON in --args",
    );
    assert_usage_error(
        &["cast", "--url", url, "--topic", "t", "ping", "--args", "[1, 2]"],
        "--args must be a JSON object",
    );
    assert_usage_error(
        &["call", "--url", url, "--topic", "t", "--context", "nope", "ping"],
        "malformed JSON in --context",
    );
    assert_usage_error(
        &["call", "--url", url, "--topic", "t", "ping", "--args", "@/nonexistent/args.json"],
        "cannot read --args file",
    );
    assert_usage_error(&["call", "--url", url, "--topic", "t", "--version", "one", "ping"], "--version");
}

#[test]
fn a_missing_transport_url_exits_3_and_says_where_to_give_one() {
    assert_usage_error(&["call", "--topic", "t", "ping"], "COURIER_TRANSPORT_URL");
    let config = TempFile::new("courier-empty.conf", "[DEFAULT]\ndebug = true\n");
    assert_usage_error(
        &["call", "--config-file", config.path(), "--topic", "t", "ping"],
        "has no [DEFAULT] transport_url",
    );
    assert_usage_error(
        &["call", "--config-file", "/nonexistent/nova.conf", "--topic", "t", "ping"],
        "cannot read config file",
    );
}

#[test]
fn a_bad_url_exits_3_without_showing_the_password() {
    let run = run_blocking(&[
        "call",
        "--url",
        "rabbit://admin:hunter2@127.0.0.1:notaport/",
        "--topic",
        "t",
        "ping",
    ]);
    run.assert_code(3);
    assert!(run.stderr.contains("bad port") && !run.stderr.contains("hunter2"), "{run:?}");
}

#[test]
fn an_unreachable_broker_is_one_line_and_exit_3() {
    // Nothing listens on port 1 of the loopback address.
    let run = run_blocking(&["call", "--url", "rabbit://guest:hunter2@127.0.0.1:1/", "--topic", "t", "ping"]);
    run.assert_code(3);
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.starts_with("courier: error: broker connection failed"), "{run:?}");
    assert!(!run.stderr.contains("hunter2"), "{run:?}");
}

#[test]
fn notification_mistakes_exit_3() {
    let url = "rabbit://guest:guest@127.0.0.1:1/";
    assert_usage_error(
        &["notify", "--url", url, "--event-type", "e", "--payload", "{oops"],
        "malformed JSON in --payload",
    );
    assert_usage_error(&["notify", "--url", url, "--event-type", "e"], "--payload");
    assert_usage_error(
        &["notify", "--url", url, "--priority", "loud", "--event-type", "e", "--payload", "1"],
        "loud",
    );
    assert_usage_error(&["listen", "--url", url, "--priority", "chatty"], "chatty");
    assert_usage_error(
        &["notify", "--url", url, "--event-type", "e", "--payload", "-", "--context", "-"],
        "only one option may read stdin",
    );
}
