//! The `mixtune` command line.

mod cli;

/// mimalloc instead of the system allocator: CPU inference allocates a fresh tensor per op,
/// and glibc hands blocks over 128 KiB back to the kernel on free, so every op's output
/// came back as new zeroed pages (13% of a T5-base batch-8 generation in `clear_page`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
