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
