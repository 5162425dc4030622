//! Boundary inspection persistence: registered lines and markers, inspection rounds,
//! their observations and GeoJSON, and the stored reports. The statements are the same
//! in both dialects, so one macro body implements [`InspectionStore`] for each backend.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{Actor, NewAuditEntry, StoreError};
use crate::domain::boundary::{
    BoundaryMarker, InspectionRound, LineSettings, MarkerObservation, RoundFeature,
    RoundFeatureKind, StoredReport,
};

pub(crate) const MARKER_COLUMNS: &str = "line_id, number, prefix, sequence, suffix, marker_type, \
     lon, lat, landmarks, note, updated_at, updated_by";
pub(crate) const ROUND_COLUMNS: &str = "r.id, r.line_id, r.date, r.teams, r.note, r.created_at, \
     r.created_by, p.built_at AS report_built_at";

/// A new inspection round, before the store gives it an id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRound {
    pub line_id: String,
    pub date: NaiveDate,
    pub teams: Vec<String>,
    pub note: Option<String>,
}

#[async_trait]
pub trait InspectionStore: Send + Sync {
    /// Registered settings of a line, or `None` when it was never registered.
    async fn line_settings(&self, line_id: &str) -> Result<Option<LineSettings>, StoreError>;
    async fn all_line_settings(&self) -> Result<Vec<LineSettings>, StoreError>;
    /// Creates or replaces a line's settings.
    async fn put_line_settings(
        &self,
        settings: &LineSettings,
        actor: &Actor,
    ) -> Result<LineSettings, StoreError>;

    /// The markers of a line, by number.
    async fn markers_of_line(&self, line_id: &str) -> Result<Vec<BoundaryMarker>, StoreError>;
    /// Creates or replaces markers (by line and number) in one transaction. Each
    /// marker's `line` must be set.
    async fn put_markers(
        &self,
        markers: &[BoundaryMarker],
        actor: &Actor,
    ) -> Result<(), StoreError>;
    /// Removes a marker; false when there was none.
    async fn delete_marker(
        &self,
        line_id: &str,
        number: &str,
        actor: &Actor,
    ) -> Result<bool, StoreError>;

    async fn create_round(
        &self,
        round: &NewRound,
        actor: &Actor,
    ) -> Result<InspectionRound, StoreError>;
    async fn round(&self, id: i64) -> Result<Option<InspectionRound>, StoreError>;
    /// The rounds of a line, oldest first.
    async fn rounds_of_line(&self, line_id: &str) -> Result<Vec<InspectionRound>, StoreError>;
    /// Creates or replaces observations (by marker number) in one transaction.
    async fn put_observations(
        &self,
        round_id: i64,
        observations: &[MarkerObservation],
        actor: &Actor,
    ) -> Result<(), StoreError>;
    /// The observations of a round, by number.
    async fn observations(&self, round_id: i64) -> Result<Vec<MarkerObservation>, StoreError>;
    /// Replaces every feature of `kind` in the round.
    async fn replace_round_features(
        &self,
        round_id: i64,
        kind: RoundFeatureKind,
        features: &[RoundFeature],
        actor: &Actor,
    ) -> Result<(), StoreError>;
    async fn round_features(&self, round_id: i64) -> Result<Vec<RoundFeature>, StoreError>;
    /// Stores a round's report, replacing the one before.
    async fn put_report(&self, report: &StoredReport, actor: &Actor) -> Result<(), StoreError>;
    async fn report(&self, round_id: i64) -> Result<Option<StoredReport>, StoreError>;
}

/// JSON text of a list column.
pub(crate) fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain lists always serialise")
}

pub(crate) fn from_json_text<T: serde::de::DeserializeOwned>(
    text: &str,
    column: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|error| {
        StoreError::CorruptRow(format!("{column} is not the JSON expected: {error}"))
    })
}

