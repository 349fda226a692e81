//! Any body on a reply queue, read as a reply (its `failure` too): no panic, and a reply that
//! reads writes back to the same reply.
#![no_main]

use courier_runtime::wire::{self, Reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(message) = wire::decode_body(body) else { return };
    let Ok(reply) = Reply::from_message(message) else { return };
    let written = wire::encode_envelope(&reply.to_message());
    let again = Reply::from_message(wire::decode_body(&written).expect("it decodes")).expect("it reads");
    assert_eq!(again, reply, "the reply round-trips");
});
