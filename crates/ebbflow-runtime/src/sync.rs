//! Locking that survives a panic elsewhere.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, even if a holder panicked: every value the runtime keeps
/// behind a mutex (sizes, deadlines, handle lists) stays consistent between
/// statements, so a panic mid-update cannot leave it half-written, and
/// refusing it would only strand the messages it tracks.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
