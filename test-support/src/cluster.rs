//! [`PrivateCluster`]: private RabbitMQ nodes ([`PrivateBroker`]) sharing an Erlang cookie and
//! joined into one cluster with `rabbitmqctl join_cluster`, for failover tests. Like a single
//! private node it never touches the shared broker, and every node goes away on drop.

use crate::node::PrivateBroker;

/// A RabbitMQ cluster of private nodes on 127.0.0.1.
pub struct PrivateCluster {
    /// The nodes; the first is the one the others joined.
    pub nodes: Vec<PrivateBroker>,
}

impl PrivateCluster {
    /// Boots `size` nodes and joins them into one cluster; `None` when RabbitMQ is not
    /// installed.
    ///
    /// # Panics
    /// When a node does not boot or join.
    pub async fn start(size: usize) -> Option<Self> {
        let cookie = uuid::Uuid::new_v4().simple().to_string();
        let mut nodes = Vec::with_capacity(size);
        for _ in 0..size {
            nodes.push(PrivateBroker::start_with_cookie(&cookie).await?);
        }
        let first = nodes[0].node_name().to_owned();
        for node in &nodes[1..] {
            node.stop_app().await;
            let joined = node.ctl(&["join_cluster", &first]).await;
            assert!(
                joined.status.success(),
                "{} could not join {first}: {}{}",
                node.node_name(),
                String::from_utf8_lossy(&joined.stdout),
                String::from_utf8_lossy(&joined.stderr)
            );
            node.start_app().await;
        }
        Some(Self { nodes })
    }

    /// A courier URL listing every node, `first` first (the one a transport connects to while
    /// it is up), then the others in order, with `query` (may be empty).
    pub fn url_from(&self, first: usize, query: &str) -> String {
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        order.rotate_left(first % self.nodes.len());
        let hosts: Vec<String> =
            order.iter().map(|&i| format!("guest:guest@127.0.0.1:{}", self.nodes[i].port())).collect();
        let query = if query.is_empty() { String::new() } else { format!("?{query}") };
        format!("rabbit://{}/{query}", hosts.join(","))
    }
}
