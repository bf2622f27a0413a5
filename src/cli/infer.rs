//! `generate`, `summarize`, `loss` and `devices`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::json;

use mixtune::data::chat::SpeakerStyle;
use mixtune::device::{self, DeviceChoice};
use mixtune::generate::{EarlyStopping, GenerationConfig};
use mixtune::inference::{generate_text, loss as model_loss, summary_prompt};
use mixtune::model::{load_pretrained, to_precision, Precision, Pretrained};

/// Model and device flags shared by the inference commands.
#[derive(Args, Debug)]
pub struct ModelArgs {
    /// A model folder (config.json, model.safetensors, tokenizer.json) or a hub id.
    #[arg(long)]
    model: String,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    device: String,
    /// f32, f16, or int8 (CPU only: linear weights quantized once at load, activations per
    /// product): the precision the model computes in.
    #[arg(long, default_value = "f32")]
    dtype: Precision,
    /// Print machine-readable JSON.
    #[arg(long)]
    json: bool,
}

impl ModelArgs {
    fn load(&self) -> Result<Pretrained> {
        let choice: DeviceChoice = self.device.parse()?;
        let selected = device::select(choice)?;
        mixtune::model::check_precision(&selected.device, self.dtype)?;
        let mut pretrained = load_pretrained(&self.model, &selected.device, !self.json)
            .with_context(|| format!("loading model `{}`", self.model))?;
        if self.dtype != Precision::F32 {
            pretrained.model = to_precision(pretrained.model, self.dtype);
        }
        Ok(pretrained)
    }
}

/// Decoding flags shared by `generate` and `summarize`.
#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// Cut longer inputs to this many tokens (Flan-T5 reads 512); the cut is reported.
    #[arg(long, default_value_t = mixtune::generate::DEFAULT_MAX_SOURCE_TOKENS)]
    max_source_tokens: usize,
    /// Maximum number of generated tokens.
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// Minimum number of generated tokens before `</s>` may end the output.
    #[arg(long, default_value_t = 0)]
    min_new_tokens: usize,
    /// Beam search with this many beams (1: greedy).
    #[arg(long, default_value_t = 1)]
    beams: usize,
    /// Beam search length penalty (exponent of the length in the score's divisor).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    length_penalty: f32,
    /// Beam search stopping: true, false or never (as HF's `early_stopping`).
    #[arg(long, default_value = "false")]
    early_stopping: String,
    /// Never repeat an n-gram of this size (0: off).
    #[arg(long, default_value_t = 0)]
    no_repeat_ngram_size: usize,
    /// Sample instead of taking the most likely token.
    #[arg(long)]
    sample: bool,
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    temperature: f32,
    /// Sample among the k most likely tokens (0: all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Sample from the smallest set of tokens whose probability reaches p.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    top_p: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl DecodeArgs {
    fn config(&self) -> Result<GenerationConfig> {
        let early_stopping = match self.early_stopping.as_str() {
            "true" => EarlyStopping::True,
            "false" => EarlyStopping::False,
            "never" => EarlyStopping::Never,
            other => bail!("--early-stopping `{other}`: expected true, false or never"),
        };
        let config = GenerationConfig {
            max_source_tokens: self.max_source_tokens,
            max_new_tokens: self.max_new_tokens,
            min_new_tokens: self.min_new_tokens,
            num_beams: self.beams,
            length_penalty: self.length_penalty,
            early_stopping,
            no_repeat_ngram_size: self.no_repeat_ngram_size,
            do_sample: self.sample,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            seed: self.seed,
        };
        config.validate()?;
        Ok(config)
    }
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The prompt text.
    #[arg(
        long,
        conflicts_with = "prompt_file",
        required_unless_present = "prompt_file"
    )]
    prompt: Option<String>,
    /// A file holding the prompt (`-` for standard input).
    #[arg(long)]
    prompt_file: Option<PathBuf>,
    #[command(flatten)]
    decode: DecodeArgs,
}

#[derive(Args, Debug)]
pub struct SummarizeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The chat to summarize: a file, or `-` for standard input.
    #[arg(long, required_unless_present = "chats", conflicts_with = "chats")]
    chat: Option<PathBuf>,
    #[command(flatten)]
    support: super::support_cmd::SupportArgs,
    /// Speaker names: `keep` them, or map them to DialogSum's `person-tags` (#Person1#, ...).
    #[arg(long, default_value = "keep")]
    speakers: String,
    #[command(flatten)]
    decode: DecodeArgs,
}

#[derive(Args, Debug)]
pub struct LossArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long)]
    source: String,
    #[arg(long)]
    target: String,
}

#[derive(Args, Debug)]
pub struct DevicesArgs {
    #[arg(long)]
    json: bool,
}

/// The most bytes read of a file a command needs whole (`facts`' source and summary): past
/// it, a clear error rather than memory the size of the file (a 2 GB file took 22 GB).
const MAX_WHOLE_BYTES: u64 = 64 << 20;
/// Bytes of a chat or prompt read per token the model sees: text takes ~4–5 bytes a token,
/// so the model's window is always inside what is read, and a 200 MB chat costs 128 KiB.
const BYTES_PER_TOKEN: usize = 256;

/// A file, or standard input for `-`.
fn open_input(path: &Path) -> Result<Box<dyn Read>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Box::new(file))
}

