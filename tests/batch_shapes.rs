//! Length buckets keep a real run's tensor shapes few: 200 steps of a two-task DialogSum
//! mixture at batch 8 meet a handful of padded shapes, where padding to each batch's longest
//! example meets a new one almost every step (each new shape compiles, and on a GPU tunes,
//! kernels).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use burn::tensor::Device;
use common::shared;
use mixtune::data::tokenizer::T5Tokenizer;
use mixtune::mixture::Mixture;
use mixtune::train::Batcher;

#[test]
fn two_hundred_dialogsum_steps_meet_few_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let dev = shared().join("data/dialogsum/dialogsum.dev.jsonl");
    std::fs::write(
        dir.path().join("mix.toml"),
        format!(
            "[mixture]\nseed = 3\nmax_source_tokens = 512\nmax_target_tokens = 128\n\n\
             [[task]]\nname = \"summary\"\ndata = \"{0}\"\ntemplate = \"dialogue_summary\"\nsplit = \"train\"\n\n\
             [[task]]\nname = \"topic\"\ndata = \"{0}\"\ntemplate = \"dialogue_topic\"\nsplit = \"train\"\n",
            dev.display()
        ),
    )
    .unwrap();
    let mixture = Mixture::load(&dir.path().join("mix.toml")).unwrap();
    let tokenizer = T5Tokenizer::from_file(Path::new(
        &shared().join("models/t5-tokenizer/tokenizer.json"),
    ))
    .unwrap();
    let bucketed = Batcher::new(tokenizer.clone(), 512, 128).unwrap();
    let exact = bucketed.clone().without_buckets();
    let device = Device::flex();
    let mut sampler = mixture.sampler().unwrap();
    let (mut bucket_shapes, mut exact_shapes) = (BTreeSet::new(), BTreeSet::new());
    for _ in 0..200 {
        let examples: Vec<_> = (&mut sampler)
            .take(8)
            .map(|sample| mixture.render(&sample).unwrap())
            .collect();
        let shape = |batcher: &Batcher| {
            let batch = batcher.batch(&examples, &device).unwrap();
            (batch.input_ids.dims()[1], batch.labels[0].len())
        };
        bucket_shapes.insert(shape(&bucketed));
        exact_shapes.insert(shape(&exact));
    }
    eprintln!(
        "200 steps: {} shapes with length buckets, {} padded to the longest example",
        bucket_shapes.len(),
        exact_shapes.len()
    );
    assert!(bucket_shapes.len() <= 16, "{bucket_shapes:?}");
    assert!(exact_shapes.len() >= 4 * bucket_shapes.len());
}

