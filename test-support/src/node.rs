//! [`PrivateBroker`]: a RabbitMQ node of the test's own, for tests that stop, kill or restart
//! a broker. The shared broker on 127.0.0.1:5672 is never touched: the node has its own name,
//! AMQP port, Erlang distribution port, Erlang cookie, data and log directories and config
//! file, all under a temporary directory that goes away, with the node, on drop.
//!
//! ```no_run
//! # async fn example() {
//! use courier_test_support::node::PrivateBroker;
//!
//! let Some(mut broker) = PrivateBroker::start().await else { return }; // not installed here
//! let transport = courier::connect(&broker.url()).await.unwrap();
//! broker.stop_app().await; // the listeners close; the node stays up
//! broker.start_app().await;
//! broker.kill().await; // kill -9, as a crash would
//! broker.restart().await; // up again, on the same port and data
//! # drop(transport);
//! # }
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::watchdog::{self, Registration, kill_group};

/// How long a node may take to boot on a busy two-core machine.
const BOOT: Duration = Duration::from_secs(120);
/// How long any other `rabbitmqctl` command may take: most of them wait without a bound of
/// their own (`stop_app`, `start_app`, `close_all_connections`), and one that never returns
/// must fail the test, not hang it.
const CTL: Duration = Duration::from_secs(150);
/// How long a killed or stopped node's processes may take to go away.
const EXIT: Duration = Duration::from_secs(30);

/// Ports the RabbitMQ CLI tools take for their own Erlang distribution (`rabbitmqctl` listens on
/// one of them while it runs), and the shared broker's: a node must not take any of them.
fn reserved(port: u16) -> bool {
    matches!(port, 5671 | 5672 | 25672 | 35672..=35682)
}

/// A free port on 127.0.0.1 (free when asked; the node binds it moments later).
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port on 127.0.0.1");
        let port = listener.local_addr().expect("a local address").port();
        if !reserved(port) {
            return port;
        }
    }
}

/// Where the unwrapped RabbitMQ scripts are. Debian's `/usr/sbin/rabbitmq-server` is a wrapper
/// that switches to the `rabbitmq` user and that user's cookie and directories; the scripts in
/// `/usr/lib/rabbitmq/bin` honour the environment this helper sets.
fn scripts_dir() -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/lib/rabbitmq/bin")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates.push(PathBuf::from("/usr/sbin"));
    candidates
        .into_iter()
        .find(|dir| dir.join("rabbitmq-server").is_file() && dir.join("rabbitmqctl").is_file())
}

/// A RabbitMQ node of the test's own on 127.0.0.1, removed with everything it wrote on drop.
pub struct PrivateBroker {
    dir: TempDir,
    scripts: PathBuf,
    node: String,
    port: u16,
    dist_port: u16,
    /// The `rabbitmq-server` process, leader of its own process group, and its entry in the
    /// watchdog's registry; `None` once killed or stopped.
    server: Option<(Child, Registration)>,
    /// The TLS listener, when the node has one.
    tls: Option<TlsListener>,
}

/// A TLS listener of a private node: its port and the certificates of a throwaway PKI made for
/// it (see [`Pki`]).
#[derive(Debug)]
struct TlsListener {
    port: u16,
    pki: Pki,
}

/// A throwaway PKI, made with `openssl` in a directory: a CA, a server certificate for
/// 127.0.0.1 / localhost, and a client certificate whose common name is `guest` (the user an
/// `EXTERNAL` login maps it to). Keys are PKCS#8 PEM, as courier's `ssl_key_file` expects.
#[derive(Clone, Debug)]
pub struct Pki {
    /// The CA certificate (`ssl_ca_file`).
    pub ca: PathBuf,
    /// The server certificate and key.
    pub server_cert: PathBuf,
    /// The server's key.
    pub server_key: PathBuf,
    /// The client certificate (`ssl_cert_file`), CN `guest`.
    pub client_cert: PathBuf,
    /// The client's key (`ssl_key_file`).
    pub client_key: PathBuf,
}

