//! Running a laid-out devnet: one child process per node, restarted when it crashes, left
//! down when it was stopped cleanly, and the devnet stopped when a node keeps failing.

use super::layout::{DevnetError, Layout, NodeLayout, io};
use std::{fs, path::Path};

/// Starts node `node` of a devnet as a child process of `exe` (this program), its output
/// appended to `node.log` in its directory.
pub fn spawn_node(exe: &Path, node: &NodeLayout) -> Result<std::process::Child, DevnetError> {
    use std::process::{Command, Stdio};
    let log_path = node.dir.join("node.log");
    let log = fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(io(&log_path))?;
    let err = log.try_clone().map_err(io(&log_path))?;
    Command::new(exe)
        .arg("node")
        .arg("--config")
        .arg(&node.config_path)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|source| DevnetError::Spawn { index: node.index, source })
        .and_then(|child| {
            let pid = node.dir.join("node.pid");
            fs::write(&pid, format!("{}\n", child.id())).map_err(io(&pid))?;
            Ok(child)
        })
}

/// A node that stops this soon after it started counts as failing to start.
const QUICK_EXIT: std::time::Duration = std::time::Duration::from_secs(10);
/// Quick exits in a row after which the devnet gives up on a node (and stops).
const QUICK_EXITS: u32 = 3;

/// One node process of a running devnet.
struct Supervised<'a> {
    node: &'a NodeLayout,
    child: std::process::Child,
    started: std::time::Instant,
    quick_exits: u32,
}

/// Why a running devnet stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("{0}")]
    Start(#[from] DevnetError),
    #[error("node {index} stopped {QUICK_EXITS} times within {} s of starting ({status}); see {log}", QUICK_EXIT.as_secs())]
    Failing { index: usize, status: std::process::ExitStatus, log: String },
}

/// Runs every node of the devnet until `stop` receives (or its sender is dropped), then stops
/// them all. A node that crashes (killed by a signal other than SIGTERM, or exiting with an
/// error) is restarted: it resumes from its data and catches up from the others. A node that
/// was stopped cleanly (SIGTERM) stays down until the devnet runs again. A node that keeps
/// failing within seconds of its start stops the devnet. Each node's process id is in
/// `node.pid` in its directory while it runs.
pub fn supervise(
    exe: &Path,
    layout: &Layout,
    stop: &std::sync::mpsc::Receiver<()>,
    mut report: impl FnMut(&str),
) -> Result<(), SupervisorError> {
    use std::{sync::mpsc::RecvTimeoutError, time::Instant};
    let mut running: Vec<Supervised> = Vec::new();
    let stop_all_of = |running: &mut Vec<Supervised>| {
        stop_all(running.iter_mut().map(|s| &mut s.child));
        for s in running.iter() {
            let _ = fs::remove_file(s.node.dir.join("node.pid"));
        }
    };
    for node in &layout.nodes {
        match spawn_node(exe, node) {
            Ok(child) => running.push(Supervised { node, child, started: Instant::now(), quick_exits: 0 }),
            Err(e) => {
                stop_all_of(&mut running);
                return Err(e.into());
            }
        }
    }
    loop {
        match stop.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                stop_all_of(&mut running);
                return Ok(());
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let mut i = 0;
        while i < running.len() {
            let Ok(Some(status)) = running[i].child.try_wait() else {
                i += 1;
                continue;
            };
            // Reaped: its process id may now belong to anyone, so it leaves `running` first.
            let mut s = running.remove(i);
            let index = s.node.index;
            let _ = fs::remove_file(s.node.dir.join("node.pid"));
            if status.success() {
                report(&format!("node {index} was stopped; it stays down until the devnet runs again"));
                if running.is_empty() {
                    report("every node is down");
                    return Ok(());
                }
                continue;
            }
            let log = s.node.dir.join("node.log").display().to_string();
            s.quick_exits = if s.started.elapsed() < QUICK_EXIT { s.quick_exits + 1 } else { 1 };
            if s.quick_exits >= QUICK_EXITS {
                stop_all_of(&mut running);
                return Err(SupervisorError::Failing { index, status, log });
            }
            report(&format!("node {index} stopped ({status}); restarting it (see {log})"));
            match spawn_node(exe, s.node) {
                Ok(child) => {
                    s.child = child;
                    s.started = Instant::now();
                    running.insert(i, s);
                    i += 1;
                }
                Err(e) => {
                    stop_all_of(&mut running);
                    return Err(e.into());
                }
            }
        }
    }
}

/// SIGTERM to every child, then SIGKILL to those still running after 10 s.
pub fn stop_all<'a>(children: impl IntoIterator<Item = &'a mut std::process::Child>) {
    use std::time::{Duration, Instant};
    let children: Vec<&mut std::process::Child> = children.into_iter().collect();
    for child in &children {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stderr(std::process::Stdio::null())
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for child in children {
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
