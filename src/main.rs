//! The `mixtune` command line.

mod cli;

fn main() -> std::process::ExitCode {
    mixtune::alloc::keep_freed_memory();
    mixtune::device::pin_default_device();
    cli::main()
}
