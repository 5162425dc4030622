//! Reference data shipped with the product (`data/`): NBS divisions with short names,
//! aliases and renames, and county polygons. A copy is built into the binary so that
//! `yizhitong serve` works from any directory; `import divisions DIR` loads another.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

use crate::domain::division::{Division, DivisionCode, DivisionLevel};
use crate::store::DivisionPolygon;

const EMBEDDED_DIVISIONS: &[u8] = include_bytes!("../data/divisions.tsv.gz");
const EMBEDDED_COUNTY_POLYGONS: &[u8] = include_bytes!("../data/zhejiang_counties.geojson.gz");
/// The address tagger, trained by `scripts/train-parser` (see data/README.md).
pub const EMBEDDED_PARSER_MODEL: &[u8] = include_bytes!("../data/parser-model.bin.gz");
pub const EMBEDDED_DEMO_SEED: &[u8] = include_bytes!("../seeds/demo_addresses.csv");

const DIVISIONS_FILE: &str = "divisions.tsv.gz";
const DIVISION_COLUMNS: [&str; 9] = [
    "code",
    "name",
    "level",
    "parent",
    "short_name",
    "aliases",
    "valid_from",
    "valid_to",
    "successor",
];

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{file} line {line}: {reason}")]
    Malformed {
        file: String,
        line: usize,
        reason: String,
    },
}

pub struct ReferenceData {
    /// Content hash of the files, stored in the registry to know whether to reload.
    pub version: String,
    pub divisions: Vec<Division>,
    pub polygons: Vec<DivisionPolygon>,
}

/// Where reference data comes from.
#[derive(Debug, Clone)]
pub enum ReferenceSource {
    Embedded,
    Directory(PathBuf),
}

impl ReferenceSource {
    /// The version without parsing anything: cheap enough to check at every start.
    pub fn version(&self) -> Result<String, ReferenceError> {
        Ok(content_version(&self.raw_files()?))
    }

    /// (file name, compressed bytes) of the divisions file first, then polygon files.
    fn raw_files(&self) -> Result<Vec<(String, Vec<u8>)>, ReferenceError> {
        match self {
            ReferenceSource::Embedded => Ok(vec![
                (DIVISIONS_FILE.to_owned(), EMBEDDED_DIVISIONS.to_vec()),
                (
                    "zhejiang_counties.geojson.gz".to_owned(),
                    EMBEDDED_COUNTY_POLYGONS.to_vec(),
                ),
            ]),
            ReferenceSource::Directory(directory) => {
                let mut files = vec![(
                    DIVISIONS_FILE.to_owned(),
                    read_file(&directory.join(DIVISIONS_FILE))?,
                )];
                let entries =
                    std::fs::read_dir(directory).map_err(|error| unreadable(directory, error))?;
                let mut polygon_files: Vec<PathBuf> = entries
                    .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                    .filter(|path| {
                        let name = path
                            .file_name()
                            .and_then(|name| name.to_str())
                            .unwrap_or("");
                        name.ends_with(".geojson.gz") || name.ends_with(".geojson")
                    })
                    .collect();
                polygon_files.sort();
                for path in polygon_files {
                    let name = path
                        .file_name()
                        .and_then(|name| name.to_str())
                        .unwrap_or_default()
                        .to_owned();
                    files.push((name, read_file(&path)?));
                }
                Ok(files)
            }
        }
    }

    pub fn load(&self) -> Result<ReferenceData, ReferenceError> {
        let files = self.raw_files()?;
        let version = content_version(&files);
        let mut divisions = Vec::new();
        let mut polygons = Vec::new();
        for (name, bytes) in files {
            let text = decompress(&name, &bytes)?;
            if name == DIVISIONS_FILE {
                divisions = parse_divisions(&name, &text)?;
            } else {
                polygons.extend(parse_polygons(&name, &text)?);
            }
        }
        Ok(ReferenceData {
            version,
            divisions,
            polygons,
        })
    }
}

