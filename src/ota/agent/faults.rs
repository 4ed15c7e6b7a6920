//! The agent's side of fault reports (S2), without IO: the download list it reads,
//! the code each kind of failure gets, the report it sends, the fixes it reads back,
//! where a retry goes, and the configuration a fix writes. `fetch` does the talking.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::faults::Fix;

/// The most faults in one report (the server's default `max_faults`): a longer batch
/// goes as several reports.
pub const MAX_FAULTS: usize = 32;

/// One file to download: where from, what it must be, and its name in the output
/// directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wanted {
    pub url: String,
    pub sha256: String,
    pub size: u64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct ListError {
    pub line: usize,
    pub msg: String,
}

/// Reads a download list: one file a line, `URL SHA256 SIZE [NAME]` (the name is the
/// URL's last segment when not given); blank lines and `#` comments are skipped.
pub fn parse_list(text: &str) -> Result<Vec<Wanted>, ListError> {
    let mut out: Vec<Wanted> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |msg: &str| ListError {
            line: i + 1,
            msg: msg.into(),
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let [url, sha256, size, rest @ ..] = words.as_slice() else {
            return Err(err("URL SHA256 SIZE [NAME]"));
        };
        if !url.starts_with("http://") {
            return Err(err("the URL must be http://"));
        }
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err("SHA256: 64 hex digits"));
        }
        let size: u64 = size.parse().map_err(|_| err("SIZE: octets"))?;
        let name = match rest {
            [] => last_segment(url),
            [name] => name,
            _ => return Err(err("URL SHA256 SIZE [NAME]")),
        };
        if !safe_name(name) {
            return Err(err("NAME: a file name (letters, digits, `-`, `_`, `.`)"));
        }
        if out.iter().any(|w| w.name == name) {
            return Err(err("NAME: listed twice"));
        }
        out.push(Wanted {
            url: (*url).into(),
            sha256: sha256.to_ascii_lowercase(),
            size,
            name: name.into(),
        });
    }
    Ok(out)
}

fn last_segment(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

/// A name that stays inside the output directory.
fn safe_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// What went wrong with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// No connection to the server.
    CannotConnect,
    /// The server has no such file (404, 410, another 4xx).
    NotFound,
    /// The server refused the agent (401, 403).
    Refused,
    /// Cut off, timed out, or a 5xx.
    Incomplete,
    /// The wrong length or hash: garbled on the way or at the source.
    Corrupted,
    /// The file could not be kept here (disk full, a name in the way).
    Local,
}

/// Which codes the agent reports: TR-069's transfer fault codes, or S2's two-digit
/// ones for a terminal that knows only those.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codes {
    #[default]
    Tr069,
    Simple,
}

impl Trouble {
    pub fn from_status(status: u16) -> Trouble {
        match status {
            401 | 403 => Trouble::Refused,
            400..=499 => Trouble::NotFound,
            _ => Trouble::Incomplete,
        }
    }

    pub fn code(self, codes: Codes) -> &'static str {
        match (codes, self) {
            (Codes::Tr069, Trouble::CannotConnect) => "9015",
            (Codes::Tr069, Trouble::NotFound) => "9016",
            (Codes::Tr069, Trouble::Refused) => "9012",
            (Codes::Tr069, Trouble::Incomplete) => "9017",
            (Codes::Tr069, Trouble::Corrupted) => "9018",
            // TR-069's internal error: the device's own fault, not the transfer's.
            (Codes::Tr069, Trouble::Local) => "9002",
            (Codes::Simple, Trouble::CannotConnect) => "01",
            (Codes::Simple, Trouble::Corrupted) => "03",
            (Codes::Simple, _) => "02",
        }
    }
}

/// A fault as the agent keeps it until the server has it: what goes in the report,
/// and the file it was about (to retry it when the fix says so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub code: String,
    pub from: String,
    /// Unix seconds.
    pub at: i64,
    pub detail: String,
    pub file: Wanted,
}

/// A report the agent sends (and sends again with the same id until a 2xx).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub id: String,
    pub faults: Vec<Recorded>,
}

/// Who the terminal is, for an anonymous report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub imsi: Option<String>,
    pub imei: Option<String>,
    pub phone: Option<String>,
    pub model: Option<String>,
    pub version: Option<String>,
}

/// Cuts the faults into reports of at most [`MAX_FAULTS`], each with the id `new_id`
/// gives (chosen now and kept, so that sending again is the same report).
pub fn batches(faults: Vec<Recorded>, mut new_id: impl FnMut() -> String) -> Vec<Batch> {
    faults
        .chunks(MAX_FAULTS)
        .map(|c| Batch {
            id: new_id(),
            faults: c.to_vec(),
        })
        .collect()
}