/// At most `limit` bytes of `path` (or standard input for `-`), and whether there was more.
fn read_bytes(path: &Path, limit: u64) -> Result<(Vec<u8>, bool)> {
    let mut bytes = Vec::new();
    open_input(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    let more = bytes.len() as u64 > limit;
    bytes.truncate(limit as usize);
    Ok((bytes, more))
}

/// Reads a text file, or standard input for `-`, whole, naming the file on failure; one
/// above [`MAX_WHOLE_BYTES`] is refused.
pub(super) fn read_input(path: &Path) -> Result<String> {
    let (bytes, more) = read_bytes(path, MAX_WHOLE_BYTES)?;
    if more {
        bail!(
            "{}: larger than {} MiB, the most this command reads whole",
            path.display(),
            MAX_WHOLE_BYTES >> 20
        );
    }
    String::from_utf8(bytes).map_err(|_| anyhow!("{}: not UTF-8 text", path.display()))
}

/// The start of a chat or prompt file (or standard input): as much as a model with a
/// window of `max_tokens` tokens can see, cut after its last whole line (or character);
/// an empty text is refused. A longer file gets a note on stderr.
fn read_text(path: &Path, max_tokens: usize) -> Result<String> {
    let limit = max_tokens.saturating_mul(BYTES_PER_TOKEN);
    let (mut bytes, more) = read_bytes(path, limit as u64)?;
    if more {
        let line_end = bytes.iter().rposition(|&b| b == b'\n');
        if let Some(end) = line_end.filter(|&end| end > bytes.len() / 2) {
            bytes.truncate(end + 1);
        }
        // A character cut in two at the end is dropped.
        if let Err(error) = std::str::from_utf8(&bytes) {
            if error.error_len().is_none() {
                bytes.truncate(error.valid_up_to());
            }
        }
        eprintln!(
            "note: {} goes on past what the model can see; its first {} KiB were read",
            path.display(),
            bytes.len() >> 10
        );
    }
    let text =
        String::from_utf8(bytes).map_err(|_| anyhow!("{}: not UTF-8 text", path.display()))?;
    if text.trim().is_empty() {
        bail!("{}: the file is empty", path.display());
    }
    Ok(text)
}

fn print_generated(json: bool, generated: &mixtune::inference::Generated) -> Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string(&json!({"text": generated.text,
                "token_ids": generated.token_ids,
                "source_tokens": generated.source_tokens,
                "cut_tokens": generated.cut_tokens}))?
        );
    } else {
        if generated.cut_tokens > 0 {
            eprintln!(
                "note: the input was cut to its first {} tokens ({} tokens past --max-source-tokens were not read)",
                generated.source_tokens, generated.cut_tokens
            );
        }
        println!("{}", generated.text);
    }
    Ok(())
}

pub fn generate(args: GenerateArgs) -> Result<()> {
    let config = args.decode.config()?;
    let prompt = match (&args.prompt, &args.prompt_file) {
        (Some(prompt), _) => prompt.clone(),
        (None, Some(file)) => read_text(file, config.max_source_tokens)?,
        (None, None) => bail!("give --prompt or --prompt-file"),
    };
    let pretrained = args.model.load()?;
    let outputs = generate_text(&pretrained, &[prompt], &config)?;
    print_generated(args.model.json, &outputs[0])
}

pub fn summarize(args: SummarizeArgs) -> Result<()> {
    let config = args.decode.config()?;
    let speakers: SpeakerStyle = args.speakers.parse().map_err(anyhow::Error::msg)?;
    if args.support.wanted() {
        let chat = match &args.chat {
            Some(path) => Some((read_text(path, config.max_source_tokens)?, path.clone())),
            None => None,
        };
        let load = || args.model.load();
        return super::support_cmd::run(
            &args.support,
            chat,
            load,
            &config,
            speakers,
            args.model.json,
        );
    }
    let Some(chat_path) = &args.chat else {
        bail!("give --chat or --chats");
    };
    let chat = read_text(chat_path, config.max_source_tokens)?;
    let prompt = summary_prompt(&chat, speakers)
        .with_context(|| format!("reading the chat in {}", chat_path.display()))?;
    let pretrained = args.model.load()?;
    let outputs = generate_text(&pretrained, &[prompt], &config)?;
    print_generated(args.model.json, &outputs[0])
}

pub fn loss(args: LossArgs) -> Result<()> {
    let pretrained = args.model.load()?;
    let value = model_loss(&pretrained, &args.source, &args.target)?;
    if args.model.json {
        println!("{}", json!({ "loss": value }));
    } else {
        println!("loss {value:.6}");
    }
    Ok(())
}

pub fn devices(args: DevicesArgs) -> Result<()> {
    let adapters = device::gpu_adapters();
    let auto = device::select(DeviceChoice::Auto)?;
    let gpu_build = cfg!(feature = "wgpu");
    // What `--device gpu` would take where `auto` did not take a GPU: a software adapter,
    // or why there is none (no Vulkan driver, say).
    let gpu = (gpu_build && !auto.is_gpu).then(|| device::select(DeviceChoice::Gpu));
    if args.json {
        let (gpu_label, gpu_error) = match &gpu {
            Some(Ok(selected)) => (Some(selected.label.clone()), None),
            Some(Err(why)) => (None, Some(why.to_string())),
            None => (auto.is_gpu.then(|| auto.label.clone()), None),
        };
        println!(
            "{}",
            json!({"gpu_support": gpu_build, "adapters": adapters, "auto": auto.label, "auto_is_gpu": auto.is_gpu, "gpu": gpu_label, "gpu_error": gpu_error})
        );
    } else {
        if !gpu_build {
            println!("GPU support: not in this build (rebuild with --features wgpu)");
        }
        if adapters.is_empty() {
            println!("GPU adapters: none found");
        }
        for adapter in &adapters {
            println!("GPU adapter: {adapter}");
        }
        println!("auto picks: {}", auto.label);
        match &gpu {
            Some(Ok(selected)) => println!("--device gpu picks: {}", selected.label),
            Some(Err(why)) => println!("--device gpu: {why}"),
            None => {}
        }
    }
    Ok(())
}
