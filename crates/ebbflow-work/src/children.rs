//! The handler processes running now, so that a shutdown can tell each of
//! them (SIGTERM) and give them the grace period to finish.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

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

    /// Sends SIGTERM to every running handler process. Each was started in a
    /// process group of its own (so a Ctrl-C at the terminal reaches ebbflow
    /// alone); this is how they hear of the shutdown.
    pub fn terminate_all(&self) {
        for pid in self.lock().iter() {
            let Ok(pid) = libc::pid_t::try_from(*pid) else {
                continue;
            };
            // SAFETY: kill(2) takes plain integers and touches no memory of ours.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
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