/// Hash of the file names and bytes: the same data gives the same version anywhere.
fn content_version(files: &[(String, Vec<u8>)]) -> String {
    let mut hasher = Sha256::new();
    for (name, bytes) in files {
        hasher.update(name.as_bytes());
        hasher.update(bytes);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

fn unreadable(path: &Path, error: impl std::fmt::Display) -> ReferenceError {
    ReferenceError::Unreadable {
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, ReferenceError> {
    std::fs::read(path).map_err(|error| unreadable(path, error))
}

fn decompress(name: &str, bytes: &[u8]) -> Result<String, ReferenceError> {
    if !name.ends_with(".gz") {
        return String::from_utf8(bytes.to_vec())
            .map_err(|error| unreadable(Path::new(name), error));
    }
    let mut text = String::new();
    GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|error| unreadable(Path::new(name), error))?;
    Ok(text)
}

fn optional(field: &str) -> Option<String> {
    let field = field.trim();
    (!field.is_empty()).then(|| field.to_owned())
}

/// Parses the divisions TSV documented in `data/README.md`.
pub fn parse_divisions(file: &str, text: &str) -> Result<Vec<Division>, ReferenceError> {
    let malformed = |line: usize, reason: String| ReferenceError::Malformed {
        file: file.to_owned(),
        line,
        reason,
    };
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = lines
        .next()
        .map(|(_, header)| header.split('\t').collect())
        .unwrap_or_default();
    if header != DIVISION_COLUMNS {
        return Err(malformed(
            1,
            format!("expected the header {DIVISION_COLUMNS:?}"),
        ));
    }
    let code = |line: usize, field: &str| -> Result<Option<String>, ReferenceError> {
        optional(field)
            .map(|code| {
                DivisionCode::parse(&code)
                    .map(|code| code.to_string())
                    .map_err(|error| malformed(line, error.to_string()))
            })
            .transpose()
    };
    let date = |line: usize, field: &str| -> Result<Option<NaiveDate>, ReferenceError> {
        optional(field)
            .map(|date| {
                date.parse()
                    .map_err(|_| malformed(line, format!("{date:?} is not a YYYY-MM-DD date")))
            })
            .transpose()
    };
    let mut divisions = Vec::with_capacity(text.len() / 48);
    for (index, row) in lines {
        let line = index + 1;
        if row.is_empty() {
            continue;
        }
        let fields: Vec<&str> = row.split('\t').collect();
        if fields.len() != DIVISION_COLUMNS.len() {
            return Err(malformed(
                line,
                format!(
                    "expected {} fields, found {}",
                    DIVISION_COLUMNS.len(),
                    fields.len()
                ),
            ));
        }
        divisions.push(Division {
            code: code(line, fields[0])?.ok_or_else(|| malformed(line, "missing code".into()))?,
            name: optional(fields[1]).ok_or_else(|| malformed(line, "missing name".into()))?,
            level: DivisionLevel::parse(fields[2])
                .ok_or_else(|| malformed(line, format!("unknown level {:?}", fields[2])))?,
            parent_code: code(line, fields[3])?,
            short_name: optional(fields[4]),
            aliases: fields[5].split('|').filter_map(optional).collect(),
            valid_from: date(line, fields[6])?,
            valid_to: date(line, fields[7])?,
            successor_code: code(line, fields[8])?,
        });
    }
    Ok(divisions)
}

/// Encodes divisions in the `divisions.tsv.gz` format, compressed for speed rather than
/// size: the store keeps it as a snapshot that a restart reads in one row.
pub fn encode_division_snapshot(divisions: &[Division]) -> Vec<u8> {
    use std::io::Write;
    let mut text = DIVISION_COLUMNS.join("\t");
    text.push('\n');
    let date = |date: &Option<NaiveDate>| date.map(|date| date.to_string()).unwrap_or_default();
    for division in divisions {
        let fields = [
            division.code.clone(),
            division.name.clone(),
            division.level.as_str().to_owned(),
            division.parent_code.clone().unwrap_or_default(),
            division.short_name.clone().unwrap_or_default(),
            division.aliases.join("|"),
            date(&division.valid_from),
            date(&division.valid_to),
            division.successor_code.clone().unwrap_or_default(),
        ];
        text.push_str(&fields.join("\t"));
        text.push('\n');
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(text.as_bytes())
        .expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

pub fn decode_division_snapshot(bytes: &[u8]) -> Result<Vec<Division>, ReferenceError> {
    parse_divisions("division snapshot", &decompress("snapshot.gz", bytes)?)
}

/// Reads a GeoJSON FeatureCollection whose features carry a 12-digit `code` property
/// and a Polygon or MultiPolygon geometry.
pub fn parse_polygons(file: &str, text: &str) -> Result<Vec<DivisionPolygon>, ReferenceError> {
    let malformed = |feature: usize, reason: String| ReferenceError::Malformed {
        file: file.to_owned(),
        line: feature,
        reason,
    };
    let collection: serde_json::Value =
        serde_json::from_str(text).map_err(|error| malformed(0, error.to_string()))?;
    let features = collection["features"]
        .as_array()
        .ok_or_else(|| malformed(0, "not a FeatureCollection".into()))?;
    let mut polygons = Vec::with_capacity(features.len());
    for (index, feature) in features.iter().enumerate() {
        let code = feature["properties"]["code"]
            .as_str()
            .and_then(|code| DivisionCode::parse(code).ok())
            .ok_or_else(|| {
                malformed(
                    index + 1,
                    "feature without a division code property \"code\"".into(),
                )
            })?;
        let geometry = &feature["geometry"];
        if !matches!(geometry["type"].as_str(), Some("Polygon" | "MultiPolygon")) {
            return Err(malformed(
                index + 1,
                "geometry is not a Polygon or MultiPolygon".into(),
            ));
        }
        polygons.push(DivisionPolygon {
            code: code.to_string(),
            geometry_geojson: geometry.to_string(),
        });
    }
    Ok(polygons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_data_has_every_level_and_the_ningbo_merges() {
        let data = ReferenceSource::Embedded.load().unwrap();
        let count = |level| {
            data.divisions
                .iter()
                .filter(|d| d.level == level && d.is_current())
                .count()
        };
        // NBS lists 2,978 counties, 41,352 towns and 620,573 villages; three placeholder
        // "counties" (东莞, 中山, 儋州) and 金门's placeholder town and village carry
        // their parent's code once padded to 12 digits, so they are the parent row.
        assert_eq!(count(DivisionLevel::Province), 31);
        assert_eq!(count(DivisionLevel::City), 342);
        assert_eq!(count(DivisionLevel::County), 2978 - 3);
        assert_eq!(count(DivisionLevel::Town), 41_352 - 1);
        assert_eq!(count(DivisionLevel::Village), 620_573 - 1);
        let jiangdong = data
            .divisions
            .iter()
            .find(|d| d.code == "330204000000")
            .unwrap();
        assert_eq!(jiangdong.successor_code.as_deref(), Some("330212000000"));
        assert!(jiangdong.valid_to.is_some());
        assert_eq!(data.polygons.len(), 90);
        assert!(data.version.starts_with("sha256:"));
        assert_eq!(ReferenceSource::Embedded.version().unwrap(), data.version);
    }

    #[test]
    fn a_snapshot_decodes_to_the_divisions_it_encodes() {
        let data = ReferenceSource::Embedded.load().unwrap();
        let sample: Vec<Division> = data
            .divisions
            .iter()
            .filter(|division| {
                division.code.starts_with("3302")
                    || !division.aliases.is_empty()
                    || !division.is_current()
            })
            .cloned()
            .collect();
        assert!(sample.iter().any(|division| !division.aliases.is_empty()));
        assert!(
            sample
                .iter()
                .any(|division| division.successor_code.is_some())
        );
        let decoded = decode_division_snapshot(&encode_division_snapshot(&sample)).unwrap();
        assert_eq!(decoded, sample);
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let text = "code\tname\tlevel\tparent\tshort_name\taliases\tvalid_from\tvalid_to\tsuccessor\n\
                    330000000000\t浙江省\tprovince\t\t浙江\t\t\t\t\n\
                    33021\t坏\tcounty\t\t\t\t\t\t\n";
        let error = parse_divisions("x.tsv", text).unwrap_err();
        assert!(error.to_string().contains("line 3"), "{error}");
    }
}
