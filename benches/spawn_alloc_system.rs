//! spawn+join under the system allocator (glibc `malloc`), no counting wrapper:
//! `cargo bench --bench spawn_alloc_system`. See `spawn_alloc/mod.rs`.
#![allow(missing_docs)]

mod common;
mod spawn_alloc;

fn main() {
    spawn_alloc::main("system");
}