pub(crate) fn inspection_audit<T: Serialize>(
    actor: &Actor,
    action: &str,
    entity: &str,
    entity_id: String,
    after: &T,
    at: DateTime<Utc>,
) -> NewAuditEntry {
    NewAuditEntry {
        at,
        actor: actor.name.clone(),
        action: action.to_owned(),
        entity: entity.to_owned(),
        entity_id,
        before: None,
        after: Some(serde_json::value::to_raw_value(after).expect("inspection records serialise")),
    }
}

/// Implements [`InspectionStore`] for `$store`, whose `begin_write()` gives a `$write`
/// with a `transaction` field, `commit()` and `append_audit`, and whose `read_pool()`
/// gives the pool for reads.
macro_rules! inspection_store {
    ($store:ty, $write:ty, $database:ty, $row:ty) => {
        fn line_settings_from_row(
            row: &$row,
        ) -> Result<$crate::domain::boundary::LineSettings, $crate::store::StoreError> {
            use sqlx::Row;
            let geometry: Option<String> = row.try_get("official_geometry")?;
            Ok($crate::domain::boundary::LineSettings {
                line_id: row.try_get("line_id")?,
                name: row.try_get("name")?,
                agreement: row.try_get("agreement")?,
                marker_tolerance_m: row.try_get("marker_tolerance_m")?,
                line_tolerance_m: row.try_get("line_tolerance_m")?,
                official_geometry: geometry
                    .map(|text| {
                        $crate::store::inspections::from_json_text(&text, "official_geometry")
                    })
                    .transpose()?,
                updated_at: Some(row.try_get("updated_at")?),
                updated_by: Some(row.try_get("updated_by")?),
            })
        }

        fn marker_from_row(
            row: &$row,
        ) -> Result<$crate::domain::boundary::BoundaryMarker, $crate::store::StoreError> {
            use sqlx::Row;
            let marker_type: String = row.try_get("marker_type")?;
            let sequence: Option<i64> = row.try_get("sequence")?;
            let suffix: Option<String> = row.try_get("suffix")?;
            let landmarks: String = row.try_get("landmarks")?;
            Ok($crate::domain::boundary::BoundaryMarker {
                number: $crate::domain::boundary::MarkerNumber {
                    printed: row.try_get("number")?,
                    prefix: row.try_get("prefix")?,
                    sequence: sequence.and_then(|value| u32::try_from(value).ok()),
                    suffix: suffix.and_then(|text| text.chars().next()),
                },
                marker_type: $crate::domain::boundary::MarkerType::parse(&marker_type)
                    .ok_or_else(|| {
                        $crate::store::StoreError::CorruptRow(format!(
                            "unexpected marker type {marker_type:?}"
                        ))
                    })?,
                lon: row.try_get("lon")?,
                lat: row.try_get("lat")?,
                line: Some(row.try_get("line_id")?),
                landmarks: $crate::store::inspections::from_json_text(&landmarks, "landmarks")?,
                note: row.try_get("note")?,
            })
        }

        fn round_from_row(
            row: &$row,
        ) -> Result<$crate::domain::boundary::InspectionRound, $crate::store::StoreError> {
            use sqlx::Row;
            let teams: String = row.try_get("teams")?;
            Ok($crate::domain::boundary::InspectionRound {
                id: row.try_get("id")?,
                line_id: row.try_get("line_id")?,
                date: row.try_get("date")?,
                teams: $crate::store::inspections::from_json_text(&teams, "teams")?,
                note: row.try_get("note")?,
                created_at: row.try_get("created_at")?,
                created_by: row.try_get("created_by")?,
                report_built_at: row.try_get("report_built_at")?,
            })
        }

        fn select_rounds_where(condition: &str) -> sqlx::QueryBuilder<$database> {
            sqlx::QueryBuilder::new(format!(
                "SELECT {} FROM inspection_rounds r \
                 LEFT JOIN inspection_reports p ON p.round_id = r.id WHERE {condition}",
                $crate::store::inspections::ROUND_COLUMNS
            ))
        }

        #[async_trait::async_trait]
        impl $crate::store::inspections::InspectionStore for $store {
            async fn line_settings(
                &self,
                line_id: &str,
            ) -> Result<Option<$crate::domain::boundary::LineSettings>, $crate::store::StoreError>
            {
                let row = sqlx::query::<$database>("SELECT * FROM boundary_lines WHERE line_id = $1")
                    .bind(line_id.to_owned())
                    .fetch_optional(self.read_pool())
                    .await?;
                row.as_ref().map(line_settings_from_row).transpose()
            }

            async fn all_line_settings(
                &self,
            ) -> Result<Vec<$crate::domain::boundary::LineSettings>, $crate::store::StoreError> {
                let rows = sqlx::query::<$database>("SELECT * FROM boundary_lines ORDER BY line_id")
                    .fetch_all(self.read_pool())
                    .await?;
                rows.iter().map(line_settings_from_row).collect()
            }

            async fn put_line_settings(
                &self,
                settings: &$crate::domain::boundary::LineSettings,
                actor: &$crate::store::Actor,
            ) -> Result<$crate::domain::boundary::LineSettings, $crate::store::StoreError> {
                use $crate::store::writes::WriteTransaction;
                let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
                let mut stored = settings.clone();
                stored.updated_at = Some(now);
                stored.updated_by = Some(actor.name.clone());
                let mut write = self.begin_write().await?;
                sqlx::query::<$database>(
                    "INSERT INTO boundary_lines (line_id, name, agreement, marker_tolerance_m, \
                     line_tolerance_m, official_geometry, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (line_id) DO UPDATE SET name = excluded.name, \
                     agreement = excluded.agreement, marker_tolerance_m = excluded.marker_tolerance_m, \
                     line_tolerance_m = excluded.line_tolerance_m, \
                     official_geometry = excluded.official_geometry, \
                     updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                )
                .bind(stored.line_id.clone())
                .bind(stored.name.clone())
                .bind(stored.agreement.clone())
                .bind(stored.marker_tolerance_m)
                .bind(stored.line_tolerance_m)
                .bind(stored.official_geometry.as_ref().map(|geometry| geometry.to_string()))
                .bind(now)
                .bind(actor.name.clone())
                .execute(&mut *write.transaction)
                .await?;
                write
                    .append_audit(&[$crate::store::inspections::inspection_audit(
                        actor,
                        "boundary_line.register",
                        "boundary_line",
                        stored.line_id.clone(),
                        &stored,
                        now,
                    )])
                    .await?;
                write.commit().await?;
                Ok(stored)
            }

            async fn markers_of_line(
                &self,
                line_id: &str,
            ) -> Result<Vec<$crate::domain::boundary::BoundaryMarker>, $crate::store::StoreError>
            {
                let mut query = sqlx::QueryBuilder::<$database>::new(format!(
                    "SELECT {} FROM boundary_markers WHERE line_id = ",
                    $crate::store::inspections::MARKER_COLUMNS
                ));
                query
                    .push_bind(line_id.to_owned())
                    .push(" ORDER BY coalesce(prefix, ''), coalesce(sequence, -1), number");
                let rows = query.build().fetch_all(self.read_pool()).await?;
                rows.iter().map(marker_from_row).collect()
            }

            async fn put_markers(
                &self,
                markers: &[$crate::domain::boundary::BoundaryMarker],
                actor: &$crate::store::Actor,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::writes::WriteTransaction;
                let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
                let mut write = self.begin_write().await?;
                for chunk in markers.chunks(ROWS_PER_STATEMENT / 12) {
                    let mut query = sqlx::QueryBuilder::<$database>::new(format!(
                        "INSERT INTO boundary_markers ({}) ",
                        $crate::store::inspections::MARKER_COLUMNS
                    ));
                    query.push_values(chunk, |mut values, marker| {
                        values
                            .push_bind(marker.line.clone().unwrap_or_default())
                            .push_bind(marker.number.printed.clone())
                            .push_bind(marker.number.prefix.clone())
                            .push_bind(marker.number.sequence.map(i64::from))
                            .push_bind(marker.number.suffix.map(String::from))
                            .push_bind(marker.marker_type.as_str())
                            .push_bind(marker.lon)
                            .push_bind(marker.lat)
                            .push_bind($crate::store::inspections::json_text(&marker.landmarks))
                            .push_bind(marker.note.clone())
                            .push_bind(now)
                            .push_bind(actor.name.clone());
                    });
                    query.push(
                        " ON CONFLICT (line_id, number) DO UPDATE SET prefix = excluded.prefix, \
                         sequence = excluded.sequence, suffix = excluded.suffix, \
                         marker_type = excluded.marker_type, lon = excluded.lon, lat = excluded.lat, \
                         landmarks = excluded.landmarks, note = excluded.note, \
                         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    );
                    query.build().execute(&mut *write.transaction).await?;
                }
                let audit: Vec<_> = markers
                    .iter()
                    .map(|marker| {
                        $crate::store::inspections::inspection_audit(
                            actor,
                            "boundary_marker.put",
                            "boundary_marker",
                            format!(
                                "{}/{}",
                                marker.line.as_deref().unwrap_or_default(),
                                marker.number.printed
                            ),
                            marker,
                            now,
                        )
                    })
                    .collect();
                write.append_audit(&audit).await?;
                write.commit().await?;
                Ok(())
            }

            async fn delete_marker(
                &self,
                line_id: &str,
                number: &str,
                actor: &$crate::store::Actor,
            ) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::writes::WriteTransaction;
                let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
                let mut write = self.begin_write().await?;
                let deleted = sqlx::query::<$database>(
                    "DELETE FROM boundary_markers WHERE line_id = $1 AND number = $2",
                )
                .bind(line_id.to_owned())
                .bind(number.to_owned())
                .execute(&mut *write.transaction)
                .await?
                .rows_affected();
                if deleted == 0 {
                    return Ok(false);
                }
                write
                    .append_audit(&[$crate::store::NewAuditEntry {
                        at: now,
                        actor: actor.name.clone(),
                        action: "boundary_marker.delete".to_owned(),
                        entity: "boundary_marker".to_owned(),
                        entity_id: format!("{line_id}/{number}"),
                        before: None,
                        after: None,
                    }])
                    .await?;
                write.commit().await?;
                Ok(true)
            }

            async fn create_round(
                &self,
                round: &$crate::store::inspections::NewRound,
                actor: &$crate::store::Actor,
            ) -> Result<$crate::domain::boundary::InspectionRound, $crate::store::StoreError> {
                use $crate::store::writes::WriteTransaction;
                let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
                let mut write = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar::<$database, i64>(
                    "INSERT INTO inspection_rounds (line_id, date, teams, note, created_at, created_by) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(round.line_id.clone())
                .bind(round.date)
                .bind($crate::store::inspections::json_text(&round.teams))
                .bind(round.note.clone())
                .bind(now)
                .bind(actor.name.clone())
                .fetch_one(&mut *write.transaction)
                .await?;
                let created = $crate::domain::boundary::InspectionRound {
                    id,
                    line_id: round.line_id.clone(),
                    date: round.date,
                    teams: round.teams.clone(),
                    note: round.note.clone(),
                    created_at: now,
                    created_by: actor.name.clone(),
                    report_built_at: None,
                };
                write
                    .append_audit(&[$crate::store::inspections::inspection_audit(
                        actor,
                        "inspection_round.create",
                        "inspection_round",
                        id.to_string(),
                        &created,
                        now,
                    )])
                    .await?;
                write.commit().await?;
                Ok(created)
            }

            async fn round(
                &self,
                id: i64,
            ) -> Result<Option<$crate::domain::boundary::InspectionRound>, $crate::store::StoreError>
            {
                let mut query = select_rounds_where("r.id = ");
                query.push_bind(id);
                let row = query.build().fetch_optional(self.read_pool()).await?;
                row.as_ref().map(round_from_row).transpose()
            }

            async fn rounds_of_line(
                &self,
                line_id: &str,
            ) -> Result<Vec<$crate::domain::boundary::InspectionRound>, $crate::store::StoreError>
            {
                let mut query = select_rounds_where("r.line_id = ");
                query
                    .push_bind(line_id.to_owned())
                    .push(" ORDER BY r.date, r.id");
                let rows = query.build().fetch_all(self.read_pool()).await?;
                rows.iter().map(round_from_row).collect()
            }

            async fn put_observations(
                &self,
                round_id: i64,
                observations: &[$crate::domain::boundary::MarkerObservation],
                actor: &$crate::store::Actor,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::writes::WriteTransaction;
                let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
                let mut write = self.begin_write().await?;
                for chunk in observations.chunks(ROWS_PER_STATEMENT / 7) {
                    let mut query = sqlx::QueryBuilder::<$database>::new(
                        "INSERT INTO inspection_observations \
                         (round_id, number, lon, lat, condition, note, photos) ",
                    );
                    query.push_values(chunk, |mut values, observation| {
                        values
                            .push_bind(round_id)
                            .push_bind(observation.number.clone())
                            .push_bind(observation.lon)
                            .push_bind(observation.lat)
                            .push_bind(observation.condition.as_str())
                            .push_bind(observation.note.clone())
                            .push_bind($crate::store::inspections::json_text(&observation.photos));
                    });
                    query.push(
                        " ON CONFLICT (round_id, number) DO UPDATE SET lon = excluded.lon, \
                         lat = excluded.lat, condition = excluded.condition, note = excluded.note, \
                         photos = excluded.photos",
                    );
                    query.build().execute(&mut *write.transaction).await?;
                }
                let audit: Vec<_> = observations
                    .iter()
                    .map(|observation| {
                        $crate::store::inspections::inspection_audit(
                            actor,
                            "inspection.observe",
                            "inspection_observation",
                            format!("{round_id}/{}", observation.number),
                            observation,
                            now,
                        )
                    })
                    .collect();
                write.append_audit(&audit).await?;
                write.commit().await?;
                Ok(())
            }

            async fn observations(
                &self,
                round_id: i64,
            ) -> Result<Vec<$crate::domain::boundary::MarkerObservation>, $crate::store::StoreError>
            {
                use sqlx::Row;
                let rows = sqlx::query::<$database>(
                    "SELECT number, lon, lat, condition, note, photos \
                     FROM inspection_observations WHERE round_id = $1 ORDER BY number",
                )
                .bind(round_id)
                .fetch_all(self.read_pool())
                .await?;
                rows.iter()
                    .map(|row| {
                        let condition: String = row.try_get("condition")?;
                        let photos: String = row.try_get("photos")?;
                        Ok($crate::domain::boundary::MarkerObservation {
                            number: row.try_get("number")?,
                            lon: row.try_get("lon")?,
                            lat: row.try_get("lat")?,
                            condition: $crate::domain::boundary::Condition::parse(&condition)
                                .ok_or_else(|| {
                                    $crate::store::StoreError::CorruptRow(format!(
                                        "unexpected condition {condition:?}"
                                    ))
                                })?,
                            note: row.try_get("note")?,
                            photos: $crate::store::inspections::from_json_text(&photos, "photos")?,
                        })
                    })
                    .collect()
            }

            async fn replace_round_features(
                &self,
                round_id: i64,
                kind: $crate::domain::boundary::RoundFeatureKind,
                features: &[$crate::domain::boundary::RoundFeature],
                actor: &$crate::store::Actor,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::writes::WriteTransaction;
                let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
                let mut write = self.begin_write().await?;
                sqlx::query::<$database>(
                    "DELETE FROM inspection_features WHERE round_id = $1 AND kind = $2",
                )
                .bind(round_id)
                .bind(kind.as_str())
                .execute(&mut *write.transaction)
                .await?;
                let numbered: Vec<(i64, &$crate::domain::boundary::RoundFeature)> =
                    (0_i64..).zip(features).collect();
                for chunk in numbered.chunks(ROWS_PER_STATEMENT / 5) {
                    let mut query = sqlx::QueryBuilder::<$database>::new(
                        "INSERT INTO inspection_features (round_id, kind, position, name, geometry) ",
                    );
                    query.push_values(chunk, |mut values, (position, feature)| {
                        values
                            .push_bind(round_id)
                            .push_bind(kind.as_str())
                            .push_bind(*position)
                            .push_bind(feature.name.clone())
                            .push_bind(feature.geometry.to_string());
                    });
                    query.build().execute(&mut *write.transaction).await?;
                }
                let names: Vec<&str> = features.iter().map(|feature| feature.name.as_str()).collect();
                write
                    .append_audit(&[$crate::store::inspections::inspection_audit(
                        actor,
                        "inspection.features",
                        "inspection_round",
                        round_id.to_string(),
                        &serde_json::json!({"kind": kind.as_str(), "names": names}),
                        now,
                    )])
                    .await?;
                write.commit().await?;
                Ok(())
            }

            async fn round_features(
                &self,
                round_id: i64,
            ) -> Result<Vec<$crate::domain::boundary::RoundFeature>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query::<$database>(
                    "SELECT kind, name, geometry FROM inspection_features WHERE round_id = $1 \
                     ORDER BY kind, position",
                )
                .bind(round_id)
                .fetch_all(self.read_pool())
                .await?;
                rows.iter()
                    .map(|row| {
                        let kind: String = row.try_get("kind")?;
                        let geometry: String = row.try_get("geometry")?;
                        Ok($crate::domain::boundary::RoundFeature {
                            kind: $crate::domain::boundary::RoundFeatureKind::parse(&kind)
                                .ok_or_else(|| {
                                    $crate::store::StoreError::CorruptRow(format!(
                                        "unexpected feature kind {kind:?}"
                                    ))
                                })?,
                            name: row.try_get("name")?,
                            geometry: $crate::store::inspections::from_json_text(
                                &geometry, "geometry",
                            )?,
                        })
                    })
                    .collect()
            }

            async fn put_report(
                &self,
                report: &$crate::domain::boundary::StoredReport,
                actor: &$crate::store::Actor,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::writes::WriteTransaction;
                let mut write = self.begin_write().await?;
                sqlx::query::<$database>(
                    "INSERT INTO inspection_reports \
                     (round_id, built_at, built_by, report_json, report_geojson, report_html) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (round_id) DO UPDATE SET built_at = excluded.built_at, \
                     built_by = excluded.built_by, report_json = excluded.report_json, \
                     report_geojson = excluded.report_geojson, report_html = excluded.report_html",
                )
                .bind(report.round_id)
                .bind(report.built_at)
                .bind(report.built_by.clone())
                .bind(report.json.clone())
                .bind(report.geojson.clone())
                .bind(report.html.clone())
                .execute(&mut *write.transaction)
                .await?;
                write
                    .append_audit(&[$crate::store::inspections::inspection_audit(
                        actor,
                        "inspection.report",
                        "inspection_round",
                        report.round_id.to_string(),
                        &serde_json::json!({"built_at": report.built_at}),
                        report.built_at,
                    )])
                    .await?;
                write.commit().await?;
                Ok(())
            }

            async fn report(
                &self,
                round_id: i64,
            ) -> Result<Option<$crate::domain::boundary::StoredReport>, $crate::store::StoreError>
            {
                use sqlx::Row;
                let row = sqlx::query::<$database>(
                    "SELECT round_id, built_at, built_by, report_json, report_geojson, report_html \
                     FROM inspection_reports WHERE round_id = $1",
                )
                .bind(round_id)
                .fetch_optional(self.read_pool())
                .await?;
                row.map(|row| {
                    Ok($crate::domain::boundary::StoredReport {
                        round_id: row.try_get("round_id")?,
                        built_at: row.try_get("built_at")?,
                        built_by: row.try_get("built_by")?,
                        json: row.try_get("report_json")?,
                        geojson: row.try_get("report_geojson")?,
                        html: row.try_get("report_html")?,
                    })
                })
                .transpose()
            }
        }
    };
}

pub(crate) use inspection_store;
