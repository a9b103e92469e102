//! spawn+join under mimalloc (thread-caching, cheap cross-thread frees):
//! `cargo bench --bench spawn_alloc_mimalloc`. See `spawn_alloc/mod.rs`.
#![allow(missing_docs)]

mod common;
mod spawn_alloc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    spawn_alloc::main("mimalloc");
}
