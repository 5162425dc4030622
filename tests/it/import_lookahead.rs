//! An import batch's lookups read ahead of its write (`store::import_lookahead`):
//! whatever was written in between, the batch must come out as if it had looked
//! everything up inside its own transaction. On both backends.

use std::sync::Arc;

use yizhitong::app::open_registry;
use yizhitong::domain::address::AddressComponents;
use yizhitong::registry::import::import_address_csv_in_batches;
use yizhitong::registry::{AddressDraft, Registry};
use yizhitong::store::{Actor, ImportHint, ImportOutcome, ImportedKeys};

use crate::common::{TestStore, test_config};

async fn open(store: &TestStore) -> Arc<Registry> {
    open_registry(&test_config(store))
        .await
        .expect("registry opens")
        .registry
}

fn doorplate(number: u32, source_id: &str) -> AddressDraft {
    AddressDraft {
        division_code: "330212001".into(),
        components: AddressComponents {
            road: Some("中山路".into()),
            road_no: Some(number.to_string()),
            ..Default::default()
        },
        source_id: Some(source_id.into()),
        ..Default::default()
    }
}

fn created_code(outcome: &ImportOutcome) -> String {
    match outcome {
        ImportOutcome::Created { code, .. } => code.clone(),
        other => panic!("expected a creation, got {other:?}"),
    }
}

fn rejection(outcome: &ImportOutcome) -> &str {
    match outcome {
        ImportOutcome::Rejected { error_code, .. } => error_code,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

async fn a_batch_sees_what_the_batch_before_wrote_after_its_look_ahead(store: TestStore) {
    let registry = open(&store).await;
    let actor = Actor::command_line("import");
    let outcomes = registry
        .import_batch(&[doorplate(7, "MOVER")], &actor)
        .await
        .unwrap();
    let mover = created_code(&outcomes[0]);

    // The later batch looks ahead while the earlier one is not yet written.
    let later = registry.prepare_import(&[
        doorplate(20, "S1"),      // registered by the earlier batch: unchanged
        doorplate(21, "OTHER"),   // the earlier batch's S2 takes number 21 first
        doorplate(7, "NEWCOMER"), // number 7 is given up by MOVER in the earlier batch
        doorplate(30, "FRESH"),   // touched by nobody
    ]);
    let look_ahead = registry
        .store()
        .look_ahead_import(later.rows())
        .await
        .unwrap();
    let earlier = registry.prepare_import(&[
        doorplate(20, "S1"),
        doorplate(21, "S2"),
        doorplate(8, "MOVER"),
    ]);
    let earlier_keys = ImportedKeys::of(
        earlier.rows(),
        registry
            .store()
            .look_ahead_import(earlier.rows())
            .await
            .unwrap()
            .identity_keys(),
    );
    let stored = registry.store_import(earlier, None, &actor).await.unwrap();
    let generation = stored.generation().expect("the earlier batch wrote");
    // The batch in between is the only write since the look-ahead, so the hint holds.
    assert_eq!(generation, look_ahead.as_of_generation() + 1);
    let earlier_outcomes = stored.apply_to_index();
    assert!(
        matches!(&earlier_outcomes[2], ImportOutcome::Updated { code, .. } if *code == mover),
        "{earlier_outcomes:?}"
    );

    let own_batches = [earlier_keys.committed_as(generation)];
    let hint = ImportHint {
        look_ahead,
        own_batches: &own_batches,
    };
    let outcomes = registry
        .store_import(later, Some(hint), &actor)
        .await
        .unwrap()
        .apply_to_index();
    assert!(
        matches!(&outcomes[0], ImportOutcome::Unchanged { code } if *code == created_code(&earlier_outcomes[0])),
        "{outcomes:?}"
    );
    assert_eq!(rejection(&outcomes[1]), "duplicate_address");
    created_code(&outcomes[2]);
    created_code(&outcomes[3]);
    assert_eq!(registry.store().count_addresses().await.unwrap(), 5);
}

async fn a_look_ahead_is_read_again_after_another_writer(store: TestStore) {
    let registry = open(&store).await;
    let actor = Actor::command_line("import");
    let batch = registry.prepare_import(&[doorplate(40, "LATE"), doorplate(41, "ON-TIME")]);
    let look_ahead = registry
        .store()
        .look_ahead_import(batch.rows())
        .await
        .unwrap();
    // Number 40 is registered through the API after the look-ahead said it was free.
    let mut by_hand = doorplate(40, "BY-HAND");
    by_hand.source_id = None;
    let registered = registry.create(&by_hand, &actor).await.unwrap();
    let hint = ImportHint {
        look_ahead,
        own_batches: &[],
    };
    let outcomes = registry
        .store_import(batch, Some(hint), &actor)
        .await
        .unwrap()
        .apply_to_index();
    match &outcomes[0] {
        ImportOutcome::Rejected {
            error_code,
            message,
        } => {
            assert_eq!(*error_code, "duplicate_address");
            assert!(message.contains(&registered.code), "{message}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    created_code(&outcomes[1]);
    assert_eq!(registry.store().count_addresses().await.unwrap(), 2);
}

async fn a_look_ahead_for_other_rows_is_not_used(store: TestStore) {
    let registry = open(&store).await;
    let actor = Actor::command_line("import");
    registry
        .import_batch(&[doorplate(50, "HELD")], &actor)
        .await
        .unwrap();
    let other = registry.prepare_import(&[doorplate(51, "OTHER")]);
    let look_ahead = registry
        .store()
        .look_ahead_import(other.rows())
        .await
        .unwrap();
    let batch = registry.prepare_import(&[doorplate(50, "COPY"), doorplate(52, "NEW")]);
    let hint = ImportHint {
        look_ahead,
        own_batches: &[],
    };
    let outcomes = registry
        .store_import(batch, Some(hint), &actor)
        .await
        .unwrap()
        .apply_to_index();
    assert_eq!(rejection(&outcomes[0]), "duplicate_address");
    created_code(&outcomes[1]);
}

/// The file pipeline with one row per batch, so each batch's look-ahead races the
/// write of the one before: the report must not depend on who wins.
async fn a_file_of_one_row_batches_imports_as_one_batch_would(store: TestStore) {
    let registry = open(&store).await;
    let actor = Actor::command_line("import");
    let csv = "\
source_id,division_code,road,road_no,place,building,unit,floor,room,lon,lat
A,330212001,中山路,1,,,,,,,
A,330212001,中山路,1,,,,,,,
B,330212001,中山路,1,,,,,,,
A,330212001,中山路,2,,,,,,,
C,330212001,中山路,1,,,,,,,
B,330212001,中山路,2,,,,,,,
C,330212001,中山路,1,,,,,,,
";
    let mut errors = Vec::new();
    let report = import_address_csv_in_batches(
        &registry,
        csv.as_bytes(),
        &actor,
        1,
        |error| errors.push((error.line, error.error_code.clone())),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        (
            report.rows,
            report.created,
            report.updated,
            report.unchanged,
            report.rejected
        ),
        (7, 2, 1, 2, 2),
        "{report:?} {errors:?}"
    );
    assert_eq!(
        errors,
        [
            (4, "duplicate_address".to_owned()),
            (7, "duplicate_address".to_owned())
        ]
    );
    assert_eq!(registry.store().count_addresses().await.unwrap(), 2);
}

crate::on_both_backends!(
    a_batch_sees_what_the_batch_before_wrote_after_its_look_ahead,
    a_look_ahead_is_read_again_after_another_writer,
    a_look_ahead_for_other_rows_is_not_used,
    a_file_of_one_row_batches_imports_as_one_batch_would,
);
