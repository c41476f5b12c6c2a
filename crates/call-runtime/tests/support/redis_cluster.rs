//! A real Redis Cluster on free loopback ports, started by a test: `redis-server --cluster-enabled yes`
//! nodes joined with `redis-cli --cluster create`, each in its own temporary directory, killed when dropped.
//! Every node runs with a short `cluster-node-timeout`, so a killed primary's replica is promoted within a few
//! seconds, and (unless started with [`RedisCluster::start_volatile`], as benches comparing it with one Redis
//! without persistence do) with an append-only file fsynced on every write.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One node of the cluster.
pub(crate) struct Node {
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
    /// Its data: the append-only file and `nodes.conf`, so a restarted node rejoins as itself.
    dir: PathBuf,
    /// Whether it keeps an append-only file fsynced on every write.
    durable: bool,
    child: Option<Child>,
}

impl Node {
    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
            .args(["--cluster-replica-validity-factor", "0"])
            .args(match self.durable {
                true => ["--appendonly", "yes", "--appendfsync", "always"].as_slice(),
                false => ["--appendonly", "no"].as_slice(),
            })
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start redis-server ({error}): these tests need a real Redis (apt-get install redis-server)"
                )
            });
        self.child = Some(child);
        let port = self.port;
        wait_until(Duration::from_secs(4), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    /// `host:port`, as `redis-cli --cluster` and `MIGRATE` take it.
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Whether the process is still running (not killed by the test).
    pub(crate) fn alive(&self) -> bool {
        self.child.is_some()
    }
}

/// A running cluster of `primaries` primaries, each with `replicas` replicas.
pub(crate) struct RedisCluster {
    /// Every node, primaries first as `redis-cli --cluster create` assigned them.
    pub(crate) nodes: Vec<Node>,
    dir: PathBuf,
}

impl RedisCluster {
    /// Starts `primaries × (1 + replicas)` nodes and joins them into one cluster covering every slot; every
    /// node fsyncs each write to its append-only file.
    pub(crate) fn start(primaries: usize, replicas: usize) -> RedisCluster {
        RedisCluster::launch(primaries, replicas, true)
    }

    /// Starts `primaries` primaries without replicas or persistence (what a restart loses is lost).
    #[allow(dead_code, reason = "the benches start it; the tests need durable nodes")]
    pub(crate) fn start_volatile(primaries: usize) -> RedisCluster {
        RedisCluster::launch(primaries, 0, false)
    }