/// The report's JSON (docs/faults.md): each fault names the file, where it came from,
/// and the file skipped because of it.
pub fn report_json(batch: &Batch, who: &Identity) -> Value {
    let faults: Vec<Value> = batch
        .faults
        .iter()
        .map(|f| {
            json!({
                "code": f.code, "item": f.file.name, "from": f.from, "at": f.at,
                "detail": f.detail, "skipped": [f.file.name],
            })
        })
        .collect();
    let mut v = json!({ "id": batch.id, "faults": faults });
    for (k, value) in [
        ("imsi", &who.imsi),
        ("imei", &who.imei),
        ("model", &who.model),
        ("version", &who.version),
    ] {
        if let Some(x) = value {
            v[k] = json!(x);
        }
    }
    if let Some(phone) = &who.phone {
        v["identity"] = json!({ "phone": phone });
    }
    v
}

/// A fix the server gave for one fault of one of the agent's reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    pub report: String,
    pub seq: usize,
    pub fix: Fix,
}

/// The fixes in the server's answer to a report (`faults`) or to a fixes request
/// (`fixes`); faults still queued have none.
pub fn given_fixes(answer: &Value, report: Option<&str>) -> Vec<Given> {
    let list = answer["faults"]
        .as_array()
        .or_else(|| answer["fixes"].as_array());
    list.into_iter()
        .flatten()
        .filter_map(|f| {
            let fix: Fix = serde_json::from_value(f.get("fix")?.clone()).ok()?;
            Some(Given {
                report: f["report"].as_str().or(report)?.to_string(),
                seq: usize::try_from(f["seq"].as_u64()?).ok()?,
                fix,
            })
        })
        .collect()
}

/// Where a retry fix sends the agent for `file`: the same source (no URL), a node
/// (a URL ending in `/`: the file's name is added), or the URL itself.
pub fn retry_url(fix_url: Option<&str>, file: &Wanted) -> String {
    match fix_url {
        None => file.url.clone(),
        Some(u) if u.ends_with('/') => format!("{u}{}", file.name),
        Some(u) => u.to_string(),
    }
}

/// The configuration file after a config fix: `key = "value"` lines (TOML), the fix's
/// values over the ones already there.
pub fn merge_config(
    existing: &str,
    values: &BTreeMap<String, String>,
) -> Result<String, toml::de::Error> {
    let mut all: BTreeMap<String, String> = if existing.trim().is_empty() {
        BTreeMap::new()
    } else {
        toml::from_str(existing)?
    };
    all.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(toml::to_string(&all).expect("strings serialize"))
}

/// What the agent does with the faults of a run: send them now (with any kept), keep
/// them for the next report, or not report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportMode {
    #[default]
    Always,
    Later,
    Never,
}

/// The fault of an OTA artifact that could not be downloaded: the file is known by its
/// SHA-256, its name in the agent's partial downloads, so that a retry fix puts it
/// where the next download of the artifact finds it.
pub fn artifact_fault(
    code: i64,
    detail: &str,
    href: &str,
    sha256: &str,
    size: u64,
    at: i64,
) -> Recorded {
    Recorded {
        code: code.to_string(),
        from: href.into(),
        at,
        detail: detail.into(),
        file: Wanted {
            url: href.into(),
            sha256: sha256.into(),
            size,
            name: sha256.into(),
        },
    }
}

/// What the user answered to "send the report?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Send,
    Keep,
    Drop,
}

