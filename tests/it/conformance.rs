//! The store conformance suite: every storage behaviour, asserted identically on
//! SQLite and PostGIS.

use sqlx::Connection;
use yizhitong::app::open_registry;
use yizhitong::domain::address::{AddressComponents, AddressStatus};
use yizhitong::domain::code::validate_address_code;
use yizhitong::registry::{AddressDraft, AddressPatch, Registry};
use yizhitong::store::{Actor, AddressFilter, ChangeKind, ImportOutcome, Role, StoreError};

use crate::common::{TestStore, test_config};

async fn open(store: &TestStore) -> std::sync::Arc<Registry> {
    open_registry(&test_config(store))
        .await
        .expect("registry opens")
        .registry
}

fn doorplate(division: &str, road: &str, number: u32, source_id: Option<&str>) -> AddressDraft {
    AddressDraft {
        division_code: division.into(),
        components: AddressComponents {
            road: Some(road.into()),
            road_no: Some(number.to_string()),
            ..Default::default()
        },
        source_id: source_id.map(Into::into),
        lon: Some(121.55),
        lat: Some(29.81),
        ..Default::default()
    }
}

async fn reference_data_loads_once_with_names_and_polygons(store: TestStore) {
    let registry = open(&store).await;
    let divisions = registry.divisions();
    assert_eq!(
        divisions.get("330212001005").unwrap().short_name.as_deref(),
        Some("东兴社区")
    );
    assert_eq!(
        divisions
            .get("330204000000")
            .unwrap()
            .successor_code
            .as_deref(),
        Some("330212000000")
    );
    let polygon = registry
        .store()
        .division_polygon("330212000000")
        .await
        .unwrap()
        .expect("鄞州 outline");
    let geometry: serde_json::Value = serde_json::from_str(&polygon.geometry_geojson).unwrap();
    assert!(matches!(
        geometry["type"].as_str(),
        Some("Polygon" | "MultiPolygon")
    ));
    assert!(
        registry
            .store()
            .division_polygon("330212001000")
            .await
            .unwrap()
            .is_none()
    );
    let stored = registry.store().all_divisions().await.unwrap();
    assert_eq!(stored.len(), divisions.len());
    assert!(
        stored.windows(2).all(|pair| pair[0].code < pair[1].code),
        "ordered by code"
    );
    drop(registry);

    // A second start finds the same version and does not reload: it reads the snapshot.
    let reopened = open_registry(&test_config(&store)).await.unwrap();
    assert!(!reopened.reference_loaded);
    assert_eq!(reopened.registry.divisions().len(), stored.len());
    let (snapshot_version, bytes) = reopened
        .store
        .division_snapshot()
        .await
        .unwrap()
        .expect("snapshot written");
    let from_snapshot = yizhitong::reference::decode_division_snapshot(&bytes).unwrap();
    assert_eq!(
        from_snapshot, stored,
        "the snapshot holds exactly the division table"
    );

    // A snapshot of another version is not trusted: the table is read and the snapshot rewritten.
    reopened
        .store
        .set_division_snapshot("sha256:stale", b"not a snapshot")
        .await
        .unwrap();
    let healed = open_registry(&test_config(&store)).await.unwrap();
    assert_eq!(
        healed
            .registry
            .divisions()
            .get("330212001005")
            .unwrap()
            .name,
        "东兴社区居委会"
    );
    assert_eq!(healed.registry.divisions().len(), stored.len());
    let (version, _) = healed.store.division_snapshot().await.unwrap().unwrap();
    assert_eq!(version, snapshot_version);
}

async fn codes_are_sequential_per_division_and_valid(store: TestStore) {
    let registry = open(&store).await;
    let actor = Actor::command_line("test");
    let mut serials = Vec::new();
    for number in 1..=3 {
        let record = registry
            .create(&doorplate("330212001", "中山路", number, None), &actor)
            .await
            .unwrap();
        let parts = validate_address_code(&record.code).unwrap();
        assert_eq!(parts.division_code, "330212001000");
        serials.push(parts.serial);
    }
    let other = registry
        .create(&doorplate("330203", "中山路", 1, None), &actor)
        .await
        .unwrap();
    assert_eq!(
        validate_address_code(&other.code).unwrap().serial,
        1,
        "serials count per division"
    );
    assert_eq!(serials, [1, 2, 3]);
}

