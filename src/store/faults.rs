//! Fault reports' rows (tables `fault_*`): accounts and their identities, reports and
//! their faults, the knowledge base. Filing a report is one transaction, committed when
//! the call returns: the account, the report, each fault's verdict and the entries'
//! counts land together or not at all.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// A report as received and checked, before it is filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    pub report_id: String,
    /// `device`, `http` or `sms`.
    pub channel: &'static str,
    /// The terminal's own identity, as (kind, value): device, phone, email or ip.
    pub identity: (&'static str, String),
    /// Where fixes go back by SMS.
    pub reply_to: Option<String>,
    pub imsi: Option<String>,
    pub imei: Option<String>,
    pub model: Option<String>,
    pub version: Option<String>,
    pub received_at_ms: i64,
    pub faults: Vec<NewFault>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFault {
    pub code: String,
    /// What was being downloaded, and from where.
    pub item: Option<String>,
    pub source: Option<String>,
    pub at_ms: Option<i64>,
    pub detail: Option<String>,
    /// The parts skipped, comma-separated.
    pub skipped: Option<String>,
}

/// When an entry counts as not working: under `threshold` (the share of its faults
/// that did not come back) once it was given at least `min_given` times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judge {
    pub threshold: f64,
    pub min_given: i64,
}

/// One fault as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub account: i64,
    pub report_id: String,
    pub seq: i64,
    pub code: String,
    pub item: Option<String>,
    pub source: Option<String>,
    pub detail: Option<String>,
    /// `fixed` or `queued`.
    pub state: String,
    pub kb: Option<i64>,
    /// The fix given, as JSON.
    pub fix: Option<String>,
    pub evidence: Option<String>,
    pub delivered_at_ms: Option<i64>,
}

/// A knowledge-base entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbEntry {
    pub id: i64,
    pub code: String,
    pub model: Option<String>,
    pub version: Option<String>,
    pub node: Option<String>,
    /// The fix, as JSON.
    pub fix: String,
    /// `default` or `operator`.
    pub origin: String,
    /// `active` or `suspended`.
    pub state: String,
    pub given: i64,
    pub failed: i64,
}

impl KbEntry {
    /// The share of its faults that did not come back; `None` before it was given.
    pub fn success_rate(&self) -> Option<f64> {
        (self.given > 0).then(|| (self.given - self.failed).max(0) as f64 / self.given as f64)
    }

    /// Whether the entry applies to a fault on `model`, `version`, from `source`: each
    /// narrowing it has must match.
    pub fn applies(
        &self,
        model: Option<&str>,
        version: Option<&str>,
        source: Option<&str>,
    ) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        let node_ok = self
            .node
            .as_deref()
            .is_none_or(|n| source.is_some_and(|s| host_of(s) == n || s == n));
        eq(&self.model, model) && eq(&self.version, version) && node_ok
    }

    /// More narrowings, more specific: the most specific entry that applies wins.
    fn specificity(&self) -> usize {
        [&self.model, &self.version, &self.node]
            .iter()
            .filter(|x| x.is_some())
            .count()
    }

    fn judged_failing(&self, judge: Judge) -> bool {
        self.given >= judge.min_given && self.success_rate().is_some_and(|r| r < judge.threshold)
    }
}

/// The host of a URL (`http://host:port/path` -> `host`), or the text itself.
pub fn host_of(source: &str) -> &str {
    let rest = source.split_once("://").map_or(source, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => h,
        _ => authority,
    }
}

/// The most specific active entry of `entries` that applies (newest among equals).
fn pick<'a>(
    entries: &'a [KbEntry],
    code: &str,
    model: Option<&str>,
    version: Option<&str>,
    source: Option<&str>,
) -> Option<&'a KbEntry> {
    entries
        .iter()
        .filter(|e| e.code == code && e.state == "active")
        .filter(|e| e.applies(model, version, source))
        .max_by_key(|e| (e.specificity(), e.id))
}

/// An operator's entry: a code, its narrowings, and the fix as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewEntry<'a> {
    pub id: i64,
    pub code: &'a str,
    pub model: Option<&'a str>,
    pub version: Option<&'a str>,
    pub node: Option<&'a str>,
    pub fix: &'a str,
}

