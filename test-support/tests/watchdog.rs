//! The watchdog ends a test process that runs past its limit: its report names the test and
//! the last step it recorded, and the process exits with 101 instead of hanging.

use std::process::Command;
use std::time::Duration;

use courier_test_support::watchdog::Watchdog;

/// Run only as the child of the test below, which starts this binary again to watch it hang.
#[test]
#[ignore = "a helper: hangs on purpose, in a child process of `a_hung_test_is_ended_with_its_last_step`"]
fn hangs_past_its_limit() {
    let watchdog = Watchdog::start("the hung child", Duration::from_millis(500));
    watchdog.step("sleeping past the limit");
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn a_hung_test_is_ended_with_its_last_step() {
    let output = Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--ignored", "--exact", "hangs_past_its_limit", "--nocapture"])
        .output()
        .expect("run this test binary again");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Without the watchdog the child sleeps its 120 s and then passes (exit 0).
    assert_eq!(output.status.code(), Some(101), "the child was not ended by the watchdog: {stderr}");
    assert!(
        stderr.contains("the hung child still runs after 500ms; its last step: sleeping past the limit"),
        "the report does not name the test and its step: {stderr}"
    );
}
