//! Feature extraction: the named feature vector of a pair, from the normalised
//! texts (`text_features`, the research prototype's hand features) and from the
//! parser's components (`parser_features`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

use super::component_key;
use super::normalize::{normalize, strip_admin};
use super::pieces::{
    POI_AT_END, bigrams, building_key, buildings, chars, contains, core_name, cover, jaccard,
    longest_common_subsequence, longest_common_substring, number_units, only_han, place_keys,
    road_keys, roads, split_brackets, string, without_roads,
};
use crate::text::lexicon::PlaceLexicon;
use crate::text::parse::{Component, Label};

/// Named feature values of one pair, in a fixed order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    pub names: Vec<String>,
    pub values: Vec<f64>,
    index: HashMap<String, usize>,
}

impl Features {
    fn set(&mut self, name: impl Into<String>, value: f64) {
        let name = name.into();
        if let Some(&position) = self.index.get(&name) {
            self.values[position] = value;
            return;
        }
        self.index.insert(name.clone(), self.names.len());
        self.names.push(name);
        self.values.push(value);
    }

    fn flag(&mut self, name: impl Into<String>, value: bool) {
        self.set(name, f64::from(u8::from(value)));
    }

    /// The value of `name`, 0 when the pair does not have it.
    pub fn get(&self, name: &str) -> f64 {
        self.index.get(name).map_or(0.0, |&i| self.values[i])
    }

    fn thermometer(&mut self, prefix: &str, value: f64, edges: &[&str]) {
        for edge in edges {
            let threshold: f64 = edge.parse().unwrap_or(f64::INFINITY);
            self.flag(format!("{prefix}>={edge}"), value >= threshold);
        }
    }
}

static GATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[东西南北中正侧后前]*\d*[东西南北]?\d*门$").unwrap());
static BRACKET_ROAD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(路|街|道|巷)$").unwrap());
static OUTER_GATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[东西南北]\d*门$").unwrap());
static IS_ROAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[\x{4e00}-\x{9fa5}\d]{1,10}(大道|大街|路|街|巷|胡同|道)(\d+号)?$").unwrap()
});
static DETAIL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(单元|层|室)").unwrap());
static GENERIC_PLACE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(小区|花园|家园|新村|社区|公寓|广场|大厦|园区|苑|村|城)$").unwrap()
});