/// What filing a report came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    pub account: i64,
    /// The report was filed before: nothing changed, `faults` are as filed then.
    pub duplicate: bool,
    pub faults: Vec<Fault>,
    /// Entries that fell under the threshold with this report.
    pub suspended: Vec<i64>,
}

/// An account's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub created_at_ms: i64,
    /// (kind, value, first seen).
    pub identities: Vec<(String, String, i64)>,
    /// (report id, channel, received at).
    pub reports: Vec<(String, String, i64)>,
    pub faults: Vec<Fault>,
}

macro_rules! fault_columns {
    () => {
        "account, report_id, seq, code, item, source, detail, state, kb, fix, evidence, \
         delivered_at"
    };
}

fn fault_row(r: &AnyRow) -> Result<Fault, StoreError> {
    Ok(Fault {
        account: r.try_get(0)?,
        report_id: r.try_get(1)?,
        seq: r.try_get(2)?,
        code: r.try_get(3)?,
        item: r.try_get(4)?,
        source: r.try_get(5)?,
        detail: r.try_get(6)?,
        state: r.try_get(7)?,
        kb: r.try_get(8)?,
        fix: r.try_get(9)?,
        evidence: r.try_get(10)?,
        delivered_at_ms: r.try_get(11)?,
    })
}

macro_rules! kb_columns {
    () => {
        "id, code, model, version, node, fix, origin, state, given, failed"
    };
}

fn kb_row(r: &AnyRow) -> Result<KbEntry, StoreError> {
    Ok(KbEntry {
        id: r.try_get(0)?,
        code: r.try_get(1)?,
        model: r.try_get(2)?,
        version: r.try_get(3)?,
        node: r.try_get(4)?,
        fix: r.try_get(5)?,
        origin: r.try_get(6)?,
        state: r.try_get(7)?,
        given: r.try_get(8)?,
        failed: r.try_get(9)?,
    })
}

type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

async fn report_faults(
    tx: &mut Tx<'_>,
    account: i64,
    report_id: &str,
) -> Result<Vec<Fault>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        fault_columns!(),
        " FROM fault_item WHERE account = $1 AND report_id = $2 ORDER BY seq"
    ))
    .bind(account)
    .bind(report_id)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(fault_row).collect()
}

/// The account of the first of `identities` known, or a new one; identities it does
/// not have yet are added to it (one another account holds stays with that one). The
/// first `decisive` identities find the account: the IMSI and IMEI when the report has
/// them, so that a phone number or address moving to another SIM moves no account.
async fn account_for(
    tx: &mut Tx<'_>,
    identities: &[(&str, &str)],
    decisive: usize,
    new_id: i64,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let mut found = None;
    for (kind, value) in &identities[..decisive] {
        let row = sqlx::query("SELECT account FROM fault_identity WHERE kind = $1 AND value = $2")
            .bind(*kind)
            .bind(*value)
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(r) = row {
            found = Some(r.try_get::<i64, _>(0)?);
            break;
        }
    }
    let account = match found {
        Some(a) => a,
        None => {
            sqlx::query("INSERT INTO fault_account (id, created_at) VALUES ($1, $2)")
                .bind(new_id)
                .bind(now_ms)
                .execute(&mut **tx)
                .await?;
            new_id
        }
    };
    for (kind, value) in identities {
        let added = sqlx::query(
            "INSERT INTO fault_identity (kind, value, account, first_seen) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (kind, value) DO NOTHING",
        )
        .bind(*kind)
        .bind(*value)
        .bind(account)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
        if added.rows_affected() == 1 && found.is_some() {
            tracing::info!(account, kind, value, "fault account: a new identity");
        }
    }
    Ok(account)
}