async fn duplicates_are_refused_with_the_existing_code(store: TestStore) {
    let registry = open(&store).await;
    let actor = Actor::command_line("test");
    let first = registry
        .create(&doorplate("330212001", "中山路", 12, Some("S-1")), &actor)
        .await
        .unwrap();
    let mut respelled = doorplate("330212001", " 中山路 ", 12, None);
    respelled.components.road_no = Some("十二号".into());
    let error = registry
        .create(&respelled, &actor)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains(&first.code), "{error}");
    let error = registry
        .create(&doorplate("330212001", "中山路", 13, Some("S-1")), &actor)
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        yizhitong::registry::RegistryError::Store(StoreError::DuplicateSourceId { ref existing_code, .. })
            if *existing_code == first.code
    ));
    // Once retired, the same components may be registered again under a new code.
    registry
        .retire(&first.code, "拆除", None, &actor)
        .await
        .unwrap();
    let again = registry
        .create(&doorplate("330212001", "中山路", 12, None), &actor)
        .await
        .unwrap();
    assert_ne!(again.code, first.code);
}

async fn updates_are_versioned_and_guarded(store: TestStore) {
    let registry = open(&store).await;
    let actor = Actor::command_line("test");
    let record = registry
        .create(&doorplate("330212001", "中山路", 20, None), &actor)
        .await
        .unwrap();
    let patch = AddressPatch {
        road_no: Some(Some("21".into())),
        ..Default::default()
    };
    let updated = registry.patch(&record.code, &patch, &actor).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.components.road_no.as_deref(), Some("21号"));

    let stale = AddressPatch {
        road_no: Some(Some("22".into())),
        expected_version: Some(1),
        ..Default::default()
    };
    let error = registry
        .patch(&record.code, &stale, &actor)
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        yizhitong::registry::RegistryError::Store(StoreError::VersionConflict {
            expected: 1,
            found: 2,
            ..
        })
    ));
    let cleared = AddressPatch {
        lon: Some(None),
        lat: Some(None),
        ..Default::default()
    };
    let cleared = registry
        .patch(&record.code, &cleared, &actor)
        .await
        .unwrap();
    assert_eq!((cleared.lon, cleared.lat), (None, None));

    let history = registry.history(&record.code).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|version| version.version)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        history[0].record.components.road_no.as_deref(),
        Some("20号")
    );
    assert_eq!(history[2].record, cleared);
    // Superseded versions keep who made them and how, as the current one does.
    assert_eq!(
        history
            .iter()
            .map(|version| (version.change, version.actor.as_str()))
            .collect::<Vec<_>>(),
        [
            (ChangeKind::Created, "cli:test"),
            (ChangeKind::Updated, "cli:test"),
            (ChangeKind::Updated, "cli:test"),
        ]
    );
    assert_eq!(history[1].recorded_at, updated.updated_at);
}

/// Before migration 0005 every version, the current one too, went into
/// address_versions. Such a row's history shows its current version once, and an
/// update after the migration does not archive it a second time.
async fn history_written_before_migration_0005_stays_whole(store: TestStore) {
    let registry = open(&store).await;
    let actor = Actor::command_line("test");
    let record = registry
        .create(&doorplate("330212001", "中山路", 40, None), &actor)
        .await
        .unwrap();
    let before = registry.history(&record.code).await.unwrap();
    assert_eq!(before.len(), 1);
    let record_json = serde_json::to_string(&before[0].record).unwrap();
    let archive = "INSERT INTO address_versions (code, version, change, actor, recorded_at, record) \
                   SELECT code, version, change_kind, changed_by, updated_at, ";
    let forget = "UPDATE addresses SET change_kind = NULL, changed_by = NULL WHERE code = ";
    if store.backend == "sqlite" {
        let path = store.url.trim_start_matches("sqlite://");
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
        let mut connection = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{archive}?1 FROM addresses WHERE code = ?2"
        )))
        .bind(&record_json)
        .bind(&record.code)
        .execute(&mut connection)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("{forget}?1")))
            .bind(&record.code)
            .execute(&mut connection)
            .await
            .unwrap();
    } else {
        let mut connection = sqlx::PgConnection::connect(&store.url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{archive}$1::jsonb FROM addresses WHERE code = $2"
        )))
        .bind(&record_json)
        .bind(&record.code)
        .execute(&mut connection)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("{forget}$1")))
            .bind(&record.code)
            .execute(&mut connection)
            .await
            .unwrap();
    }
    assert_eq!(registry.history(&record.code).await.unwrap(), before);

    let patch = AddressPatch {
        road_no: Some(Some("41".into())),
        ..Default::default()
    };
    let updated = registry.patch(&record.code, &patch, &actor).await.unwrap();
    let after = registry.history(&record.code).await.unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(after[0], before[0]);
    assert_eq!(after[1].record, updated);
    assert_eq!(after[1].change, ChangeKind::Updated);
}