/// The hand features of the research prototype; `q` is the query, `c` the candidate.
pub fn text_features(lexicon: &PlaceLexicon, q: &str, c: &str) -> Features {
    let mut f = Features::default();
    let qn = normalize(q);
    let cn = normalize(c);
    let (qo, _) = split_brackets(&qn);
    let (co, cin) = split_brackets(&cn);
    let (qs, q_admin) = strip_admin(lexicon, &chars(&qo));
    let (cs, c_admin) = strip_admin(lexicon, &chars(&co));
    let qs_text = string(&qs);
    let cs_text = string(&cs);
    let qn_chars = chars(&qn);
    f.set("bias", 1.0);
    f.flag("eq_norm", qs == cs);
    f.flag("c_in_q", !cs.is_empty() && contains(&qs, &cs));
    f.flag("q_in_c", !qs.is_empty() && contains(&cs, &qs));
    let lcs = longest_common_substring(&qs, &cs);
    let lcs_over_c = lcs as f64 / cs.len().max(1) as f64;
    let lcs_over_q = lcs as f64 / qs.len().max(1) as f64;
    f.set("lcs_over_c", lcs_over_c);
    f.set("lcs_over_q", lcs_over_q);
    f.flag("lcs_ge4", lcs >= 4);
    let lcseq = longest_common_subsequence(&qs, &cs);
    f.set("lcseq_over_c", lcseq as f64 / cs.len().max(1) as f64);
    f.set("lcseq_over_q", lcseq as f64 / qs.len().max(1) as f64);
    let q_han = only_han(&qs);
    let c_han = only_han(&cs);
    let (qb, cb) = (bigrams(&q_han), bigrams(&c_han));
    let bigram_jaccard = jaccard(&qb, &cb);
    f.set("bi_jacc", bigram_jaccard);
    f.set("bi_cov_c", cover(&cb, &qb));
    f.set("bi_cov_q", cover(&qb, &cb));
    let qh = only_han(&qn_chars);
    f.flag("c_has_br", !cin.is_empty());
    f.set(
        "cbr_cov",
        if cin.is_empty() {
            0.0
        } else {
            cover(&bigrams(&only_han(&chars(&cin.concat()))), &bigrams(&qh))
        },
    );
    let (qr, cr) = (roads(&qs), roads(&cs));
    let road_same = qr.intersection(&cr).next().is_some();
    f.flag("road_both", !qr.is_empty() && !cr.is_empty());
    f.flag("road_same", road_same);
    f.flag("road_conf", !qr.is_empty() && !cr.is_empty() && !road_same);
    f.flag("road_c_only", !cr.is_empty() && qr.is_empty());
    f.flag("road_q_only", !qr.is_empty() && cr.is_empty());
    let (qnu, cnu) = (number_units(&qs_text), number_units(&cs_text));
    let empty = BTreeSet::new();
    for unit in ["号", "弄", "幢", "单元", "层", "室", "期", "区", "bare"] {
        let a = qnu.get(unit).unwrap_or(&empty);
        let b = cnu.get(unit).unwrap_or(&empty);
        let shared = a.intersection(b).next().is_some();
        f.flag(format!("n_{unit}_same"), shared);
        f.flag(
            format!("n_{unit}_conf"),
            !a.is_empty() && !b.is_empty() && !shared,
        );
        f.flag(format!("n_{unit}_q_only"), !a.is_empty() && b.is_empty());
        f.flag(format!("n_{unit}_c_only"), !b.is_empty() && a.is_empty());
    }
    let q_all: HashSet<&String> = qnu.values().flatten().collect();
    let c_all: HashSet<&String> = cnu.values().flatten().collect();
    f.flag("num_any_same", q_all.intersection(&c_all).next().is_some());
    f.set("num_c_cov", cover(&c_all, &q_all));
    f.flag("num_c_none", c_all.is_empty());
    f.set("len_q", qs.len().min(40) as f64 / 40.0);
    f.set("len_c", cs.len().min(40) as f64 / 40.0);
    f.set(
        "len_ratio",
        cs.len().min(qs.len()) as f64 / cs.len().max(qs.len()).max(1) as f64,
    );
    let bracket_gate = cin.iter().any(|x| GATE.is_match(x));
    f.flag("cbr_gate", bracket_gate);
    f.flag("cbr_shop", cin.iter().any(|x| x.ends_with('店')));
    f.flag("cbr_road", cin.iter().any(|x| BRACKET_ROAD.is_match(x)));
    f.flag("c_gate_outer", OUTER_GATE.is_match(&cs_text));

    let name = core_name(&cs_text);
    let nmh = only_han(&chars(&name));
    let name_in_q = nmh.len() >= 2 && contains(&qh, &nmh);
    let name_lcs = longest_common_substring(&nmh, &qh) as f64 / nmh.len().max(1) as f64;
    f.flag("name_in_q", name_in_q);
    f.set("name_lcs", name_lcs);
    f.set(
        "name_lcseq",
        longest_common_subsequence(&nmh, &qh) as f64 / nmh.len().max(1) as f64,
    );
    f.set("name_bicov", cover(&bigrams(&nmh), &bigrams(&qh)));
    f.set("name_len", nmh.len().min(20) as f64 / 20.0);
    let name_is_road = IS_ROAD.is_match(&cs_text);
    f.flag("name_is_road", name_is_road);
    f.flag("name_suffix_poi", POI_AT_END.is_match(&string(&nmh)));
    f.flag(
        "name_last2_in_q",
        nmh.len() >= 2 && contains(&qh, &nmh[nmh.len() - 2..]),
    );
    f.flag(
        "name_first2_in_q",
        nmh.len() >= 2 && contains(&qh, &nmh[..2]),
    );
    let qa: HashSet<&String> = q_admin.iter().collect();
    let ca: HashSet<&String> = c_admin.iter().collect();
    f.flag("adm_same", qa.intersection(&ca).next().is_some());
    f.flag(
        "adm_c_not_in_q",
        c_admin.iter().any(|x| !qn.contains(x.as_str())),
    );

    let qk: HashSet<String> = buildings(&qs).iter().map(|b| building_key(b)).collect();
    let ck: HashSet<String> = buildings(&cs).iter().map(|b| building_key(b)).collect();
    let shared = qk.intersection(&ck).next().is_some();
    let building_flags = [
        ("b_same", shared),
        ("b_conf", !qk.is_empty() && !ck.is_empty() && !shared),
        ("b_q_only", !qk.is_empty() && ck.is_empty()),
        ("b_c_only", !ck.is_empty() && qk.is_empty()),
        ("b_none", qk.is_empty() && ck.is_empty()),
    ];
    for (key, value) in building_flags {
        f.flag(key, value);
    }
    let strong = name_in_q || name_lcs >= 0.8;
    let weak = !strong && name_lcs >= 0.5;
    f.flag("nm_strong", strong);
    f.flag("nm_weak", weak);
    for (key, value) in building_flags {
        f.flag(format!("strong_x_{key}"), strong && value);
        f.flag(format!("weak_x_{key}"), weak && value);
    }
    f.flag("strong_x_gate", strong && bracket_gate);
    let q_detail = DETAIL.is_match(&qs_text);
    f.flag("q_detail", q_detail);
    f.flag("strong_x_qdetail", strong && q_detail);
    let c_generic = GENERIC_PLACE.is_match(&string(&only_han(&chars(&co)))) && ck.is_empty();
    f.flag("c_generic", c_generic);
    f.flag("c_generic_x_qb", c_generic && !qk.is_empty());
    f.flag("c_is_road_x_qmore", name_is_road && qs.len() > cs.len() + 2);

    let (rq, rc) = (road_keys(&qs), road_keys(&cs));
    let road_key_same = rq.intersection(&rc).next().is_some();
    f.flag("rk_same", road_key_same);
    f.flag(
        "rk_conf",
        !rq.is_empty() && !rc.is_empty() && !road_key_same,
    );
    f.flag(
        "rk_c_in_q_text",
        rc.iter().any(|k| qs_text.contains(k.as_str())),
    );
    let hao_same = f.get("n_号_same") > 0.0;
    let hao_conf = f.get("n_号_conf") > 0.0;
    f.flag("rk_same_x_hao_same", road_key_same && hao_same);
    f.flag("rk_same_x_hao_conf", road_key_same && hao_conf);
    let (pq, pc) = (place_keys(&q_han), place_keys(&c_han));
    let place_same = pq.intersection(&pc).next().is_some();
    let place_conf = !pq.is_empty() && !pc.is_empty() && !place_same;
    f.flag("pk_same", place_same);
    f.flag("pk_conf", place_conf);
    f.flag("pk_c_only", !pc.is_empty() && pq.is_empty());
    f.flag("pk_conf_x_bsame", place_conf && shared);
    f.flag("nm_first3_in_q", nmh.len() >= 3 && contains(&qh, &nmh[..3]));
    f.flag(
        "nm_first2_miss",
        nmh.len() >= 2 && !contains(&qh, &nmh[..2]),
    );
    let residue = c_han.len() - longest_common_subsequence(&c_han, &q_han);
    f.thermometer("c_resid", residue as f64, &["1", "3", "6", "10"]);
    f.thermometer("lcs_abs", lcs as f64, &["2", "3", "4", "5", "6", "8", "10"]);
    f.thermometer("lcs_c", lcs_over_c, &["0.3", "0.5", "0.7", "0.9"]);
    f.thermometer("lcs_q", lcs_over_q, &["0.3", "0.5", "0.7", "0.9"]);
    f.thermometer("nmlcs", name_lcs, &["0.4", "0.6", "0.8", "1.0"]);
    f.thermometer(
        "bjac",
        bigram_jaccard,
        &["0.1", "0.2", "0.35", "0.5", "0.7"],
    );

    let qnm = only_han(&chars(&core_name(&qs_text)));
    let ch = only_han(&chars(&cn));
    f.flag("qname_in_c", qnm.len() >= 2 && contains(&ch, &qnm));
    f.thermometer(
        "qnmlcs",
        longest_common_substring(&qnm, &ch) as f64 / qnm.len().max(1) as f64,
        &["0.3", "0.5", "0.7", "0.9"],
    );
    f.flag(
        "qnm_first2_in_c",
        qnm.len() >= 2 && contains(&ch, &qnm[..2]),
    );
    let lcs_without_roads = longest_common_substring(
        &only_han(&without_roads(&qs)),
        &only_han(&without_roads(&cs)),
    );
    f.thermometer(
        "lcs_noroad",
        lcs_without_roads as f64,
        &["2", "3", "4", "6"],
    );
    f.flag("road_same_x_hao_conf", road_same && hao_conf);
    f.flag("road_same_x_hao_same", road_same && hao_same);
    f
}

