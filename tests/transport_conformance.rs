//! The transport conformance suite (`courier_test_support::conformance`) on every transport
//! courier ships: the same RPC and notification scenarios on `fake://` and on RabbitMQ, so the
//! two are proven equivalent. A new transport adds one instantiation here.

use courier_test_support::transport_conformance;

transport_conformance!(
    fake,
    available: true,
    subject: courier_test_support::conformance::Subject::url("fake://"),
);

transport_conformance!(
    rabbit,
    available: courier_test_support::broker::available("the conformance suite on RabbitMQ"),
    subject: courier_test_support::conformance::Subject::url(courier_test_support::broker::URL),
);
