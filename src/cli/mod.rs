//! Command-line arguments mapped onto library calls; errors become one line and exit code 1.

mod bench;
mod bench_attention;
mod bench_data;
mod bench_gemm;
mod bench_near_dup;
mod bench_profile;
mod bench_reference;
mod bench_train;
mod data_cmd;
mod eval_cmd;
mod eval_mix;
mod facts_cmd;
mod infer;
mod mix_cmd;
mod prepare_cmd;
mod rouge_cmd;
mod runs_cmd;
mod support_cmd;
mod train_cmd;
mod train_progress;

use clap::{Parser, Subcommand};

/// Held by the unit tests that draw from the CPU device's random generator, which is
/// process-wide: `bench train`'s losses repeat only when nothing draws between its seed and
/// its model.
#[cfg(test)]
static CPU_GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// [`CPU_GENERATOR`], taken (a panicked holder's poison is no concern here).
#[cfg(test)]
fn cpu_generator() -> std::sync::MutexGuard<'static, ()> {
    CPU_GENERATOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Mixtune: instruction fine-tuning and inference of T5 / Flan-T5.
#[derive(Parser, Debug)]
#[command(name = "mixtune", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate text for a prompt.
    Generate(infer::GenerateArgs),
    /// Summarize a chat (a file, or `-` for standard input), with `--actions` its key actions
    /// too, or every chat of a file (`--chats`).
    Summarize(infer::SummarizeArgs),
    /// Mean token cross-entropy of a target given a source.
    Loss(infer::LossArgs),
    /// GPUs and graphics APIs wgpu sees, and what `--device auto` picks.
    Devices(infer::DevicesArgs),
    /// Inspect a dataset file: format, schema, rows, lengths, problems.
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// Task mixtures: preview shares, rendered examples and lengths.
    #[command(subcommand)]
    Mix(mix_cmd::MixCommand),
    /// Fine-tune on a task mixture as a run config (TOML) describes.
    Train(train_cmd::TrainArgs),
    /// Evaluate a model (optionally against another) on a dataset: ROUGE table and predictions.
    Eval(eval_cmd::EvalArgs),
    /// Names, numbers, amounts, ids, dates and places of a summary: found in the source or invented.
    Facts(facts_cmd::FactsArgs),
    /// List training runs under a folder, or compare runs (`--compare A B`).
    Runs(runs_cmd::RunsArgs),
    /// ROUGE-1/2/L/Lsum of predictions against references (one example per line).
    Rouge(rouge_cmd::RougeArgs),
    /// Compile and tune the GPU kernels of training shapes ahead of a run: a new machine's
    /// first training step then finds them cached (`--config run.toml`, or Flan-T5 shapes).
    PrepareGpu(prepare_cmd::PrepareArgs),
    /// Speed benchmarks (not tests): prints figures next to a reference run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Runs the CLI. Standard output failing is an ordinary outcome: a closed pipe
/// (`mixtune data inspect f | head`) ends quietly with exit 0, like other Unix tools; any other
/// failure (a full disk) is one error line and exit 1. Rust's `println!` panics on both, so
/// those two panics are caught here and nothing else is.
pub fn main() -> std::process::ExitCode {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if stdout_failure(info.payload()).is_none() {
            default_hook(info);
        }
    }));
    match std::panic::catch_unwind(run) {
        Ok(code) => code,
        Err(payload) => match stdout_failure(payload.as_ref()) {
            Some(cause) if cause.contains("Broken pipe") => std::process::ExitCode::SUCCESS,
            Some(cause) => {
                eprintln!("error: writing to standard output: {cause}");
                std::process::ExitCode::FAILURE
            }
            None => std::panic::resume_unwind(payload),
        },
    }
}

/// The cause, when a panic is `println!` failing to write standard output.
fn stdout_failure(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())?;
    message
        .strip_prefix("failed printing to stdout: ")
        .map(str::to_string)
}

fn run() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => infer::generate(args),
        Command::Summarize(args) => infer::summarize(args),
        Command::Loss(args) => infer::loss(args),
        Command::Devices(args) => infer::devices(args),
        Command::Data(cmd) => data_cmd::run_data(cmd),
        Command::Mix(cmd) => mix_cmd::run_mix(cmd),
        Command::Train(args) => train_cmd::run_train(args),
        Command::Eval(args) => eval_cmd::run_eval(args),
        Command::Facts(args) => facts_cmd::run_facts(args),
        Command::Runs(args) => runs_cmd::run_runs(args),
        Command::Rouge(args) => rouge_cmd::run_rouge(args),
        Command::PrepareGpu(args) => prepare_cmd::run_prepare(args),
        Command::Bench(cmd) => bench::run(cmd),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let message = format!("{error:#}").replace('\n', " ");
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