/// Agreement of the parser's components, label group by label group: same (some
/// key shared), conflicting (both have the group, no key shared), only in a, only
/// in b.
pub(super) fn parser_features(f: &mut Features, a: &[Component], b: &[Component]) {
    let groups: [(&str, &[Label]); 9] = [
        ("district", &[Label::District]),
        ("town", &[Label::Town]),
        ("community", &[Label::Community, Label::VillageGroup]),
        ("road", &[Label::Road, Label::Subroad]),
        ("roadno", &[Label::Roadno, Label::Subroadno]),
        ("poi", &[Label::Poi, Label::Subpoi, Label::Devzone]),
        ("houseno", &[Label::Houseno]),
        ("cellno", &[Label::Cellno]),
        ("floorroom", &[Label::Floorno, Label::Roomno]),
    ];
    for (name, labels) in groups {
        let keys = |components: &[Component]| -> HashSet<String> {
            components
                .iter()
                .filter(|c| labels.contains(&c.label))
                .map(component_key)
                .filter(|k| !k.is_empty())
                .collect()
        };
        let (ka, kb) = (keys(a), keys(b));
        let shared = ka.intersection(&kb).next().is_some();
        f.flag(format!("p_{name}_same"), shared);
        f.flag(
            format!("p_{name}_conf"),
            !ka.is_empty() && !kb.is_empty() && !shared,
        );
        f.flag(format!("p_{name}_a_only"), !ka.is_empty() && kb.is_empty());
        f.flag(format!("p_{name}_b_only"), !kb.is_empty() && ka.is_empty());
        // Names written slightly differently (阳光花园 / 阳光花苑): the best share of
        // the shorter name in a common substring.
        if matches!(name, "community" | "road" | "poi") {
            let similarity = ka
                .iter()
                .flat_map(|x| kb.iter().map(move |y| (chars(x), chars(y))))
                .map(|(x, y)| {
                    longest_common_substring(&x, &y) as f64 / x.len().min(y.len()).max(1) as f64
                })
                .fold(0.0, f64::max);
            f.thermometer(&format!("p_{name}_sim"), similarity, &["0.5", "0.8"]);
        }
    }
    let flag = |f: &Features, name: &str| f.get(name) > 0.0;
    let poi_close = flag(f, "p_poi_same") || flag(f, "p_poi_sim>=0.8");
    f.flag(
        "p_poi_close_x_houseno_conf",
        poi_close && flag(f, "p_houseno_conf"),
    );
    f.flag(
        "p_poi_close_x_houseno_same",
        poi_close && flag(f, "p_houseno_same"),
    );
    f.flag(
        "p_poi_close_x_houseno_a_only",
        poi_close && flag(f, "p_houseno_a_only"),
    );
    f.flag(
        "p_poi_close_x_houseno_b_only",
        poi_close && flag(f, "p_houseno_b_only"),
    );
    let road_close = flag(f, "p_road_same") || flag(f, "p_road_sim>=0.8");
    f.flag(
        "p_road_close_x_roadno_conf",
        road_close && flag(f, "p_roadno_conf"),
    );
    f.flag(
        "p_road_close_x_roadno_same",
        road_close && flag(f, "p_roadno_same"),
    );
}