/// `mixtune prepare-gpu`'s engine: a training step on each planned shape (a random model of
/// the run's dims, LoRA applied), each shape recorded once its step succeeded; a second
/// preparation skips every shape the record holds, `force` steps on them again, and a run's
/// lookup (`ShapeRecord::knows`) finds them under the key the run itself uses.
#[test]
fn preparing_steps_on_each_planned_shape_and_records_it() {
    use mixtune::device::kernel_shapes::{ShapeKey, ShapeRecord};
    use mixtune::model::{Precision, T5Config};
    use mixtune::train::config::LoraSettings;
    use mixtune::train::prepare::{prepare, PreparePlan, PrepareProgress, ShapeOutcome, Work};
    use std::sync::atomic::AtomicBool;

    let mut model = T5Config::flan_t5_small();
    (model.d_model, model.d_kv, model.d_ff, model.num_heads) = (32, 8, 64, 4);
    (model.num_layers, model.num_decoder_layers) = (1, Some(1));
    let plan = PreparePlan {
        model: model.clone(),
        precision: Precision::F16,
        lora: Some(LoraSettings::default()),
        dropout_rate: 0.0,
        batch: 2,
        lengths: vec![[32, 16], [16, 16]],
        generations: vec![[1, 24]],
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kernels").join("training-shapes.txt");
    let device = Device::flex();
    let go = AtomicBool::new(false);
    assert_eq!(
        plan.prepared_steps(&device, &ShapeRecord::at(path.clone())),
        0
    );
    let mut events = Vec::new();
    let first = prepare(
        &plan,
        &device,
        &mut ShapeRecord::at(path.clone()),
        false,
        &go,
        |e| events.push(e),
    )
    .unwrap();
    assert_eq!(first.len(), 3, "two training steps and a generation");
    for (_, outcome) in &first {
        assert!(
            matches!(outcome, ShapeOutcome::Prepared { steps, seconds } if *steps >= 1 && *seconds > 0.0),
            "{outcome:?}"
        );
    }
    assert_eq!(events.len(), 6, "a start and an end per step: {events:?}");
    assert!(matches!(
        events[0],
        PrepareProgress::Starting {
            index: 0,
            total: 3,
            work: Work::Train,
            shape: [2, 32, 16]
        }
    ));
    assert!(matches!(
        events[4],
        PrepareProgress::Starting {
            index: 2,
            work: Work::Generate,
            shape: [1, 24, _],
            ..
        }
    ));
    assert!(
        first[2].0.as_str().contains("f16-generate"),
        "{:?}",
        first[2].0
    );

    // The key a run on the same model, precision and batch shape looks up.
    let run_device = device.clone().autodiff();
    let key = |precision, lora| {
        ShapeKey::training(&run_device, &model, precision, lora, false, [2, 16, 16])
    };
    let run_key = key(Precision::F16, Some(LoraSettings::default().rank));
    let record = ShapeRecord::at(path.clone());
    assert_eq!(plan.prepared_steps(&device, &record), 3);
    assert!(
        record.knows(&run_key),
        "{:?} not in {}",
        run_key,
        path.display()
    );
    let other = key(Precision::F32, None);
    assert!(!record.knows(&other), "f32 was not prepared");
    let dropout = ShapeKey::training(
        &run_device,
        &model,
        Precision::F16,
        Some(LoraSettings::default().rank),
        true,
        [2, 16, 16],
    );
    assert!(!record.knows(&dropout), "dropout's masks were not prepared");
    let full = key(Precision::F16, None);
    assert!(
        !record.knows(&full),
        "full fine-tuning in f16 was not prepared (LoRA was)"
    );

    // Later preparations, each reopening the record as a new process would.
    let again_with = |plan: &PreparePlan, force: bool| {
        prepare(
            plan,
            &device,
            &mut ShapeRecord::at(path.clone()),
            force,
            &go,
            |_| {},
        )
    };
    let again = again_with(&plan, false).unwrap();
    assert!(
        again
            .iter()
            .all(|(_, o)| *o == ShapeOutcome::AlreadyPrepared),
        "{again:?}"
    );
    let f32_plan = PreparePlan {
        precision: Precision::F32,
        lora: None,
        lengths: vec![[16, 16]],
        generations: Vec::new(),
        ..plan.clone()
    };
    // A cancelled preparation stops before its next step and records nothing more.
    let stop = AtomicBool::new(true);
    let mut record = ShapeRecord::at(path.clone());
    let cancelled = prepare(&f32_plan, &device, &mut record, true, &stop, |_| {}).unwrap_err();
    assert!(
        cancelled.to_string().contains("stopped after 0 of 1"),
        "{cancelled}"
    );
    assert!(!ShapeRecord::at(path.clone()).knows(&other));
    let forced = again_with(&f32_plan, true).unwrap();
    assert!(
        matches!(forced[0].1, ShapeOutcome::Prepared { steps: 1, .. }),
        "{forced:?}"
    );
    assert!(ShapeRecord::at(path).knows(&other));

    let empty = PreparePlan {
        batch: 0,
        ..f32_plan
    };
    let error = prepare(
        &empty,
        &device,
        &mut ShapeRecord::default(),
        false,
        &go,
        |_| {},
    );
    let error = error.unwrap_err();
    assert!(error.to_string().contains("batch size"), "{error}");
}

/// The plan of a run config (what the app and `prepare-gpu --config` prepare): the model's
/// dims from its `config.json`, the run's batch, precision and adapters, and every length
/// bucket up to its mixture's limits; a hub id not on this machine is named, not downloaded.
#[test]
fn a_run_configs_plan_takes_its_model_batch_precision_adapters_and_lengths() {
    use mixtune::model::{Precision, T5Config};
    use mixtune::train::prepare::{bucket_pairs, generation_shapes, PreparePlan};
    use mixtune::train::{RunPaths, TrainConfig};

    let dir = tempfile::tempdir().unwrap();
    let extra = "max_steps = 5\nprecision = \"f16\"\nmethod = \"lora\"\n[lora]\nrank = 4\n";
    common::runs::write_run(dir.path(), 4, 0, extra);
    let run = dir.path().join("run.toml");
    let plan_of = |run: &Path| {
        let config = TrainConfig::from_file(run).unwrap();
        PreparePlan::for_run_config(&config, &RunPaths::resolve(run, &config), false)
    };
    let plan = plan_of(&run).unwrap();
    let tiny = T5Config::from_file(&common::tiny_flan().join("config.json")).unwrap();
    assert_eq!(plan.model.d_model, tiny.d_model);
    assert_eq!(plan.precision, Precision::F16);
    assert_eq!(plan.lora.as_ref().map(|l| l.rank), Some(4));
    assert_eq!(plan.batch, 2);
    assert_eq!(plan.lengths, bucket_pairs(96, 32));
    assert_eq!(plan.generations, generation_shapes(2, 96));

    let hub = std::fs::read_to_string(&run).unwrap().replace(
        &common::tiny_flan().display().to_string(),
        "nobody/not-downloaded-t5",
    );
    std::fs::write(&run, hub).unwrap();
    let error = plan_of(&run).unwrap_err().to_string();
    assert!(
        error.contains("nobody/not-downloaded-t5") && error.contains("not on this machine"),
        "{error}"
    );
}
