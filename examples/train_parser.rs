//! Trains the address tagger and writes `data/parser-model.bin.gz`.
//!
//! `cargo run --release --example train_parser -- DATA.jsonl OUTPUT [--epochs N]`
//! trains on folds 0–6 of the labelled addresses (see `fold_of`) and prints the
//! core-label F1 on the held-out folds 7–9. Run through `scripts/train-parser`.

use std::io::BufRead;

use yizhitong::reference::ReferenceSource;
use yizhitong::text::lexicon::PlaceLexicon;
use yizhitong::text::parse::train::{
    LabelledAddress, SpanCounts, TrainingOptions, is_held_out, predict, train,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let (data_path, output_path) = match (arguments.first(), arguments.get(1)) {
        (Some(data), Some(output)) => (data.clone(), output.clone()),
        _ => return Err("usage: train_parser DATA.jsonl OUTPUT [--epochs N]".into()),
    };
    let mut options = TrainingOptions::default();
    if let Some(position) = arguments.iter().position(|argument| argument == "--epochs") {
        options.epochs = arguments
            .get(position + 1)
            .ok_or("--epochs needs a number")?
            .parse()?;
    }

    let reference = ReferenceSource::Embedded.load()?;
    let lexicon = PlaceLexicon::from_divisions(&reference.divisions);
    eprintln!("lexicon: {} names", lexicon.len());

    let file = std::io::BufReader::new(std::fs::File::open(&data_path)?);
    let mut training = Vec::new();
    let mut held_out = Vec::new();
    for line in file.lines() {
        let address: LabelledAddress = serde_json::from_str(&line?)?;
        if is_held_out(&address.text) {
            held_out.push(address);
        } else {
            training.push(address);
        }
    }
    eprintln!(
        "training on {} addresses, holding out {}",
        training.len(),
        held_out.len()
    );
    let model = train(&training, &lexicon, &options, |epoch, mistakes| {
        eprintln!("epoch {epoch}: {mistakes} sentences wrong");
    });
    eprintln!("{} features kept", model.feature_count());

    for (name, part) in [("training folds", &training), ("held-out folds", &held_out)] {
        let mut counts = SpanCounts::default();
        for address in part.iter() {
            let gold: Vec<_> = address
                .components()
                .into_iter()
                .filter(|c| c.label.is_core())
                .collect();
            let predicted: Vec<_> = predict(&model, &lexicon, &address.text)
                .into_iter()
                .filter(|c| c.label.is_core())
                .collect();
            counts.add(&gold, &predicted);
        }
        eprintln!(
            "{name}: core micro P {:.4} R {:.4} F1 {:.4}",
            counts.precision(),
            counts.recall(),
            counts.f1()
        );
    }

    let output = std::fs::File::create(&output_path)?;
    model.write_to(std::io::BufWriter::new(output))?;
    eprintln!("wrote {output_path}");
    Ok(())
}
