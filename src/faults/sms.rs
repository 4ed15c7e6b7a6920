//! The compact SMS form of a report, for terminals that only have SMS:
//!
//! `FAULT <report-id> [IMSI=<digits>] [IMEI=<digits>] [MODEL=<m>] [VER=<v>] <code>[:<item>] ...`
//!
//! e.g. `FAULT r7 IMSI=262011234567890 9018:fw.bin 01:cfg.xml`. Keywords are read in
//! any case; the sender's number is the terminal's identity and where fixes go back.

use super::{FaultBody, FaultError, ReportBody};

pub fn parse(text: &str) -> Result<ReportBody, FaultError> {
    let bad = |why: &str| FaultError::BadReport(format!("SMS report: {why}"));
    let mut words = text.split_whitespace();
    if !words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("FAULT"))
    {
        return Err(bad("starts with FAULT"));
    }
    let id = words.next().ok_or_else(|| bad("FAULT <report-id> ..."))?;
    let mut body = ReportBody {
        id: id.into(),
        ..ReportBody::default()
    };
    for w in words {
        if let Some((key, value)) = w.split_once('=') {
            let slot = match key.to_ascii_uppercase().as_str() {
                "IMSI" => &mut body.imsi,
                "IMEI" => &mut body.imei,
                "MODEL" => &mut body.model,
                "VER" => &mut body.version,
                _ => return Err(bad(&format!("unknown field `{key}`"))),
            };
            *slot = Some(value.into());
        } else {
            let (code, item) = match w.split_once(':') {
                Some((c, i)) => (c, Some(i.to_string())),
                None => (w, None),
            };
            body.faults.push(FaultBody {
                code: code.into(),
                item,
                ..FaultBody::default()
            });
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compact_form() {
        let b = parse("fault r7 IMSI=262011234567890 imei=35000000000001 9018:fw.bin 01").unwrap();
        assert_eq!(b.id, "r7");
        assert_eq!(b.imsi.as_deref(), Some("262011234567890"));
        assert_eq!(b.imei.as_deref(), Some("35000000000001"));
        assert_eq!(b.faults.len(), 2);
        assert_eq!(
            (b.faults[0].code.as_str(), b.faults[0].item.as_deref()),
            ("9018", Some("fw.bin"))
        );
        assert!(parse("hello there").is_err());
        assert!(parse("FAULT").is_err());
        assert!(parse("FAULT r1 COLOUR=red 01").is_err());
    }
}
