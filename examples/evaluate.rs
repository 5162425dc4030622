//! The evaluation report: parser, division linking, registry matching and compare,
//! on the labelled data in `../shared/data`.
//!
//! `cargo run --release --example evaluate -- [DATA_DIR] [--part held-out|tuning|all]`
//! Run through `scripts/eval`.

use std::path::PathBuf;

use yizhitong::app::open_registry;
use yizhitong::config::Config;
use yizhitong::evaluation::{
    Part, evaluate_compare, evaluate_linking, evaluate_parser, evaluate_registry, read_addresses,
    read_pairs, read_registry_queries,
};
use yizhitong::registry::import::import_address_csv;
use yizhitong::store::Actor;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let data = PathBuf::from(
        arguments
            .iter()
            .find(|argument| {
                !argument.starts_with("--")
                    && !is_part_name(argument)
                    && argument.parse::<usize>().is_err()
            })
            .cloned()
            .unwrap_or_else(|| "../shared/data".into()),
    );
    let part = match arguments
        .iter()
        .position(|argument| argument == "--part")
        .and_then(|position| arguments.get(position + 1))
        .map(String::as_str)
    {
        None | Some("held-out") => Part::HeldOut,
        Some("tuning") => Part::Tuning,
        Some("all") => Part::All,
        Some(other) => return Err(format!("unknown part {other}").into()),
    };

    let shown_failures: usize = arguments
        .iter()
        .position(|argument| argument == "--failures")
        .and_then(|position| arguments.get(position + 1))
        .and_then(|count| count.parse().ok())
        .unwrap_or(0);
    let directory = tempfile::tempdir()?;
    let mut config = Config::for_store("sqlite://", directory.path());
    config.load_demo_seed = false;
    let opened = open_registry(&config).await?;
    let registry_csv = std::fs::read(data.join("registry/dev_registry.csv"))?;
    let report = import_address_csv(
        &opened.registry,
        registry_csv.as_slice(),
        &Actor::system(),
        |_| {},
        |_| {},
    )
    .await?;
    println!(
        "registry: {} rows imported ({} rejected)\n",
        report.created, report.rejected
    );
    let matcher = &opened.matcher;

    println!("== {} ==", part.name());
    let addresses = read_addresses(&data, part, usize::MAX)?;
    let parser = evaluate_parser(matcher.parser(), &addresses);
    println!(
        "parser: {} addresses, core micro P {:.4} R {:.4} F1 {:.4}",
        addresses.len(),
        parser.core.precision(),
        parser.core.recall(),
        parser.core.f1()
    );
    println!(
        "  {:<14} {:>7} {:>7} {:>7} {:>6}",
        "label", "P", "R", "F1", "gold"
    );
    for (label, counts) in &parser.by_label {
        println!(
            "  {:<14} {:>7.4} {:>7.4} {:>7.4} {:>6}",
            label.as_str(),
            counts.precision(),
            counts.recall(),
            counts.f1(),
            counts.gold
        );
    }

    let linking = evaluate_linking(matcher, &addresses);
    println!(
        "linking: county {:.4} ({}/{}), town {:.4} ({}/{})",
        linking.county.rate(),
        linking.county.right,
        linking.county.total,
        linking.town.rate(),
        linking.town.right,
        linking.town.total
    );

    for (input, gold, answered) in linking.failures.iter().take(shown_failures) {
        let components: Vec<String> = matcher
            .parse(input)
            .iter()
            .map(|c| format!("{}:{}", c.label.as_str(), c.text))
            .collect();
        println!(
            "  LINK {input} want {gold} got {answered}\n    parse {}",
            components.join(" ")
        );
    }
    let queries = read_registry_queries(&data, part, usize::MAX)?;
    let registry = evaluate_registry(matcher, &queries);
    println!(
        "registry: top-1 source_id {:.4} ({}/{})",
        registry.top1.rate(),
        registry.top1.right,
        registry.top1.total
    );
    for (level, accuracy) in &registry.by_level {
        println!(
            "  {:<10} {:.4} ({}/{})",
            level,
            accuracy.rate(),
            accuracy.right,
            accuracy.total
        );
    }
    println!(
        "  confidence >= 0.9: {:.4} right ({}/{} answers)",
        registry.confident.rate(),
        registry.confident.right,
        registry.confident.total
    );
    for (query, expected, got, confidence) in registry.failures.iter().take(shown_failures) {
        let components: Vec<String> = matcher
            .parse(query)
            .iter()
            .map(|c| format!("{}:{}", c.label.as_str(), c.text))
            .collect();
        println!(
            "  MISS {query}\n    want {expected}\n    got  {got} ({confidence})\n    parse {}",
            components.join(" ")
        );
    }
    for (lower, accuracy) in &registry.calibration {
        println!(
            "  confidence >= {lower:.2} bin: {:.4} right of {}",
            accuracy.rate(),
            accuracy.total
        );
    }

    let pairs = read_pairs(&data, part, usize::MAX)?;
    let confusion = evaluate_compare(matcher, &pairs);
    println!(
        "compare: {} pairs, macro-F1 {:.4}, accuracy {:.4}",
        pairs.len(),
        confusion.macro_f1(),
        confusion.accuracy()
    );
    for class in confusion.per_class() {
        println!(
            "  {:<8} P {:.4} R {:.4} F1 {:.4} ({} gold)",
            class.verdict.as_str(),
            class.precision,
            class.recall,
            class.f1,
            class.support
        );
    }
    Ok(())
}

fn is_part_name(argument: &str) -> bool {
    matches!(argument, "held-out" | "tuning" | "all")
}
