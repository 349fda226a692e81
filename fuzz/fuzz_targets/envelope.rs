//! Any body a broker delivers: decoding never panics, and what decodes survives a re-encode.
#![no_main]

use courier_runtime::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(message) = wire::decode_body(body) {
        let again = wire::decode_body(&wire::encode_envelope(&message)).expect("a re-encoded message decodes");
        assert_eq!(again, message, "the envelope round-trips");
        let bare = wire::decode_body(&wire::encode_bare(&message));
        // A bare object that looks like an envelope is read as one; anything else round-trips.
        if !(message.contains_key("oslo.version") && message.contains_key("oslo.message")) {
            assert_eq!(bare.expect("a bare message decodes"), message);
        }
    }
});
