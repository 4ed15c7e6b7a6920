//! The console's pages, one module each (handler and typed template), two of them
//! with an action: a garden session's disconnect and a fault code's resolve.

mod audit;
mod faults;
mod garden;
mod ota;
mod overview;
mod redial;

use axum::Router;

use super::LoggedIn;
use super::series::Sample;
use crate::admin::AdminState;
use crate::config::Tristate;
use crate::garden::now_ms;

/// The routes behind the login.
pub fn pages() -> Router<AdminState> {
    Router::new()
        .merge(overview::routes())
        .merge(garden::routes())
        .merge(redial::routes())
        .merge(ota::routes())
        .merge(faults::routes())
        .merge(audit::routes())
        .merge(super::logout_route())
}

/// What every page's frame (console/base.html) shows.
struct Chrome {
    operator: String,
    admin: bool,
    csrf: String,
    active: &'static str,
}

impl Chrome {
    fn new(who: &LoggedIn, active: &'static str) -> Chrome {
        Chrome {
            operator: who.name.clone(),
            admin: who.role == super::auth::Role::Admin,
            csrf: who.csrf.clone(),
            active,
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` UTC of a Unix time in ms.
fn when(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn tristate(t: Tristate) -> &'static str {
    match t {
        Tristate::Auto => "auto",
        Tristate::Yes => "required",
        Tristate::No => "not required",
    }
}

/// The kept samples and one taken now, so the page is current between samples.
fn samples_now(s: &AdminState) -> Vec<Sample> {
    let mut samples = s.series.samples();
    if let Some(h) = &s.metrics {
        samples.push(Sample::parse(now_ms(), &h.render()));
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(when(0), "1970-01-01 00:00:00");
        assert_eq!(when(1_709_210_096_000), "2024-02-29 12:34:56");
    }
}
