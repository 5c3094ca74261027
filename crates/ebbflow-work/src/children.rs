//! The handler processes running now, so that a shutdown can tell each of
//! them (SIGTERM) and give them the grace period to finish. Each handler
//! process leads a process group of its own; every signal goes to the whole
//! group, so that the grandchildren of a wrapper (`npm start`, `sh -c`) hear
//! it too.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How long a process group given up on (its message timed out, or its
/// handling was dropped) has after SIGTERM before SIGKILL.
pub const KILL_AFTER: Duration = Duration::from_secs(5);

/// Sends `signal` to the process group `pgid` leads.
fn signal_group(pgid: u32, signal: libc::c_int) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; a
    // negative pid names the process group.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// The process group of one handler process: dropped while armed (the
/// message timed out, the handling was dropped, the process is replaced),
/// it sends SIGTERM to the whole group, then SIGKILL after [`KILL_AFTER`].
#[derive(Debug)]
pub(crate) struct Group {
    pgid: Option<u32>,
}

impl Group {
    /// The group `pid` leads (started with `process_group(0)`).
    pub(crate) fn led_by(pid: Option<u32>) -> Self {
        Self { pgid: pid }
    }

    /// The process ended by itself: its group is left alone.
    pub(crate) fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let Some(pgid) = self.pgid else {
            return;
        };
        signal_group(pgid, libc::SIGTERM);
        // A thread, not a task: a drop may come when no runtime is left.
        let _ = std::thread::Builder::new()
            .name("ebbflow-kill".to_owned())
            .spawn(move || {
                std::thread::sleep(KILL_AFTER);
                signal_group(pgid, libc::SIGKILL);
            });
    }
}

/// Process ids of running handler commands, shared by every command handler.
#[derive(Debug, Clone, Default)]
pub struct Children {
    pids: Arc<Mutex<HashSet<u32>>>,
}

impl Children {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a started process; the guard forgets it when dropped.
    pub fn track(&self, pid: Option<u32>) -> Tracked {
        if let Some(pid) = pid {
            self.lock().insert(pid);
        }
        Tracked {
            children: self.clone(),
            pid,
        }
    }

    /// How many handler processes run now.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// Sends SIGTERM to every running handler process's group. Each was
    /// started in a process group of its own (so a Ctrl-C at the terminal
    /// reaches ebbflow alone); this is how they, and what they started, hear
    /// of the shutdown.
    pub fn terminate_all(&self) {
        for pid in self.lock().iter() {
            signal_group(*pid, libc::SIGTERM);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<u32>> {
        self.pids.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A tracked process; dropping it removes the process from [`Children`].
#[derive(Debug)]
pub struct Tracked {
    children: Children,
    pid: Option<u32>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            self.children.lock().remove(&pid);
        }
    }
}
