//! What `#[rpc_endpoint]` accepts and rejects at compile time: each rule has a case in
//! `tests/ui/fail/<rule>.rs` with the expected error in `<rule>.stderr` (a spanned message
//! naming the fix), and `tests/ui/pass/` holds programs that must compile warning-free.
//!
//! After changing a message, regenerate with `TRYBUILD=overwrite cargo test --test ui` and read
//! every changed `.stderr`: the message must be the helpful one and point at the user's token.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