impl Pki {
    /// Makes the CA and both certificates under `dir`.
    ///
    /// # Panics
    /// When `openssl` fails, with what it printed.
    pub fn generate(dir: &Path) -> Self {
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
            assert!(
                output.status.success(),
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-days",
            "2",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-subj",
            "/O=courier tests/CN=private node CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        let issue = |name: &str, subject: &str, extensions: &str| {
            std::fs::write(dir.join(format!("{name}.ext")), extensions).expect("write the extensions");
            openssl(&[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-keyout",
                &format!("{name}-key.pem"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                subject,
            ]);
            openssl(&[
                "x509",
                "-req",
                "-sha256",
                "-days",
                "2",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ]);
        };
        issue(
            "server",
            "/O=courier tests/CN=localhost",
            "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\n\
             extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1, DNS:localhost\n",
        );
        issue(
            "client",
            "/O=courier tests/CN=guest",
            "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\n\
             extendedKeyUsage = clientAuth\n",
        );
        Self {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        }
    }
}

impl PrivateBroker {
    /// Starts a node and waits until it accepts AMQP connections; `None` (with the reason
    /// printed) when RabbitMQ is not installed (`scripts/test-env.sh` installs it).
    ///
    /// # Panics
    /// When the node does not boot, with the end of its log.
    pub async fn start() -> Option<Self> {
        Self::start_node(&new_cookie(), false).await
    }

    /// [`start`](Self::start) with a given Erlang cookie: nodes sharing one can form a cluster
    /// ([`PrivateCluster`](crate::cluster::PrivateCluster)).
    pub(crate) async fn start_with_cookie(cookie: &str) -> Option<Self> {
        Self::start_node(cookie, false).await
    }

    /// Starts a node that also listens for TLS on its own port, with a [`Pki`] of its own, and
    /// requires a client certificate there (`verify_peer`, `fail_if_no_peer_cert`). Logins on
    /// that listener may use `EXTERNAL` (the certificate's common name is the user) as well as
    /// `PLAIN` / `AMQPLAIN`.
    ///
    /// # Panics
    /// As [`start`](Self::start), and when the PKI cannot be made.
    pub async fn start_with_client_cert_tls() -> Option<Self> {
        Self::start_node(&new_cookie(), true).await
    }

