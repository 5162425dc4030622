//! The in-memory address index against the store: it follows writes made by another
//! process, restarts from its snapshot file plus the changes since, and never trusts
//! a snapshot that is not its store's.

use yizhitong::app::{Opened, open_registry};
use yizhitong::domain::address::AddressComponents;
use yizhitong::registry::{AddressDraft, AddressPatch};
use yizhitong::store::Actor;

use crate::common::{TestStore, test_config};

async fn open(store: &TestStore) -> Opened {
    open_registry(&test_config(store))
        .await
        .expect("registry opens")
}

fn doorplate(road: &str, number: u32) -> AddressDraft {
    AddressDraft {
        division_code: "330212001".into(),
        components: AddressComponents {
            road: Some(road.into()),
            road_no: Some(number.to_string()),
            ..Default::default()
        },
        lon: Some(121.55),
        lat: Some(29.81),
        ..Default::default()
    }
}

/// The indexed version of `code`, if the index holds it.
fn indexed_version(opened: &Opened, code: &str) -> Option<(u32, bool)> {
    let index = opened.registry.address_index().read().unwrap();
    index
        .by_code(code)
        .map(|entry| (entry.version, entry.retired))
}

async fn the_index_follows_writes_made_by_another_process(store: TestStore) {
    let serving = open(&store).await;
    let other = open(&store).await;
    let actor = Actor::command_line("test");
    let created = other
        .registry
        .create(&doorplate("中山路", 1), &actor)
        .await
        .unwrap();
    // (The background follower may get there first; either way it is there after this.)
    serving.registry.follow_changes().await.unwrap();
    assert_eq!(indexed_version(&serving, &created.code), Some((1, false)));

    other
        .registry
        .retire(&created.code, "门牌整顿", None, &actor)
        .await
        .unwrap();
    serving.registry.follow_changes().await.unwrap();
    assert_eq!(indexed_version(&serving, &created.code), Some((2, true)));
    // Nothing new: nothing read.
    assert_eq!(serving.registry.follow_changes().await.unwrap(), 0);

    // Its own writes are not read back.
    let own = serving
        .registry
        .create(&doorplate("中山路", 2), &actor)
        .await
        .unwrap();
    assert_eq!(indexed_version(&serving, &own.code), Some((1, false)));
    assert_eq!(serving.registry.follow_changes().await.unwrap(), 0);
}

async fn a_restart_reads_the_snapshot_and_the_changes_since(store: TestStore) {
    let actor = Actor::command_line("test");
    let first = open(&store).await;
    assert!(
        !first.index_load.from_snapshot,
        "a fresh store has no snapshot"
    );
    let kept = first
        .registry
        .create(&doorplate("中山路", 1), &actor)
        .await
        .unwrap();
    let patched = first
        .registry
        .create(&doorplate("中山路", 3), &actor)
        .await
        .unwrap();
    assert!(first.registry.save_snapshot().await.unwrap());
    assert!(
        !first.registry.save_snapshot().await.unwrap(),
        "an unchanged index is not written again"
    );
    drop(first);

    // Another process writes after the snapshot.
    let other = open(&store).await;
    assert!(other.index_load.from_snapshot);
    assert_eq!(other.index_load.caught_up, 0);
    let added = other
        .registry
        .create(&doorplate("中山路", 5), &actor)
        .await
        .unwrap();
    let patch = AddressPatch {
        room: Some(Some("501".into())),
        ..Default::default()
    };
    other
        .registry
        .patch(&patched.code, &patch, &actor)
        .await
        .unwrap();
    drop(other);

    let restarted = open(&store).await;
    assert!(restarted.index_load.from_snapshot);
    assert_eq!(restarted.index_load.caught_up, 2);
    assert_eq!(restarted.index_load.addresses, 3);
    assert_eq!(indexed_version(&restarted, &kept.code), Some((1, false)));
    assert_eq!(indexed_version(&restarted, &added.code), Some((1, false)));
    assert_eq!(indexed_version(&restarted, &patched.code), Some((2, false)));
    let matched = restarted.matcher.match_address(
        "宁波市鄞州区中山路3号501室",
        &yizhitong::matching::MatchOptions::default(),
    );
    assert_eq!(matched[0].code, patched.code);
}

async fn a_snapshot_of_another_store_or_a_damaged_one_is_not_used(store: TestStore) {
    let actor = Actor::command_line("test");
    let opened = open(&store).await;
    opened
        .registry
        .create(&doorplate("中山路", 1), &actor)
        .await
        .unwrap();
    assert!(opened.registry.save_snapshot().await.unwrap());
    drop(opened);
    let snapshot = store.data_dir.path().join("address-index.snapshot");

    // The same file beside a different database.
    let stranger = match store.backend {
        "sqlite" => crate::common::sqlite(),
        _ => crate::common::postgres()
            .await
            .expect("PostGIS, as for the first store"),
    };
    std::fs::copy(
        &snapshot,
        stranger.data_dir.path().join("address-index.snapshot"),
    )
    .unwrap();
    let other = open(&stranger).await;
    assert!(!other.index_load.from_snapshot);
    assert_eq!(other.index_load.addresses, 0);

    let mut bytes = std::fs::read(&snapshot).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&snapshot, bytes).unwrap();
    let reopened = open(&store).await;
    assert!(!reopened.index_load.from_snapshot);
    assert_eq!(reopened.index_load.addresses, 1);
}

/// An import batch is applied to the index by the process that wrote it, after the
/// commit; meanwhile the follower leaves it alone but still reads other writers' changes.
/// A batch that is never applied goes back to the follower.
async fn a_batch_being_indexed_is_not_read_back_and_an_abandoned_one_is(store: TestStore) {
    let serving = open(&store).await;
    let other = open(&store).await;
    let actor = Actor::command_line("test");
    let batch: Vec<AddressDraft> = (1..=3).map(|number| doorplate("学士路", number)).collect();

    let stored = serving
        .registry
        .store_import(serving.registry.prepare_import(&batch), None, &actor)
        .await
        .unwrap();
    let elsewhere = other
        .registry
        .create(&doorplate("中山路", 9), &actor)
        .await
        .unwrap();
    serving.registry.follow_changes().await.unwrap();
    assert_eq!(indexed_version(&serving, &elsewhere.code), Some((1, false)));
    let indexed_count = |opened: &Opened| opened.registry.address_index().read().unwrap().len();
    let before = indexed_count(&serving);

    let outcomes = stored.apply_to_index();
    assert_eq!(indexed_count(&serving), before + 3);
    for outcome in &outcomes {
        let yizhitong::store::ImportOutcome::Created { code, .. } = outcome else {
            panic!("created, not {outcome:?}");
        };
        assert_eq!(indexed_version(&serving, code), Some((1, false)));
    }

    // Written and then dropped unapplied, as when its task dies: the follower reads it.
    let second: Vec<AddressDraft> = (4..=5).map(|number| doorplate("学士路", number)).collect();
    let abandoned = serving
        .registry
        .store_import(serving.registry.prepare_import(&second), None, &actor)
        .await
        .unwrap();
    drop(abandoned);
    serving.registry.follow_changes().await.unwrap();
    assert_eq!(indexed_count(&serving), before + 5);
    assert_eq!(serving.registry.follow_changes().await.unwrap(), 0);
}

crate::on_both_backends!(
    the_index_follows_writes_made_by_another_process,
    a_batch_being_indexed_is_not_read_back_and_an_abandoned_one_is,
    a_restart_reads_the_snapshot_and_the_changes_since,
    a_snapshot_of_another_store_or_a_damaged_one_is_not_used,
);
