//! Printables: the QR symbol, the plate face and the manufacturer's sheet.

use super::render::{self, PlateFace, QrMatrix};
use super::{DoorplateError, DoorplateService, MAX_SHEET_PLATES, PlateView};
use crate::domain::address::StandardAddress;

impl DoorplateService {
    /// The QR symbol of a plate: its URL, at error-correction level Q.
    pub async fn qr(&self, id: i64) -> Result<(PlateView, QrMatrix), DoorplateError> {
        let plate = self.plate(id).await?;
        let matrix = QrMatrix::encode(&plate.url)?;
        Ok((plate, matrix))
    }

    async fn face_parts(&self, id: i64) -> Result<(PlateView, QrMatrix, FaceText), DoorplateError> {
        let (plate, matrix) = self.qr(id).await?;
        let address = self
            .store
            .address(&plate.plate.address_code)
            .await?
            .ok_or_else(|| DoorplateError::UnknownAddress {
                code: plate.plate.address_code.clone(),
            })?;
        let text = self.face_text(&address);
        Ok((plate, matrix, text))
    }

    fn face_text(&self, address: &StandardAddress) -> FaceText {
        let parts = &address.components;
        let name = match (&parts.road, &parts.road_no, &parts.place) {
            (Some(road), road_no, _) => format!("{road}{}", road_no.as_deref().unwrap_or("")),
            (None, _, Some(place)) => place.clone(),
            _ => address.standard_text.clone(),
        };
        let number: String = [&parts.building, &parts.unit, &parts.floor, &parts.room]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let names = self
            .registry
            .divisions()
            .address_names(&address.division_code, true);
        FaceText {
            name,
            number: (!number.is_empty()).then_some(number),
            // Province and city are understood on a plate; county and below are printed.
            division: names.iter().skip(2).cloned().collect::<Vec<_>>().join(" "),
        }
    }

    /// The printable plate face (SVG, millimetres).
    pub async fn plate_svg(&self, id: i64) -> Result<String, DoorplateError> {
        let (plate, matrix, text) = self.face_parts(id).await?;
        Ok(render::plate_svg(&text.face(&plate, &matrix), None))
    }

    /// A manufacturer's sheet of plate faces, as one SVG or an HTML page.
    pub async fn sheet(&self, ids: &[i64], html: bool) -> Result<String, DoorplateError> {
        if ids.is_empty() || ids.len() > MAX_SHEET_PLATES {
            return Err(DoorplateError::BatchSize {
                given: ids.len(),
                maximum: MAX_SHEET_PLATES,
            });
        }
        let mut parts = Vec::with_capacity(ids.len());
        for id in ids {
            parts.push(self.face_parts(*id).await?);
        }
        let faces: Vec<PlateFace<'_>> = parts
            .iter()
            .map(|(plate, matrix, text)| text.face(plate, matrix))
            .collect();
        if !html {
            return Ok(render::sheet_svg(&faces));
        }
        let mut body = String::new();
        for (face, (plate, _, _)) in faces.iter().zip(&parts) {
            body.push_str(&format!(
                "<figure>{}<figcaption>{} · {} · {}</figcaption></figure>",
                render::plate_svg(face, None),
                render::escape_xml(&plate.plate.serial),
                render::escape_xml(&plate.plate.address_code),
                plate.plate.size.as_str(),
            ));
        }
        Ok(format!(
            "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>门牌制作清单</title>\
             <style>@page{{margin:10mm}}figure{{margin:0 0 10mm;break-inside:avoid}}\
             figcaption{{font:12px sans-serif;color:#444}}</style></head><body>{body}</body></html>"
        ))
    }
}

struct FaceText {
    name: String,
    number: Option<String>,
    division: String,
}

impl FaceText {
    fn face<'a>(&'a self, plate: &'a PlateView, matrix: &'a QrMatrix) -> PlateFace<'a> {
        PlateFace {
            size: plate.plate.size,
            name: &self.name,
            number: self.number.as_deref(),
            division: &self.division,
            serial: &plate.plate.serial,
            qr: matrix,
        }
    }
}
