//! A global allocator that counts allocations: jemalloc (the `ebbflow`
//! binary's) or the system's, as `EBBFLOW_BENCH_ALLOCATOR` (`jemalloc` or
//! `system`) says, else the including crate's `DEFAULT_ALLOCATOR`. Shared by
//! the drain bench and the peer bench (`bench/peers`), which include this
//! file as a module.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Allocations so far: `alloc`, `alloc_zeroed` and `realloc` calls.
pub static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

const UNDECIDED: u8 = 0;
const JEMALLOC: u8 = 1;
const SYSTEM: u8 = 2;
static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

pub struct Counting;

/// Which allocator serves, decided at the process's first allocation
/// (before `main`, on one thread) and never changed, so that memory is
/// always freed by the allocator that gave it.
fn choice() -> u8 {
    match CHOICE.load(Ordering::Relaxed) {
        UNDECIDED => {
            // SAFETY: a NUL-terminated name; getenv does not allocate.
            let value = unsafe { libc::getenv(c"EBBFLOW_BENCH_ALLOCATOR".as_ptr()) };
            let named = if value.is_null() {
                super::DEFAULT_ALLOCATOR.as_bytes()
            } else {
                // SAFETY: getenv's answer is NUL-terminated when not null.
                unsafe { std::ffi::CStr::from_ptr(value) }.to_bytes()
            };
            let system = named == b"system";
            let chosen = if system || cfg!(target_env = "msvc") {
                SYSTEM
            } else {
                JEMALLOC
            };
            CHOICE.store(chosen, Ordering::Relaxed);
            chosen
        }
        chosen => chosen,
    }
}

/// The allocator's name, for the report.
pub fn name() -> &'static str {
    if choice() == SYSTEM {
        "the system allocator"
    } else {
        "jemalloc"
    }
}

#[cfg(not(target_env = "msvc"))]
static JEMALLOC_ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn inner() -> &'static dyn GlobalAlloc {
    #[cfg(not(target_env = "msvc"))]
    if choice() == JEMALLOC {
        return &JEMALLOC_ALLOCATOR;
    }
    &System
}

// SAFETY: every call goes to one allocator, the same for the process's
// whole life, with the caller's own arguments.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { inner().alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { inner().alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { inner().dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { inner().realloc(ptr, layout, new_size) }
    }
}
