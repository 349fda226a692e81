//! `courier` usage: help, version, and the mistakes that exit 3 before any broker is contacted.

use courier_test_support::{broker, cli};
use predicates::prelude::*;

#[test]
fn help_and_version_exit_0_and_document_the_exit_codes() {
    for args in [&["--help"][..], &["call", "--help"], &["cast", "-h"]] {
        let run = cli::courier().args(args).assert();
        run.code(0)
            .stdout(predicate::str::contains("Exit codes:"))
            .stdout(predicate::str::contains("2  the call timed out"))
            .stdout(predicate::str::contains("COURIER_TRANSPORT_URL"));
    }
    let run = cli::courier().args(["--version"]).assert();
    run.code(0).stdout(predicate::str::starts_with("courier "));
}

#[track_caller]
fn assert_usage_error(args: &[&str], expected: &str) {
    let run = cli::courier().args(args).assert();
    run.code(3)
        .stdout("")
        .stderr(cli::one_line())
        .stderr(predicate::str::starts_with("courier: error: "))
        .stderr(predicate::str::contains(expected));
}

#[test]
fn usage_mistakes_exit_3_with_one_line() {
    assert_usage_error(&["call", "--url", broker::URL, "ping"], "--topic");
    assert_usage_error(&["call", "--url", broker::URL, "--topic", "t"], "<METHOD>");
    assert_usage_error(
        &["call", "--url", broker::URL, "--topic", "t", "ping", "--timeout", "soon"],
        "--timeout",
    );
    assert_usage_error(&["cast", "--url", broker::URL, "--topic", "t", "ping", "--bogus"], "--bogus");
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
    let config = cli::temp_file("[DEFAULT]\ndebug = true\n");
    assert_usage_error(
        &["call", "--config-file", cli::path_arg(&config), "--topic", "t", "ping"],
        "has no [DEFAULT] transport_url",
    );
    assert_usage_error(
        &["call", "--config-file", "/nonexistent/nova.conf", "--topic", "t", "ping"],
        "cannot read config file",
    );
}

#[test]
fn a_bad_url_exits_3_without_showing_the_password() {
    let run = cli::courier()
        .args(["call", "--url", "rabbit://admin:hunter2@127.0.0.1:notaport/", "--topic", "t", "ping"])
        .assert();
    run.code(3).stderr(predicate::str::contains("bad port").and(predicate::str::contains("hunter2").not()));
}

#[test]
fn an_unreachable_broker_is_one_line_and_exit_3() {
    // Nothing listens on port 1 of the loopback address.
    let run = cli::courier()
        .args(["call", "--url", "rabbit://guest:hunter2@127.0.0.1:1/", "--topic", "t", "ping"])
        .assert();
    run.code(3)
        .stderr(cli::one_line())
        .stderr(predicate::str::starts_with("courier: error: broker connection failed"))
        .stderr(predicate::str::contains("hunter2").not());
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
