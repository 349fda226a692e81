//! `courier call` and `courier cast`.

use std::io::Write;
use std::sync::Arc;

use courier::{Context, RpcClient, Target, Transport, rpc::DEFAULT_CALL_TIMEOUT, transport::TransportConfig};
use serde_json::{Map, Value};

use crate::args::{CallArgs, CastArgs, GlobalOpts, TargetOpts};
use crate::config::{self, Connection, Purpose};
use crate::input;
use crate::outcome::Failure;

/// Everything a call or cast needs before it touches the broker.
struct Prepared {
    connection: Connection,
    context: Context,
    args: Map<String, Value>,
}

/// Reads the configuration and the JSON inputs, so bad input fails before connecting.
fn prepare(global: &GlobalOpts, target: &TargetOpts, args: Option<&str>) -> Result<Prepared, Failure> {
    input::at_most_one_stdin(&[("--args", args), ("--context", target.context.as_deref())])?;
    let mut stdin = std::io::stdin().lock();
    let args = match args {
        Some(spec) => input::read_object(spec, "--args", &mut stdin)?,
        None => Map::new(),
    };
    let context = match &target.context {
        Some(spec) => Context::from_map(input::read_object(spec, "--context", &mut stdin)?),
        None => Context::new(),
    };
    let (connection, _) = config::from_command_line(global, target.exchange.as_deref(), Purpose::Rpc)?;
    Ok(Prepared { connection, context, args })
}

/// Connects to the broker.
pub async fn connect(connection: &Connection) -> Result<Arc<dyn Transport>, Failure> {
    tracing::info!(url = %connection.url, exchange = %connection.exchange, "connecting");
    let config = TransportConfig::default().with_control_exchange(connection.exchange.clone());
    Ok(courier::connect_url(connection.url.clone(), config).await?)
}

fn client(transport: Arc<dyn Transport>, options: &TargetOpts) -> RpcClient {
    let mut client = RpcClient::new(transport, Target::new(options.topic.clone()));
    if let Some(server) = &options.server {
        client = client.with_server(server.clone());
    }
    if let Some(namespace) = &options.namespace {
        client = client.with_namespace(namespace.clone());
    }
    if let Some(version) = options.version {
        client = client.with_version(version);
    }
    client
}

/// `courier call`: prints the result as one JSON document.
///
/// # Errors
/// The failure to report.
pub async fn call(global: &GlobalOpts, args: &CallArgs) -> Result<(), Failure> {
    let prepared = prepare(global, &args.target, args.args.as_deref())?;
    let timeout = args.timeout.or(prepared.connection.default_timeout).unwrap_or(DEFAULT_CALL_TIMEOUT);
    let transport = connect(&prepared.connection).await?;
    let client = client(Arc::clone(&transport), &args.target).with_timeout(timeout);
    let result = client.call(&prepared.context, &args.method, prepared.args).await;
    transport.cleanup().await;
    print_json(&result?)
}

/// `courier cast`: returns once the broker accepted the message.
///
/// # Errors
/// The failure to report.
pub async fn cast(global: &GlobalOpts, args: &CastArgs) -> Result<(), Failure> {
    let prepared = prepare(global, &args.target, args.args.as_deref())?;
    let transport = connect(&prepared.connection).await?;
    let client = client(Arc::clone(&transport), &args.target).with_fanout(args.fanout);
    let result = client.cast(&prepared.context, &args.method, prepared.args).await;
    transport.cleanup().await;
    result?;
    tracing::info!(method = %args.method, topic = %args.target.topic, fanout = args.fanout, "cast sent");
    Ok(())
}

/// Prints one JSON document on stdout: indented for a terminal, one line otherwise.
///
/// # Errors
/// When stdout cannot be written.
pub fn print_json(value: &Value) -> Result<(), Failure> {
    use std::io::IsTerminal;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let text =
        if out.is_terminal() { serde_json::to_string_pretty(value) } else { serde_json::to_string(value) }
            .map_err(|e| Failure::Other(format!("cannot print the result: {e}")))?;
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::Other(format!("cannot write to stdout: {e}")))
}