    fn launch(primaries: usize, replicas: usize, durable: bool) -> RedisCluster {
        let dir = std::env::temp_dir().join(format!("switchboard-cluster-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).expect("create the cluster's directory");
        let mut cluster = RedisCluster { nodes: Vec::new(), dir };
        for _ in 0..primaries * (1 + replicas) {
            let port = free_port();
            let node_dir = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("create a node's directory");
            let mut node = Node {
                port,
                dir: node_dir,
                durable,
                child: None,
            };
            node.spawn();
            cluster.nodes.push(node);
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(node.address());
        }
        let output = create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let expected_nodes = cluster.nodes.len();
        wait_until(Duration::from_secs(20), || {
            cluster.nodes.iter().all(|node| {
                let info = cli(node.port, &["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok") && info.contains(&format!("cluster_known_nodes:{expected_nodes}"))
            })
        });
        if replicas > 0 {
            wait_until(Duration::from_secs(20), || {
                cluster.nodes.iter().all(|node| {
                    let info = cli(node.port, &["INFO", "replication"]);
                    info.contains("role:master") || info.contains("master_link_status:up")
                })
            });
        }
        cluster
    }

    /// The seed URLs of every node.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("redis://{}", node.address()))
            .collect()
    }

    /// The node holding `slot` as primary now (asked of a node still alive).
    pub(crate) fn primary_of(&self, slot: u16) -> usize {
        self.find_primary(slot)
            .unwrap_or_else(|| panic!("no primary serves slot {slot}"))
    }

    fn find_primary(&self, slot: u16) -> Option<usize> {
        let asker = self.nodes.iter().find(|node| node.alive()).expect("a live node");
        // One line per node: `<id> <ip:port@bus> <flags> <primary> <ping> <pong> <epoch> <link> <slots...>`.
        let nodes = cli(asker.port, &["CLUSTER", "NODES"]);
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((from, to)) => {
                    from.parse::<u16>().is_ok_and(|from| from <= slot) && to.parse::<u16>().is_ok_and(|to| slot <= to)
                }
                None => range.parse::<u16>().is_ok_and(|single| single == slot),
            });
            if serves {
                let port: u16 = fields[1]
                    .split(['@', ':'])
                    .nth(1)
                    .and_then(|port| port.parse().ok())
                    .expect("a node address");
                return self.nodes.iter().position(|node| node.port == port);
            }
        }
        None
    }

    /// The slot of `key`, as the cluster computes it.
    pub(crate) fn slot_of(&self, key: &str) -> u16 {
        let asker = self.nodes.iter().find(|node| node.alive()).expect("a live node");
        cli(asker.port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("a slot")
    }

    /// A node's cluster id.
    pub(crate) fn id_of(&self, node: usize) -> String {
        cli(self.nodes[node].port, &["CLUSTER", "MYID"]).trim().to_string()
    }

    /// Kills node `index` with SIGKILL: nothing beyond what it already fsynced survives.
    pub(crate) fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed node again from its files: a former primary whose replica took over rejoins as that
    /// replica's replica. Returns once the node is a replica with its link to its primary up.
    pub(crate) fn restart(&mut self, index: usize) {
        self.kill(index);
        self.nodes[index].spawn();
        let port = self.nodes[index].port;
        wait_until(Duration::from_secs(30), || {
            let info = cli(port, &["INFO", "replication"]);
            info.contains("role:slave") && info.contains("master_link_status:up")
        });
    }

    /// Waits until a live node other than `dead` serves `slot` as primary and the surviving nodes agree the
    /// cluster serves every slot (after a failover).
    pub(crate) fn wait_failover(&self, dead: usize, slot: u16, within: Duration) {
        wait_until(within, || {
            self.find_primary(slot)
                .is_some_and(|primary| primary != dead && self.nodes[primary].alive())
                && self
                    .nodes
                    .iter()
                    .filter(|node| node.alive())
                    .all(|node| cli(node.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        });
    }

    /// Moves `slot` from its primary to primary `to`, the way `redis-cli --cluster reshard` does: the target
    /// imports, the source migrates, the keys move a few at a time (with `pause` between batches, so traffic
    /// meets the `ASK` redirections of a slot half moved), then every node learns the new owner.
    pub(crate) fn move_slot(&self, slot: u16, to: usize, pause: Duration) {
        let from = self.primary_of(slot);
        assert_ne!(from, to, "slot {slot} is already on node {to}");
        let (from_id, to_id) = (self.id_of(from), self.id_of(to));
        let (source, target) = (&self.nodes[from], &self.nodes[to]);
        let slot_arg = slot.to_string();
        ok(cli(
            target.port,
            &["CLUSTER", "SETSLOT", &slot_arg, "IMPORTING", &from_id],
        ));
        ok(cli(
            source.port,
            &["CLUSTER", "SETSLOT", &slot_arg, "MIGRATING", &to_id],
        ));
        loop {
            let keys = cli(source.port, &["CLUSTER", "GETKEYSINSLOT", &slot_arg, "2"]);
            let keys: Vec<&str> = keys.lines().map(str::trim).filter(|key| !key.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let port = target.port.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
            args.extend(keys.iter().copied());
            let reply = cli(source.port, &args);
            assert!(reply.contains("OK") || reply.contains("NOKEY"), "MIGRATE: {reply}");
            std::thread::sleep(pause);
        }
        // The target first, then the source, then the rest, as `redis-cli --cluster reshard` does.
        let mut order = vec![to, from];
        order.extend((0..self.nodes.len()).filter(|node| *node != to && *node != from));
        for node in order.into_iter().filter(|node| self.nodes[*node].alive()) {
            cli(
                self.nodes[node].port,
                &["CLUSTER", "SETSLOT", &slot_arg, "NODE", &to_id],
            );
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `redis-cli -p <port> <args>` and returns what it printed.
pub(crate) fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn ok(reply: String) {
    assert!(reply.trim() == "OK", "redis-cli: {reply}");
}

fn wait_until(within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "the cluster did not settle within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn free_port() -> u16 {
    // A cluster node also listens on its port + 10000 (the bus): pick ports whose bus port is free too.
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
        let port = listener.local_addr().expect("local address").port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}