async fn import_creates_updates_and_reports_each_row(store: TestStore) {
    let registry = open(&store).await;
    let actor = Actor::command_line("import");
    let rows = vec![
        doorplate("330212001", "中山路", 1, Some("A")),
        doorplate("330204", "中山路", 2, Some("B")), // retired division
        doorplate("330212001", "中山路", 3, Some("C")),
        doorplate("330212001", "中山路", 3, Some("D")), // same address as C
        doorplate("330212001", "中山路", 4, Some("A")), // A repeated in one batch
    ];
    let outcomes = registry.import_batch(&rows, &actor).await.unwrap();
    let outcomes_first = outcomes.clone();
    assert!(matches!(outcomes[0], ImportOutcome::Created { .. }));
    assert!(matches!(
        outcomes[1],
        ImportOutcome::Rejected {
            error_code: "division_retired",
            ..
        }
    ));
    assert!(matches!(outcomes[2], ImportOutcome::Created { .. }));
    assert!(matches!(
        outcomes[3],
        ImportOutcome::Rejected {
            error_code: "duplicate_address",
            ..
        }
    ));
    assert!(matches!(
        outcomes[4],
        ImportOutcome::Rejected {
            error_code: "duplicate_source_id",
            ..
        }
    ));
    assert_eq!(registry.store().count_addresses().await.unwrap(), 2);

    // Re-importing by source_id updates in place, and unchanged rows stay as they are.
    let again = vec![
        doorplate("330212001", "中山路", 1, Some("A")),
        doorplate("330212001", "中山路", 33, Some("C")),
    ];
    let outcomes = registry.import_batch(&again, &actor).await.unwrap();
    assert!(matches!(outcomes[0], ImportOutcome::Unchanged { .. }));
    let ImportOutcome::Updated { code, version: 2 } = &outcomes[1] else {
        panic!("{outcomes:?}")
    };
    let updated = registry.address(code).await.unwrap();
    assert_eq!(updated.components.road_no.as_deref(), Some("33号"));
    assert_eq!(updated.version, 2);
    assert_eq!(registry.store().count_addresses().await.unwrap(), 2);
    // One audit entry per batch names the codes it created and updated; each row's
    // content is in its version history, the superseded version archived.
    let audit = registry.store().audit_entries(None, 100).await.unwrap();
    let created: Vec<String> = [&outcomes_first[0], &outcomes_first[2]]
        .iter()
        .map(|outcome| match outcome {
            ImportOutcome::Created { code, .. } => code.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let summaries: Vec<(&str, &str, serde_json::Value)> = audit
        .iter()
        .map(|entry| {
            (
                entry.action.as_str(),
                entry.actor.as_str(),
                entry.after.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summaries,
        [
            (
                "address.import",
                "cli:import",
                serde_json::json!({ "created": created, "updated": [] })
            ),
            (
                "address.import",
                "cli:import",
                serde_json::json!({ "created": [], "updated": [code] })
            ),
        ]
    );
    let history = registry.history(code).await.unwrap();
    assert_eq!(history.len(), 2);
    assert!(
        history
            .iter()
            .all(|version| version.change == ChangeKind::Imported && version.actor == "cli:import")
    );
    assert_eq!(history[0].record.components.road_no.as_deref(), Some("3号"));
    assert_eq!(
        history[1].record.components.road_no.as_deref(),
        Some("33号")
    );
    assert!(audit.windows(2).all(|pair| pair[0].id < pair[1].id));
}

async fn import_lets_a_row_take_the_identity_an_earlier_row_gave_up(store: TestStore) {
    let registry = open(&store).await;
    let actor = Actor::command_line("import");
    let first = vec![doorplate("330212001", "中山路", 7, Some("MOVER"))];
    let outcomes = registry.import_batch(&first, &actor).await.unwrap();
    let ImportOutcome::Created {
        code: mover,
        version: 1,
    } = &outcomes[0]
    else {
        panic!("{outcomes:?}")
    };
    // MOVER is renumbered to 8 and a new address takes number 7, in one batch.
    let second = vec![
        doorplate("330212001", "中山路", 8, Some("MOVER")),
        doorplate("330212001", "中山路", 7, Some("NEWCOMER")),
    ];
    let outcomes = registry.import_batch(&second, &actor).await.unwrap();
    assert_eq!(
        outcomes[0],
        ImportOutcome::Updated {
            code: mover.clone(),
            version: 2,
        }
    );
    assert!(
        matches!(outcomes[1], ImportOutcome::Created { .. }),
        "{outcomes:?}"
    );
    assert_eq!(registry.store().count_addresses().await.unwrap(), 2);
}

async fn listing_filters_by_division_and_status(store: TestStore) {
    let registry = open(&store).await;
    let actor = Actor::command_line("test");
    let in_town = registry
        .create(&doorplate("330212001", "中山路", 1, None), &actor)
        .await
        .unwrap();
    let in_county = registry
        .create(&doorplate("330212", "中山路", 2, None), &actor)
        .await
        .unwrap();
    let elsewhere = registry
        .create(&doorplate("330203", "中山路", 3, None), &actor)
        .await
        .unwrap();
    registry
        .retire(&in_county.code, "拆除", None, &actor)
        .await
        .unwrap();

    let filter = |prefix: &str, status| AddressFilter {
        division_prefix: Some(prefix.into()),
        status,
    };
    let codes = |records: Vec<yizhitong::domain::address::StandardAddress>| {
        records
            .into_iter()
            .map(|record| record.code)
            .collect::<Vec<_>>()
    };
    let mut yinzhou = vec![in_town.code.clone(), in_county.code.clone()];
    yinzhou.sort();
    assert_eq!(
        codes(
            registry
                .list(&filter("330212", None), None, 10)
                .await
                .unwrap()
        ),
        yinzhou
    );
    assert_eq!(
        codes(
            registry
                .list(&filter("330212001", None), None, 10)
                .await
                .unwrap()
        ),
        std::slice::from_ref(&in_town.code)
    );
    assert_eq!(
        codes(
            registry
                .list(&filter("330212", Some(AddressStatus::Retired)), None, 10)
                .await
                .unwrap()
        ),
        std::slice::from_ref(&in_county.code)
    );
    let all = codes(
        registry
            .list(&AddressFilter::default(), None, 10)
            .await
            .unwrap(),
    );
    assert_eq!(all.len(), 3);
    let after_first = codes(
        registry
            .list(&AddressFilter::default(), Some(&all[0]), 10)
            .await
            .unwrap(),
    );
    assert_eq!(after_first, all[1..]);
    assert!(all.contains(&elsewhere.code));
}

async fn api_keys_are_stored_hashed(store: TestStore) {
    let registry = open(&store).await;
    let created = yizhitong::auth::create_key(
        registry.store().as_ref(),
        Role::Surveyor,
        Some("field team".into()),
    )
    .await
    .unwrap();
    let stored = registry
        .store()
        .api_key(&created.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.role, Role::Surveyor);
    assert!(!created.secret_key.contains(&stored.secret_sha256_hex));
    let secret = created.secret_key.rsplit('_').next().unwrap();
    assert_ne!(
        stored.secret_sha256_hex, secret,
        "the secret itself is not stored"
    );
    let verifier = yizhitong::auth::KeyVerifier::new(registry.store().clone());
    assert!(verifier.verify(&created.secret_key).await.is_ok());
    let mut forged = created.secret_key.clone();
    forged.pop();
    forged.push(if created.secret_key.ends_with('A') {
        'B'
    } else {
        'A'
    });
    assert!(verifier.verify(&forged).await.is_err());
    assert!(registry.store().api_key("missing").await.unwrap().is_none());
}

async fn meta_values_round_trip(store: TestStore) {
    let registry = open(&store).await;
    let store = registry.store();
    assert_eq!(store.meta("test_key").await.unwrap(), None);
    store.set_meta("test_key", "one").await.unwrap();
    store.set_meta("test_key", "two").await.unwrap();
    assert_eq!(
        store.meta("test_key").await.unwrap().as_deref(),
        Some("two")
    );
}

crate::on_both_backends!(
    reference_data_loads_once_with_names_and_polygons,
    codes_are_sequential_per_division_and_valid,
    duplicates_are_refused_with_the_existing_code,
    updates_are_versioned_and_guarded,
    history_written_before_migration_0005_stays_whole,
    import_creates_updates_and_reports_each_row,
    import_lets_a_row_take_the_identity_an_earlier_row_gave_up,
    listing_filters_by_division_and_status,
    api_keys_are_stored_hashed,
    meta_values_round_trip,
);
