//! Any body on a server's queue, read as an RPC request: no panic, and a request that reads
//! writes back to the same request (a cast's `_reply_q` and `_timeout`, which mean nothing
//! without a `_msg_id`, are not written back).
#![no_main]

use courier_runtime::wire::{self, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(message) = wire::decode_body(body) else { return };
    let Ok(mut request) = Request::from_message(message) else { return };
    let written = wire::encode_envelope(&request.to_message());
    let again = Request::from_message(wire::decode_body(&written).expect("it decodes")).expect("it reads");
    if !request.is_call() {
        request.reply_q = None;
        request.call_monitor_timeout = None;
    }
    assert_eq!(again, request, "the request round-trips");
});
