//! The quick start's command itself: `npchain devnet` runs its validators, restarts one that
//! crashes, leaves one stopped cleanly down, stops them all on Ctrl-C and resumes from its
//! data when run again. Every process it starts is killed when the test ends.

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};
use support::{Net, wait_until};

const LONG: Duration = Duration::from_secs(90);

/// A running `npchain devnet`, killed with its nodes when dropped.
struct Devnet {
    child: Child,
    dir: PathBuf,
    nodes: usize,
    log: PathBuf,
}

impl Devnet {
    fn start(net: &Net) -> Self {
        let dir = net.layout.dir.clone();
        let o = &net.layout.options;
        let log = dir.join("devnet.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_npchain"))
            .arg("devnet")
            .arg("--data")
            .arg(&dir)
            .args(["--validators", &o.validators.to_string()])
            .args(["--http-port", &o.http_port.to_string()])
            .args(["--dns-port", &o.dns_port.to_string()])
            .args(["--p2p-port", &o.p2p_port.to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Self { child, dir, nodes: o.validators, log }
    }

    fn pid(&self, i: usize) -> Option<u32> {
        std::fs::read_to_string(pid_file(&self.dir, i)).ok()?.trim().parse().ok()
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ctrl-C, and the devnet's exit status once it stopped.
    fn interrupt(&mut self) -> ExitStatus {
        signal("INT", self.child.id());
        let mut status = None;
        wait_until(LONG, "the devnet to stop", || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap()
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- devnet output\n{}", self.output());
        }
        for i in 0..self.nodes {
            if let Some(pid) = self.pid(i) {
                signal("KILL", pid);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pid_file(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("node-{i}")).join("node.pid")
}

fn signal(name: &str, pid: u32) {
    let _ = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status();
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
}

#[test]
fn the_devnet_restarts_a_crashed_node_stops_on_ctrl_c_and_resumes() {
    let net = Net::new(4);
    let all = [0, 1, 2, 3];
    let mut devnet = Devnet::start(&net);
    wait_until(LONG, "all four validators to finalize blocks", || {
        all.iter().all(|i| net.height(*i).is_some_and(|h| h >= 2))
    });
    let first_block = net.block(0, 1).unwrap();

    // kill -9 one node: the devnet starts it again, and it catches up.
    let crashed = devnet.pid(2).unwrap();
    signal("KILL", crashed);
    wait_until(LONG, "the devnet to restart node 2", || devnet.pid(2).is_some_and(|p| p != crashed));
    let target = [0, 1, 3].iter().filter_map(|i| net.height(*i)).max().unwrap() + 1;
    wait_until(LONG, "the restarted node to catch up", || net.height(2).is_some_and(|h| h >= target));
    assert!(devnet.output().contains("node 2 stopped"), "{}", devnet.output());

    // Stopped cleanly, a node stays down; three of four go on.
    signal("TERM", devnet.pid(3).unwrap());
    wait_until(LONG, "the devnet to report node 3 stopped", || {
        devnet.output().contains("node 3 was stopped")
    });
    assert!(net.status(3).is_none(), "node 3 is down");
    assert!(devnet.pid(3).is_none(), "no pid file for a node that is down");
    let h = net.height(0).unwrap();
    wait_until(LONG, "three validators to go on", || {
        [0, 1, 2].iter().all(|i| net.height(*i).is_some_and(|x| x > h))
    });

    // Ctrl-C stops every node.
    let pids: Vec<u32> = [0, 1, 2].iter().map(|i| devnet.pid(*i).unwrap()).collect();
    let before = [0, 1, 2].iter().filter_map(|i| net.height(*i)).max().unwrap();
    assert!(devnet.interrupt().success(), "{}", devnet.output());
    for pid in pids {
        assert!(!alive(pid), "node process {pid} outlived the devnet");
    }
    let stopped_at = (0..3).filter_map(|i| std::fs::metadata(pid_file(&devnet.dir, i)).ok()).count();
    assert_eq!(stopped_at, 0, "pid files are removed");
    drop(devnet);

    // Run again: the same chain, from where it stopped.
    let devnet = Devnet::start(&net);
    // (One more block may have landed between reading `before` and the stop.)
    wait_until(LONG, "the resumed devnet to commit again, node 3 caught up", || {
        all.iter().all(|i| net.height(*i).is_some_and(|x| x >= before + 2))
    });
    assert_eq!(net.block(3, 1).unwrap(), first_block, "resumed, not a new chain");
    drop(devnet);
}
