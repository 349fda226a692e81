//! What `#[rpc_endpoint]` and `#[notification_endpoint]` accept and reject at compile time:
//! each rule has a case in `tests/ui/<macro>/fail/<rule>.rs` with the expected error in
//! `<rule>.stderr` (a spanned message naming the fix), and `tests/ui/<macro>/pass/` holds
//! programs that must compile warning-free and run.
//!
//! After changing a message, regenerate with `TRYBUILD=overwrite cargo test -p courier-macros --test ui` and read
//! every changed `.stderr`: the message must be the helpful one and point at the user's token.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    for endpoint_macro in ["rpc", "notification"] {
        cases.pass(format!("tests/ui/{endpoint_macro}/pass/*.rs"));
        cases.compile_fail(format!("tests/ui/{endpoint_macro}/fail/*.rs"));
    }
}
