//! Generated code names only `::courier::__private::...` and hygienic locals: user items called
//! `Result`, `Option`, `Some`, `Ok`, `Box`, `Send`, `serde`, `serde_json`, `tokio`, `String`,
//! `Vec`, `Arc`, `Future`, `Clone`, `Debug`, `Context` ..., parameters named like the generated
//! locals, and methods named like the `Endpoint` trait's do not disturb it.
#![deny(warnings)]
#![allow(dead_code, non_camel_case_types, unused_macros)]

/// Items shadowing the prelude and common crates, at the endpoint's module level.
mod shadowing_items {
    mod serde {}
    mod serde_json {}
    mod tokio {}
    mod courier_runtime {}

    struct Result;
    struct Option;
    struct Some;
    struct None;
    struct Ok;
    struct Err;
    struct Box;
    struct Send;
    struct Sized;
    struct Sync;
    struct String;
    struct Vec;
    struct Arc;
    struct Future;
    struct Pin;
    struct Clone;
    struct Debug;
    struct Map;
    struct Value;
    struct Args;
    struct Failure;
    struct Invocation;
    struct Endpoint;
    struct EndpointInfo;
    struct MethodInfo;
    struct MethodKind;
    struct RpcClient;
    struct Error;
    struct Context;
    struct INFO;
    struct T;
    struct E;
    struct args;
    struct context;
    struct value;
    struct index;
    struct future;
    macro_rules! format {
        () => {};
    }
    macro_rules! panic {
        () => {};
    }

    pub struct Compute;

    #[courier::rpc_endpoint(namespace = "ns", version = "1.0")]
    impl Compute {
        fn add(&self, a: i64, b: i64) -> i64 {
            a + b
        }

        async fn maybe(&self, x: ::std::option::Option<u8>) -> ::std::result::Result<u8, ::std::string::String> {
            x.ok_or_else(|| "none".into())
        }

        fn unit(&self) {}
    }

    pub fn check() {
        assert_eq!(<Compute as ::courier::rpc::Endpoint>::info(&Compute).methods.len(), 3);
    }
}

/// Parameters named like the generated code's locals and parameters.
mod shadowing_params {
    pub struct Compute;

    #[courier::rpc_endpoint]
    impl Compute {
        fn locals(&self, args: i64, context: i64, value: i64, index: i64, ctx: i64, client: i64) -> i64 {
            args + context + value + index + ctx + client
        }

        async fn more(&self, future: u8, __courier_value: u8, inner: u8) -> u8 {
            future + __courier_value + inner
        }

        /// Inherent methods named like `Endpoint`'s: the generated code calls the right ones.
        fn info(&self) -> u8 {
            1
        }

        fn invoke(&self) -> u8 {
            2
        }
    }

    pub fn check() {
        use courier::rpc::Endpoint;
        let compute = Compute;
        assert_eq!(Endpoint::info(&compute).methods.len(), 4);
        assert_eq!(compute.info(), 1);
        let _: fn(courier::RpcClient) -> ComputeClient = ComputeClient::new;
    }
}

fn main() {
    shadowing_items::check();
    shadowing_params::check();
}