/// `y`/`yes`, `l`/`later`, `n`/`no` in any case; anything else asks again.
pub fn parse_answer(line: &str) -> Option<Answer> {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Some(Answer::Send),
        "l" | "later" => Some(Answer::Keep),
        "n" | "no" => Some(Answer::Drop),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn file(name: &str) -> Wanted {
        Wanted {
            url: format!("http://cdn1:8080/fw/{name}"),
            sha256: H.into(),
            size: 4,
            name: name.into(),
        }
    }

    fn recorded(name: &str) -> Recorded {
        Recorded {
            code: "9018".into(),
            from: file(name).url,
            at: 1_700_000_000,
            detail: "sha256 mismatch".into(),
            file: file(name),
        }
    }

    #[test]
    fn the_list_names_each_file_once_and_safely() {
        let text = format!(
            "# firmware\n\nhttp://cdn1:8080/fw/a.bin {H} 4\nhttp://cdn1:8080/x?v=1 {} 10 b.bin\n",
            H.to_uppercase()
        );
        let list = parse_list(&text).unwrap();
        assert_eq!(list[0], file("a.bin"));
        assert_eq!((list[1].name.as_str(), list[1].size), ("b.bin", 10));
        assert_eq!(list[1].sha256, H, "hex kept in lower case");
        for (bad, line) in [
            (format!("ftp://x/a {H} 4"), 1),
            (format!("http://x/a {} 4", &H[1..]), 1),
            (format!("http://x/a {H} four"), 1),
            (format!("http://x/a {H}"), 1),
            (format!("http://x/.. {H} 4"), 1),
            (format!("http://x/a {H} 4 ../b"), 1),
            (format!("http://x/a {H} 4\nhttp://y/a {H} 4"), 2),
        ] {
            assert_eq!(parse_list(&bad).unwrap_err().line, line, "{bad}");
        }
    }

    #[test]
    fn each_trouble_has_its_code_in_both_sets() {
        assert_eq!(Trouble::from_status(404).code(Codes::Tr069), "9016");
        assert_eq!(Trouble::from_status(410).code(Codes::Simple), "02");
        assert_eq!(Trouble::from_status(403).code(Codes::Tr069), "9012");
        assert_eq!(Trouble::from_status(503).code(Codes::Tr069), "9017");
        assert_eq!(Trouble::Corrupted.code(Codes::Tr069), "9018");
        assert_eq!(Trouble::Corrupted.code(Codes::Simple), "03");
        assert_eq!(Trouble::CannotConnect.code(Codes::Simple), "01");
        assert_eq!(Trouble::Local.code(Codes::Tr069), "9002");
        for t in [Trouble::NotFound, Trouble::Incomplete, Trouble::Local] {
            assert!(crate::faults::valid_code(t.code(Codes::Tr069)));
        }
    }

    #[test]
    fn a_long_batch_goes_as_several_reports_with_ids_chosen_once() {
        let faults: Vec<Recorded> = (0..MAX_FAULTS + 1)
            .map(|i| recorded(&format!("f{i}")))
            .collect();
        let mut n = 0;
        let b = batches(faults, || {
            n += 1;
            format!("r{n}")
        });
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].faults.len(), b[1].faults.len()), (MAX_FAULTS, 1));
        assert_eq!((b[0].id.as_str(), b[1].id.as_str()), ("r1", "r2"));
    }

    #[test]
    fn the_report_is_what_the_server_reads() {
        let who = Identity {
            imsi: Some("262010000000001".into()),
            phone: Some("+4915".into()),
            ..Identity::default()
        };
        let batch = Batch {
            id: "r1".into(),
            faults: vec![recorded("a.bin")],
        };
        let v = report_json(&batch, &who);
        let body: crate::faults::ReportBody = serde_json::from_value(v.clone()).unwrap();
        let checked = crate::faults::check(&body, &crate::faults::Origin::Http, 32, 0).unwrap();
        assert_eq!(checked.identity, ("phone", "+4915".into()));
        assert_eq!(checked.faults[0].skipped.as_deref(), Some("a.bin"));
        assert!(v.get("imei").is_none());
    }

    #[test]
    fn fixes_are_read_from_either_answer_and_retries_go_where_they_say() {
        let answer = json!({"report": "r1", "faults": [
            {"seq": 0, "code": "9018", "state": "fixed", "fix": {"kind": "retry", "url": "http://cdn2/"}},
            {"seq": 1, "code": "9002", "state": "queued"}]});
        let given = given_fixes(&answer, Some("r1"));
        assert_eq!(given.len(), 1);
        assert_eq!((given[0].report.as_str(), given[0].seq), ("r1", 0));
        let later = json!({"fixes": [{"seq": 1, "report": "r0", "code": "9002",
            "fix": {"kind": "config", "values": {"apn": "web"}}}]});
        assert_eq!(given_fixes(&later, None)[0].report, "r0");
        let f = file("a.bin");
        assert_eq!(retry_url(Some("http://cdn2/"), &f), "http://cdn2/a.bin");
        assert_eq!(retry_url(Some("http://cdn2/x"), &f), "http://cdn2/x");
        assert_eq!(retry_url(None, &f), f.url);
    }

    #[test]
    fn a_config_fix_overrides_and_keeps() {
        let first = merge_config("", &[("apn".into(), "web".into())].into()).unwrap();
        let second = merge_config(
            &first,
            &[
                ("apn".into(), "internet".into()),
                ("dns".into(), "1.1.1.1".into()),
            ]
            .into(),
        )
        .unwrap();
        let read: BTreeMap<String, String> = toml::from_str(&second).unwrap();
        assert_eq!(read["apn"], "internet");
        assert_eq!(read["dns"], "1.1.1.1");
        assert!(merge_config("not toml [", &BTreeMap::new()).is_err());
    }

    #[test]
    fn answers_in_any_case() {
        assert_eq!(parse_answer(" Y\n"), Some(Answer::Send));
        assert_eq!(parse_answer("later"), Some(Answer::Keep));
        assert_eq!(parse_answer("no"), Some(Answer::Drop));
        assert_eq!(parse_answer("maybe"), None);
    }
}
