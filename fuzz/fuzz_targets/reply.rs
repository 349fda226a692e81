//! Any body on a reply queue, read as a reply (its `failure` too): no panic, the direct reader
//! (`decode_reply`) agrees with the map path, errors included, and a reply that reads writes
//! back to the same reply.
#![no_main]

use courier_runtime::wire::{self, Reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let read = wire::decode_body(body).and_then(Reply::from_message);
    let direct = wire::decode_reply(body);
    assert_eq!(
        direct.as_ref().map_err(ToString::to_string),
        read.as_ref().map_err(ToString::to_string),
        "the direct reader agrees"
    );
    let Ok(reply) = read else { return };
    let written = wire::encode_envelope(&reply.to_message());
    let again = Reply::from_message(wire::decode_body(&written).expect("it decodes")).expect("it reads");
    assert_eq!(again, reply, "the reply round-trips");
});