/// Files a report in `tx` (see [`Store::faults_file`]); the caller commits, or rolls
/// back a duplicate. The fixes given are counted into `given` (entry -> count), for
/// the caller to add with [`count_given`] just before the commit.
async fn file_in(
    tx: &mut Tx<'_>,
    r: &NewReport,
    judge: Judge,
    new_account: i64,
    given: &mut BTreeMap<i64, i64>,
) -> Result<Filed, StoreError> {
    let mut ids: Vec<(&str, &str)> = Vec::new();
    if let Some(v) = &r.imsi {
        ids.push(("imsi", v));
    }
    if let Some(v) = &r.imei {
        ids.push(("imei", v));
    }
    let decisive = ids.len().max(1);
    ids.push((r.identity.0, &r.identity.1));
    let account = account_for(tx, &ids, decisive, new_account, r.received_at_ms).await?;
    let inserted = sqlx::query(
        "INSERT INTO fault_report (account, report_id, channel, identity, reply_to, imsi, \
         imei, model, version, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (account, report_id) DO NOTHING",
    )
    .bind(account)
    .bind(&r.report_id)
    .bind(r.channel)
    .bind(format!("{}:{}", r.identity.0, r.identity.1))
    .bind(&r.reply_to)
    .bind(&r.imsi)
    .bind(&r.imei)
    .bind(&r.model)
    .bind(&r.version)
    .bind(r.received_at_ms)
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() == 0 {
        let faults = report_faults(tx, account, &r.report_id).await?;
        return Ok(Filed {
            account,
            duplicate: true,
            faults,
            suspended: Vec::new(),
        });
    }
    let mut suspended = Vec::new();
    let now = r.received_at_ms;
    for (seq, f) in r.faults.iter().enumerate() {
        // The same fault back after a fix: that fix did not work.
        let mut evidence = None;
        let before = sqlx::query(
            "SELECT report_id, seq, kb FROM fault_item WHERE account = $1 AND code = $2 \
             AND state = 'fixed' AND kb IS NOT NULL AND recurred = 0 AND report_id <> $3 \
             ORDER BY fixed_at DESC LIMIT 1",
        )
        .bind(account)
        .bind(&f.code)
        .bind(&r.report_id)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(b) = before {
            let (prev_report, prev_seq, kb): (String, i64, i64) =
                (b.try_get(0)?, b.try_get(1)?, b.try_get(2)?);
            sqlx::query(
                "UPDATE fault_item SET recurred = 1 \
                 WHERE account = $1 AND report_id = $2 AND seq = $3",
            )
            .bind(account)
            .bind(&prev_report)
            .bind(prev_seq)
            .execute(&mut **tx)
            .await?;
            sqlx::query("UPDATE fault_kb SET failed = failed + 1 WHERE id = $1")
                .bind(kb)
                .execute(&mut **tx)
                .await?;
            let entry = sqlx::query(concat!(
                "SELECT ",
                kb_columns!(),
                " FROM fault_kb WHERE id = $1"
            ))
            .bind(kb)
            .fetch_one(&mut **tx)
            .await?;
            let entry = kb_row(&entry)?;
            if entry.state == "active" && entry.judged_failing(judge) {
                sqlx::query("UPDATE fault_kb SET state = 'suspended' WHERE id = $1")
                    .bind(kb)
                    .execute(&mut **tx)
                    .await?;
                suspended.push(kb);
                evidence = Some(format!(
                    "entry {kb} suspended: worked {} of {} times; this fault came back \
                     after its fix (report {prev_report})",
                    entry.given - entry.failed,
                    entry.given
                ));
            }
        }
        let entries: Vec<KbEntry> = sqlx::query(concat!(
            "SELECT ",
            kb_columns!(),
            " FROM fault_kb WHERE code = $1 AND state = 'active'"
        ))
        .bind(&f.code)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(kb_row)
        .collect::<Result<_, _>>()?;
        let chosen = pick(
            &entries,
            &f.code,
            r.model.as_deref(),
            r.version.as_deref(),
            f.source.as_deref(),
        );
        let delivered = (chosen.is_some() && r.channel != "sms").then_some(now);
        if let Some(e) = chosen {
            *given.entry(e.id).or_default() += 1;
        }
        sqlx::query(
            "INSERT INTO fault_item (account, report_id, seq, code, item, source, at, detail, \
             skipped, state, kb, fix, evidence, fixed_at, delivered_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(account)
        .bind(&r.report_id)
        .bind(seq as i64)
        .bind(&f.code)
        .bind(&f.item)
        .bind(&f.source)
        .bind(f.at_ms)
        .bind(&f.detail)
        .bind(&f.skipped)
        .bind(if chosen.is_some() { "fixed" } else { "queued" })
        .bind(chosen.map(|e| e.id))
        .bind(chosen.map(|e| e.fix.clone()))
        .bind(&evidence)
        .bind(chosen.map(|_| now))
        .bind(delivered)
        .execute(&mut **tx)
        .await?;
    }
    let faults = report_faults(tx, account, &r.report_id).await?;
    Ok(Filed {
        account,
        duplicate: false,
        faults,
        suspended,
    })
}

/// Adds the fixes given to their entries' counts: last in the transaction, once per
/// entry and in the order of their ids, so that the hot rows (the common codes' entries)
/// are locked for the shortest time, and two transactions never wait for each other
/// in a circle. (A judgement made in the same transaction does not see these counts
/// yet: it is one report or batch behind.)
async fn count_given(tx: &mut Tx<'_>, given: &BTreeMap<i64, i64>) -> Result<(), StoreError> {
    for (id, n) in given {
        sqlx::query("UPDATE fault_kb SET given = given + $1 WHERE id = $2")
            .bind(*n)
            .bind(*id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Files a report under its account (made on its first report, `new_account` its
    /// id then): each fault gets the knowledge base's fix, or waits in the queue. A
    /// fault the account reported before, after a fix, counts against that fix once;
    /// an entry that falls under `judge` is suspended and its fault queued with the
    /// evidence. Fixes given here count as delivered unless they go back by SMS. A
    /// report filed before changes nothing and comes back as filed.
    pub async fn faults_file(
        &self,
        r: &NewReport,
        judge: Judge,
        new_account: i64,
    ) -> Result<Filed, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut given = BTreeMap::new();
        let filed = file_in(&mut tx, r, judge, new_account, &mut given).await?;
        if filed.duplicate {
            // Filed before: what was found out on the way is not kept either.
            tx.rollback().await?;
        } else {
            count_given(&mut tx, &given).await?;
            tx.commit().await?;
        }
        Ok(filed)
    }

    /// Files several reports in one transaction (group commit: one commit, one log
    /// flush, for all): each as [`Store::faults_file`] does, in its own savepoint, so
    /// that one that fails (or was filed before) leaves the others as they are. The
    /// outer error: nothing was filed.
    pub async fn faults_file_group(
        &self,
        reports: &[(&NewReport, i64)],
        judge: Judge,
    ) -> Result<Vec<Result<Filed, StoreError>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(reports.len());
        let mut given = BTreeMap::new();
        for (r, new_account) in reports {
            let mut one = sqlx::Acquire::begin(&mut tx).await?;
            let mut its = BTreeMap::new();
            match file_in(&mut one, r, judge, *new_account, &mut its).await {
                Ok(filed) if !filed.duplicate => {
                    one.commit().await?;
                    for (id, n) in its {
                        *given.entry(id).or_default() += n;
                    }
                    out.push(Ok(filed));
                }
                Ok(filed) => {
                    one.rollback().await?;
                    out.push(Ok(filed));
                }
                Err(e) => {
                    one.rollback().await?;
                    out.push(Err(e));
                }
            }
        }
        count_given(&mut tx, &given).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Adds an entry, then gives its fix to every queued fault it applies to; returns
    /// those faults.
    pub async fn faults_resolve(
        &self,
        entry: &NewEntry<'_>,
        now_ms: i64,
    ) -> Result<Vec<Fault>, StoreError> {
        let NewEntry {
            id,
            code,
            model,
            version,
            node,
            fix,
        } = *entry;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO fault_kb (id, code, model, version, node, fix, origin, state, given, \
             failed, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'operator', 'active', 0, 0, $7)",
        )
        .bind(id)
        .bind(code)
        .bind(model)
        .bind(version)
        .bind(node)
        .bind(fix)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let entry = KbEntry {
            id,
            code: code.into(),
            model: model.map(Into::into),
            version: version.map(Into::into),
            node: node.map(Into::into),
            fix: fix.into(),
            origin: "operator".into(),
            state: "active".into(),
            given: 0,
            failed: 0,
        };
        let queued = sqlx::query(
            "SELECT i.account, i.report_id, i.seq, i.source, r.model, r.version \
             FROM fault_item i JOIN fault_report r \
             ON r.account = i.account AND r.report_id = i.report_id \
             WHERE i.state = 'queued' AND i.code = $1",
        )
        .bind(code)
        .fetch_all(&mut *tx)
        .await?;
        let mut fixed = Vec::new();
        for q in &queued {
            let (account, report, seq): (i64, String, i64) =
                (q.try_get(0)?, q.try_get(1)?, q.try_get(2)?);
            let (source, m, v): (Option<String>, Option<String>, Option<String>) =
                (q.try_get(3)?, q.try_get(4)?, q.try_get(5)?);
            if !entry.applies(m.as_deref(), v.as_deref(), source.as_deref()) {
                continue;
            }
            sqlx::query(
                "UPDATE fault_item SET state = 'fixed', kb = $1, fix = $2, fixed_at = $3 \
                 WHERE account = $4 AND report_id = $5 AND seq = $6",
            )
            .bind(id)
            .bind(fix)
            .bind(now_ms)
            .bind(account)
            .bind(&report)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
            fixed.push((account, report, seq));
        }
        sqlx::query("UPDATE fault_kb SET given = $1 WHERE id = $2")
            .bind(fixed.len() as i64)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let mut out = Vec::with_capacity(fixed.len());
        for (account, report, seq) in fixed {
            let faults = report_faults(&mut tx, account, &report).await?;
            out.extend(faults.into_iter().filter(|f| f.seq == seq));
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The fixes waiting for the account of an identity that asks over HTTP (not those
    /// going back by SMS), marked delivered.
    pub async fn faults_take_fixes(
        &self,
        kind: &str,
        value: &str,
        now_ms: i64,
    ) -> Result<Vec<Fault>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let account: Option<i64> =
            sqlx::query("SELECT account FROM fault_identity WHERE kind = $1 AND value = $2")
                .bind(kind)
                .bind(value)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
        let Some(account) = account else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(concat!(
            "SELECT ",
            fault_columns!(),
            " FROM fault_item i WHERE account = $1 AND state = 'fixed' \
             AND delivered_at IS NULL AND NOT EXISTS (SELECT 1 FROM fault_report r \
             WHERE r.account = i.account AND r.report_id = i.report_id AND r.channel = 'sms') \
             ORDER BY fixed_at, report_id, seq LIMIT 100"
        ))
        .bind(account)
        .fetch_all(&mut *tx)
        .await?;
        let faults: Vec<Fault> = rows.iter().map(fault_row).collect::<Result<_, _>>()?;
        for f in &faults {
            sqlx::query(
                "UPDATE fault_item SET delivered_at = $1 \
                 WHERE account = $2 AND report_id = $3 AND seq = $4",
            )
            .bind(now_ms)
            .bind(f.account)
            .bind(&f.report_id)
            .bind(f.seq)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(faults)
    }

    /// Fixes to send back by SMS, due by `now_ms`, with fewer than `max_attempts`
    /// tries: each with the number it goes to.
    pub async fn faults_sms_due(
        &self,
        now_ms: i64,
        max_attempts: u32,
        limit: i64,
    ) -> Result<Vec<(Fault, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.account, i.report_id, i.seq, i.code, i.item, i.source, i.detail, i.state, \
             i.kb, i.fix, i.evidence, i.delivered_at, r.reply_to, i.attempts \
             FROM fault_item i JOIN fault_report r \
             ON r.account = i.account AND r.report_id = i.report_id \
             WHERE r.channel = 'sms' AND r.reply_to IS NOT NULL AND i.state = 'fixed' \
             AND i.delivered_at IS NULL AND i.next_try <= $1 AND i.attempts < $2 \
             ORDER BY i.next_try LIMIT $3",
        )
        .bind(now_ms)
        .bind(i64::from(max_attempts))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((fault_row(r)?, r.try_get(12)?, r.try_get(13)?)))
            .collect()
    }

    /// A fix reached its terminal (`next_try_ms` `None`), or not: try again then.
    pub async fn faults_fix_sent(
        &self,
        f: &Fault,
        now_ms: i64,
        next_try_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE fault_item SET attempts = attempts + 1, \
             delivered_at = CASE WHEN $1 = 0 THEN $2 ELSE NULL END, next_try = $3 \
             WHERE account = $4 AND report_id = $5 AND seq = $6",
        )
        .bind(i64::from(next_try_ms.is_some()))
        .bind(now_ms)
        .bind(next_try_ms.unwrap_or(now_ms))
        .bind(f.account)
        .bind(&f.report_id)
        .bind(f.seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The knowledge base, by code.
    pub async fn faults_kb(&self) -> Result<Vec<KbEntry>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            kb_columns!(),
            " FROM fault_kb ORDER BY code, id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(kb_row)
        .collect()
    }

    /// The faults waiting for a person, oldest first.
    pub async fn faults_queue(&self) -> Result<Vec<Fault>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            fault_columns!(),
            " FROM fault_item WHERE state = 'queued' ORDER BY code, account, report_id, seq"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(fault_row)
        .collect()
    }

    /// The device of an account, if one reported as a device (deploy fixes need it).
    pub async fn faults_account_device(&self, account: i64) -> Result<Option<String>, StoreError> {
        sqlx::query("SELECT value FROM fault_identity WHERE account = $1 AND kind = 'device'")
            .bind(account)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(Into::into)
    }

    pub async fn faults_account(&self, id: i64) -> Result<Option<Account>, StoreError> {
        let Some(row) = sqlx::query("SELECT created_at FROM fault_account WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let identities = sqlx::query(
            "SELECT kind, value, first_seen FROM fault_identity WHERE account = $1 \
             ORDER BY first_seen, kind",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<_, StoreError>>()?;
        let reports = sqlx::query(
            "SELECT report_id, channel, received_at FROM fault_report WHERE account = $1 \
             ORDER BY received_at, report_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<_, StoreError>>()?;
        let faults = sqlx::query(concat!(
            "SELECT ",
            fault_columns!(),
            " FROM fault_item WHERE account = $1 ORDER BY report_id, seq"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(fault_row)
        .collect::<Result<_, _>>()?;
        Ok(Some(Account {
            id,
            created_at_ms: row.try_get(0)?,
            identities,
            reports,
            faults,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str, imsi: &str, imei: &str, code: &str) -> NewReport {
        NewReport {
            report_id: id.into(),
            channel: "http",
            identity: ("phone", "+49100".into()),
            reply_to: None,
            imsi: Some(imsi.into()),
            imei: Some(imei.into()),
            model: None,
            version: None,
            received_at_ms: 1,
            faults: vec![NewFault {
                code: code.into(),
                item: Some("fw.bin".into()),
                source: Some("http://cdn1.example:80/fw.bin".into()),
                at_ms: None,
                detail: None,
                skipped: None,
            }],
        }
    }

    const JUDGE: Judge = Judge {
        threshold: 0.6,
        min_given: 2,
    };

    /// A group: one transaction; each report as alone (a duplicate changes nothing, a
    /// failing one leaves the others filed).
    #[tokio::test]
    async fn a_group_files_each_report_as_alone() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let s = Store::open(&url).await.unwrap();
        let first = report("g0", "262021", "35000021", "9018");
        s.faults_file(&first, JUDGE, 1).await.unwrap();
        let (a, b) = (
            report("g1", "262022", "35000022", "9018"),
            report("g2", "262022", "35000023", "7001"),
        );
        // Account 1 exists: a new account with that id fails, alone.
        let clash = report("g3", "262023", "35000024", "9016");
        let group = [(&first, 2), (&a, 3), (&clash, 1), (&b, 4)];
        let out = s.faults_file_group(&group, JUDGE).await.unwrap();
        assert!(out[0].as_ref().unwrap().duplicate);
        let (fa, fb) = (out[1].as_ref().unwrap(), out[3].as_ref().unwrap());
        assert_eq!((fa.account, fb.account), (3, 3), "one IMSI, one account");
        assert_eq!(fb.faults[0].state, "queued");
        assert!(out[2].is_err());
        assert!(s.faults_account(2).await.unwrap().is_none());
        let acc = s.faults_account(3).await.unwrap().unwrap();
        assert_eq!((acc.reports.len(), acc.identities.len()), (2, 3), "{acc:?}");
        assert!(
            s.faults_account(1).await.unwrap().unwrap().reports.len() == 1,
            "the clash wrote nothing"
        );
        assert_eq!(s.faults_queue().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn accounts_fixes_queue_and_judgement() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let s = Store::open(&url).await.unwrap();

        let a = s
            .faults_file(&report("r1", "262011", "35000001", "9018"), JUDGE, 100)
            .await
            .unwrap();
        assert_eq!((a.account, a.faults[0].state.as_str()), (100, "fixed"));
        assert_eq!(a.faults[0].kb, Some(12));
        // A code twice in one report is not a fix failing.
        let mut twice = report("r0", "262011", "35000001", "9015");
        twice.faults.push(twice.faults[0].clone());
        let t = s.faults_file(&twice, JUDGE, 100).await.unwrap();
        assert!(t.faults.iter().all(|f| f.state == "fixed"));
        let kb = s.faults_kb().await.unwrap();
        let e = kb.iter().find(|e| e.code == "9015").unwrap();
        assert_eq!((e.given, e.failed), (2, 0));
        // Sent again: nothing changes.
        let again = s
            .faults_file(&report("r1", "262011", "35000001", "9018"), JUDGE, 101)
            .await
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.faults, a.faults);
        // Same IMSI, new IMEI: the same account, the IMEI recorded.
        let b = s
            .faults_file(&report("r2", "262011", "35000002", "7777"), JUDGE, 102)
            .await
            .unwrap();
        assert_eq!((b.account, b.faults[0].state.as_str()), (100, "queued"));
        let acct = s.faults_account(100).await.unwrap().unwrap();
        assert!(acct.identities.iter().any(|i| i.1 == "35000002"));
        assert_eq!(acct.reports.len(), 3);

        // Resolved: the queued fault gets the fix, for the HTTP terminal to fetch.
        let fixed = s
            .faults_resolve(
                &NewEntry {
                    id: 50,
                    code: "7777",
                    model: None,
                    version: None,
                    node: Some("cdn1.example"),
                    fix: "{}",
                },
                5,
            )
            .await
            .unwrap();
        assert_eq!(fixed.len(), 1);
        assert!(s.faults_queue().await.unwrap().is_empty());
        let taken = s.faults_take_fixes("imsi", "262011", 6).await.unwrap();
        assert_eq!(taken.len(), 1);
        assert!(
            s.faults_take_fixes("imsi", "262011", 7)
                .await
                .unwrap()
                .is_empty()
        );

        // Another terminal: its own account, fixed at once. Then the first one's
        // fault comes back: 1 of 2 worked, under 0.6: suspended, queued with evidence.
        let c = s
            .faults_file(&report("r1", "262099", "35000099", "7777"), JUDGE, 103)
            .await
            .unwrap();
        assert_eq!((c.account, c.faults[0].kb), (103, Some(50)));
        let d = s
            .faults_file(&report("r3", "262011", "35000001", "7777"), JUDGE, 104)
            .await
            .unwrap();
        assert_eq!(d.suspended, vec![50]);
        assert_eq!(d.faults[0].state, "queued");
        assert!(d.faults[0].evidence.as_deref().unwrap().contains("1 of 2"));
        let e = s.faults_kb().await.unwrap();
        let e = e.iter().find(|e| e.id == 50).unwrap();
        assert_eq!((e.given, e.failed, e.state.as_str()), (2, 1, "suspended"));
        assert_eq!(e.success_rate(), Some(0.5));
    }

    #[test]
    fn entries_narrow_by_model_version_and_node() {
        let e = |id, model: Option<&str>, node: Option<&str>| KbEntry {
            id,
            code: "02".into(),
            model: model.map(Into::into),
            version: None,
            node: node.map(Into::into),
            fix: "{}".into(),
            origin: "operator".into(),
            state: "active".into(),
            given: 0,
            failed: 0,
        };
        let all = [
            e(1, None, None),
            e(2, Some("hg8245"), None),
            e(3, None, Some("cdn2")),
        ];
        let pick_id = |m, s| pick(&all, "02", m, None, s).map(|e| e.id);
        assert_eq!(pick_id(None, None), Some(1));
        assert_eq!(pick_id(Some("hg8245"), None), Some(2));
        assert_eq!(pick_id(None, Some("http://cdn2:8080/x")), Some(3));
        assert_eq!(host_of("https://u@h.example:443/a"), "h.example");
    }
}
