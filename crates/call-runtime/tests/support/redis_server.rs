//! A real `redis-server` on a free loopback port, started by a test or bench and killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `redis-server` child process.
pub(crate) struct RedisServer {
    port: u16,
    /// With a directory: append-only file, fsynced on every write, so data survives a kill and restart.
    dir: Option<PathBuf>,
    child: Option<Child>,
}

impl RedisServer {
    /// A server without persistence.
    pub(crate) fn start() -> RedisServer {
        RedisServer::launch(free_port(), None)
    }

    /// A server whose every acknowledged write is fsynced to an append-only file in `dir`.
    pub(crate) fn start_durable(dir: &Path) -> RedisServer {
        RedisServer::launch(free_port(), Some(dir.to_path_buf()))
    }

    fn launch(port: u16, dir: Option<PathBuf>) -> RedisServer {
        let mut server = RedisServer { port, dir, child: None };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match &self.dir {
            Some(dir) => command
                .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                .arg(dir),
            None => command.args(["--appendonly", "no"]),
        };
        let child = command.spawn().unwrap_or_else(|error| {
            panic!(
                "cannot start redis-server ({error}): these tests need a real Redis; install it with \
                 `apt-get install -y redis-server` (CI installs the Debian package)"
            )
        });
        self.child = Some(child);
        // Bounded wait until it accepts connections.
        for _ in 0..400 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not listen on 127.0.0.1:{} within 4 s", self.port);
    }

    /// The URL to reach it.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: no chance to save anything beyond what it already fsynced).
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (and directory).
    pub(crate) fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    listener.local_addr().expect("local address").port()
}