    async fn start_node(cookie: &str, tls: bool) -> Option<Self> {
        let Some(scripts) = scripts_dir() else {
            eprintln!("skipping: rabbitmq-server is not installed (run scripts/test-env.sh)");
            return None;
        };
        let dir =
            tempfile::Builder::new().prefix("courier-broker-").tempdir().expect("a temporary directory");
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut broker = Self {
            node: format!("courier-test-{}@localhost", &id[..12]),
            scripts,
            port: free_port(),
            dist_port: free_port(),
            server: None,
            tls: None,
            dir,
        };
        if tls {
            let pki_dir = broker.path("pki");
            std::fs::create_dir_all(&pki_dir).expect("create the PKI directory");
            broker.tls = Some(TlsListener { port: free_port(), pki: Pki::generate(&pki_dir) });
        }
        broker.write_files(cookie);
        broker.boot().await;
        Some(broker)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_files(&self, cookie: &str) {
        let write = |name: &str, contents: &str| {
            std::fs::write(self.path(name), contents).unwrap_or_else(|e| panic!("write {name}: {e}"));
        };
        std::fs::create_dir_all(self.path("home")).expect("create the node's home");
        std::fs::create_dir_all(self.path("log")).expect("create the node's log directory");
        // The cookie the node and `ctl` share; Erlang insists that only its owner reads it.
        write("home/.erlang.cookie", cookie);
        set_owner_only(&self.path("home/.erlang.cookie"));
        let mut config = format!("listeners.tcp.1 = 127.0.0.1:{}\n", self.port);
        let mut plugins = "[].\n";
        if let Some(tls) = &self.tls {
            let path = |p: &Path| p.to_str().expect("a UTF-8 path").to_owned();
            config.push_str(&format!(
                "listeners.ssl.1 = 127.0.0.1:{}\n\
                 ssl_options.cacertfile = {}\n\
                 ssl_options.certfile = {}\n\
                 ssl_options.keyfile = {}\n\
                 ssl_options.verify = verify_peer\n\
                 ssl_options.fail_if_no_peer_cert = true\n\
                 ssl_cert_login_from = common_name\n\
                 auth_mechanisms.1 = PLAIN\n\
                 auth_mechanisms.2 = AMQPLAIN\n\
                 auth_mechanisms.3 = EXTERNAL\n",
                tls.port,
                path(&tls.pki.ca),
                path(&tls.pki.server_cert),
                path(&tls.pki.server_key),
            ));
            plugins = "[rabbitmq_auth_mechanism_ssl].\n";
        }
        write("rabbitmq.conf", &config);
        write("enabled_plugins", plugins);
        // Read instead of /etc/rabbitmq/rabbitmq-env.conf, which names the shared node.
        write("rabbitmq-env.conf", "");
    }

    /// The environment every RabbitMQ script of this node runs with.
    fn command(&self, script: &str) -> Command {
        let mut command = Command::new(self.scripts.join(script));
        command
            .current_dir(self.dir.path())
            .env("HOME", self.path("home"))
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CONF_ENV_FILE", self.path("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", self.path("rabbitmq.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", self.path("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", self.path("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.path("log"))
            .env("RABBITMQ_PID_FILE", self.path("rabbitmq.pid"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("ERL_FLAGS", "-kernel inet_dist_use_interface {127,0,0,1}");
        command
    }

    async fn boot(&mut self) {
        let _ = std::fs::remove_file(self.path("rabbitmq.pid"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("log/server.out"))
            .expect("open the node's output file");
        let mut command = self.command("rabbitmq-server");
        command.stdin(Stdio::null()).stdout(log.try_clone().expect("a second handle")).stderr(log);
        // Its own process group, so `kill` reaches the Erlang VM the script starts, too.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let server = command.spawn().expect("start rabbitmq-server");
        let registration = watchdog::register(
            server.id(),
            &self.node,
            Some(self.path("log/server.out")),
            Some(self.dir.path().to_owned()),
        );
        self.server = Some((server, registration));
        // `rabbitmqctl wait` returns once the node's applications run (or the node died).
        let pid_file = self.path("rabbitmq.pid");
        let timeout = BOOT.as_secs().to_string();
        let output =
            self.ctl(&["wait", "--timeout", &timeout, pid_file.to_str().expect("a UTF-8 path")]).await;
        if !output.status.success() {
            panic!(
                "the private broker {} did not boot: {}\n--- its output ---\n{}",
                self.node,
                String::from_utf8_lossy(&output.stderr),
                self.log_tail()
            );
        }
    }

    /// The end of the node's output, for failure messages.
    pub fn log_tail(&self) -> String {
        watchdog::tail(&self.path("log/server.out"), 40)
    }

    /// The node's AMQP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The node's Erlang name (`courier-test-<id>@localhost`).
    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// A courier URL for the node (guest/guest, the default vhost).
    pub fn url(&self) -> String {
        format!("rabbit://guest:guest@127.0.0.1:{}/", self.port)
    }

    /// [`url`](Self::url) with a query, e.g. `rabbit_retry_interval=1`.
    pub fn url_with(&self, query: &str) -> String {
        format!("{}?{query}", self.url())
    }

    /// The PKI of the node's TLS listener, if it has one.
    pub fn pki(&self) -> Option<&Pki> {
        self.tls.as_ref().map(|tls| &tls.pki)
    }

    /// A courier URL for the node's TLS listener (guest/guest, `ssl=true`, trusting the node's
    /// CA), with `query` appended (e.g. the client certificate options).
    ///
    /// # Panics
    /// When the node was started without TLS.
    pub fn tls_url(&self, query: &str) -> String {
        let tls = self.tls.as_ref().expect("a node started with start_with_client_cert_tls");
        let ca = tls.pki.ca.to_str().expect("a UTF-8 path");
        let extra = if query.is_empty() { String::new() } else { format!("&{query}") };
        format!("rabbit://guest:guest@127.0.0.1:{}/?ssl=true&ssl_ca_file={ca}{extra}", tls.port)
    }

    /// A lapin URI for the node (for [`Raw::connect_to`](crate::broker::Raw::connect_to)).
    pub fn amqp_uri(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Runs `rabbitmqctl -n <node> args...` and returns what it did.
    ///
    /// # Panics
    /// When the command does not finish within a bound (150 s): it is killed, and the panic
    /// shows the end of the node's log.
    pub async fn ctl(&self, args: &[&str]) -> Output {
        let mut command = self.command("rabbitmqctl");
        command.arg("-n").arg(&self.node).args(args).stdin(Stdio::null());
        let mut command = tokio::process::Command::from(command);
        command.kill_on_drop(true);
        match tokio::time::timeout(CTL, command.output()).await {
            Ok(output) => output.expect("run rabbitmqctl"),
            Err(_) => panic!(
                "rabbitmqctl {args:?} on {} did not finish within {CTL:?}\n--- the node's output ---\n{}",
                self.node,
                self.log_tail()
            ),
        }
    }

    async fn ctl_ok(&self, args: &[&str]) {
        let output = self.ctl(args).await;
        assert!(
            output.status.success(),
            "rabbitmqctl {args:?} on {} failed: {}{}",
            self.node,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Stops the RabbitMQ application (`rabbitmqctl stop_app`): every connection drops and the
    /// port closes, while the Erlang node stays up.
    pub async fn stop_app(&self) {
        self.ctl_ok(&["stop_app"]).await;
    }

    /// Starts the application again (`rabbitmqctl start_app`) and waits until it runs.
    pub async fn start_app(&self) {
        self.ctl_ok(&["start_app"]).await;
        self.ctl_ok(&["await_startup"]).await;
    }

    /// Closes every client connection (`rabbitmqctl close_all_connections`), as an operator or
    /// a load balancer cutting them would; the node and its port stay up.
    pub async fn close_all_connections(&self) {
        self.ctl_ok(&["close_all_connections", "closed by a courier fault test"]).await;
    }

    /// Kills the node with SIGKILL, as a crash or an OOM kill would; waits until it is gone.
    ///
    /// # Panics
    /// When it is still there after 30 s.
    pub async fn kill(&mut self) {
        let Some((mut server, _registration)) = self.server.take() else { return };
        kill_group(server.id());
        self.exited(&mut server, "after SIGKILL").await;
    }

    /// Stops the node gracefully if it runs (`rabbitmqctl stop`), then boots it again on the
    /// same port, name and data; returns once it accepts connections.
    pub async fn restart(&mut self) {
        if let Some((mut server, _registration)) = self.server.take() {
            self.ctl_ok(&["stop"]).await;
            self.exited(&mut server, "after rabbitmqctl stop").await;
        }
        self.boot().await;
    }

    /// Waits (within [`EXIT`]) for the `rabbitmq-server` process to end, polling so that no
    /// thread is left blocked on it if it never does.
    async fn exited(&self, server: &mut Child, when: &str) {
        let deadline = tokio::time::Instant::now() + EXIT;
        loop {
            if server.try_wait().expect("the state of rabbitmq-server").is_some() {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                kill_group(server.id());
                panic!("the private broker {} still ran {EXIT:?} {when}", self.node);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        // No graceful stop: the data goes away with the directory anyway.
        if let Some((mut server, _registration)) = self.server.take() {
            kill_group(server.id());
            let deadline = std::time::Instant::now() + EXIT;
            while matches!(server.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A fresh Erlang cookie, so a node cannot join another by accident.
fn new_cookie() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn set_owner_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o400)).expect("chmod the cookie");
}
