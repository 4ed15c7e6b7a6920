//! The store on a real PostgreSQL, and two radcare nodes sharing it: what one node's
//! garden writer commits, the other node's portal finds.

mod support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use radcare::engine::{AuthMethod, Event, GardenAccountingEvent, GardenEntered};
use radcare::garden::Garden;
use radcare::store::Store;
use support::postgres::Postgres;

/// A private PostgreSQL and a runtime to talk to it; `None` (outside CI) without one.
fn postgres() -> Option<(Postgres, tokio::runtime::Runtime)> {
    postgres_with(false)
}

/// The same, serving TLS only.
fn postgres_tls() -> Option<(Postgres, tokio::runtime::Runtime)> {
    postgres_with(true)
}

fn postgres_with(tls: bool) -> Option<(Postgres, tokio::runtime::Runtime)> {
    let peers: &[&str] = if tls {
        &["initdb", "postgres", "pg_ctl", "openssl"]
    } else {
        &["initdb", "postgres", "pg_ctl"]
    };
    if !support::require_peers(peers) {
        return None;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pg = if tls {
        Postgres::start_tls()
    } else {
        Postgres::start()
    };
    Some((pg, rt))
}

fn row(id: u64) -> radcare::store::GardenEntry {
    radcare::store::GardenEntry {
        id,
        user: format!("user-{id}").into_bytes(),
        calling_station_id: None,
        client: "bras-1".into(),
        nas_addr: "127.0.0.1".into(),
        nas_identifier: Some("bras".into()),
        nas_port_id: None,
        cause: "arrears".into(),
        reason: "欠费停机".into(),
        method: "pap".into(),
        entered_at_ms: 1000,
        framed_ip: None,
        acct_session_id: None,
        acct_status: None,
        updated_at_ms: 1000,
    }
}

#[test]
fn two_nodes_share_the_garden_through_postgres() {
    let Some((pg, rt)) = postgres() else {
        return;
    };
    rt.block_on(async {
        let node_a = Garden::new(Some(Store::open(&pg.url).await.expect("connect, migrate")));
        // Opening again runs no migration twice.
        let node_b = Garden::new(Some(Store::open(&pg.url).await.unwrap()));
        let tx = radcare::events::EventBus::new(8);
        let writer = tokio::spawn(node_a.clone().run_writer(tx.subscribe("garden")));
        tx.publish(Event::GardenEntered(GardenEntered {
            garden_id: 0xabcdef,
            subscriber: 0,
            user: "carol".into(),
            calling_station_id: Some("02-00-00-00-00-01".into()),
            client: "bras-1".into(),
            nas_addr: "127.0.0.1".parse().unwrap(),
            nas_identifier: None,
            nas_port_id: Some("eth 0/1/0:100".into()),
            cause: "arrears".into(),
            reason: "欠费停机".into(),
            method: AuthMethod::Pap,
        }));
        tx.publish(Event::GardenAccounting(GardenAccountingEvent {
            garden_id: 0xabcdef,
            status: Some(1),
            user: "carol".into(),
            framed_ip: Some("10.9.8.7".parse().unwrap()),
            acct_session_id: Some("pg-1".into()),
            nas_addr: "127.0.0.1".parse().unwrap(),
        }));
        drop(tx);
        writer.await.unwrap();
        let ip: IpAddr = "10.9.8.7".parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let entry = loop {
            if let Some(e) = node_b.by_ip(ip).await {
                break e;
            }
            assert!(Instant::now() < deadline, "node B never saw node A's entry");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(entry.user, b"carol");
        assert_eq!(entry.cause, "arrears");
        assert_eq!(entry.reason, "欠费停机");
        assert_eq!(entry.acct_session_id.as_deref(), Some("pg-1"));
    });
}

/// A burst larger than one INSERT statement, with an id twice, on PostgreSQL (which
/// refuses to update one row twice in a statement).
#[test]
fn a_burst_of_garden_entries_commits_on_postgres() {
    let Some((pg, rt)) = postgres() else {
        return;
    };
    rt.block_on(async {
        let store = Store::open(&pg.url).await.unwrap();
        let mut rows: Vec<_> = (1..=200).map(row).collect();
        let mut online = row(5);
        online.framed_ip = Some("10.0.0.5".parse().unwrap());
        online.acct_status = Some(1);
        online.updated_at_ms = 2000;
        rows.push(online.clone());
        store.upsert_gardens(&rows).await.expect("one transaction");
        assert_eq!(store.garden_since(0).await.unwrap().len(), 200);
        assert_eq!(store.garden_by_id(5).await.unwrap(), Some(online));
        assert_eq!(store.garden_by_id(200).await.unwrap(), Some(row(200)));
    });
}

/// Several nodes starting at once against an empty database: the migration lock lets
/// one apply each step while the others wait, then find it applied.
#[test]
fn nodes_migrating_at_once_apply_each_step_once() {
    let Some((pg, rt)) = postgres() else {
        return;
    };
    rt.block_on(async {
        let mut opens = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let url = pg.url.clone();
            opens.spawn(async move { Store::open(&url).await });
        }
        while let Some(opened) = opens.join_next().await {
            opened.unwrap().expect("every node opens");
        }
    });
}

/// TLS as the URL asks: the server takes TLS connections only (`hostssl`), so a store
/// that opens at all talked TLS.
#[test]
fn postgres_over_tls_as_the_url_asks() {
    let Some((pg, rt)) = postgres_tls() else {
        return;
    };
    let cert = pg.cert.clone().unwrap();
    let base = format!("postgres://postgres@localhost:{}/postgres", pg.port);
    let other = tempfile::tempdir().unwrap();
    let (wrong_root, _) = support::postgres::self_signed_cert(other.path(), "other");
    rt.block_on(async {
        // `require` encrypts without checking the certificate.
        let store = Store::open(&format!("{base}?sslmode=require"))
            .await
            .expect("sslmode=require");
        store.upsert_garden(&row(1)).await.unwrap();
        assert_eq!(store.garden_by_id(1).await.unwrap(), Some(row(1)));
        let verified = format!("{base}?sslmode=verify-full&sslrootcert={}", cert.display());
        let store = Store::open(&verified).await.expect("sslmode=verify-full");
        assert_eq!(store.garden_by_id(1).await.unwrap(), Some(row(1)));
        let wrong = format!(
            "{base}?sslmode=verify-full&sslrootcert={}",
            wrong_root.display()
        );
        let e = Store::open(&wrong)
            .await
            .expect_err("a certificate from another root");
        assert!(e.to_string().contains("certificate"), "{e}");
        let e = Store::open(&format!("{base}?sslmode=disable"))
            .await
            .expect_err("no TLS, no hba line");
        assert!(e.to_string().contains("pg_hba.conf"), "{e}");
    });
}

/// PostgreSQL stopped under a running node: memory keeps up, portal lookups of unknown
/// addresses give up quickly, and what was accounted is written once it is back.
#[test]
fn a_stopped_postgres_stalls_nothing_and_loses_nothing() {
    let Some((mut pg, rt)) = postgres() else {
        return;
    };
    let store = rt.block_on(Store::open(&pg.url)).expect("connect, migrate");
    let node = Garden::new(Some(store.clone()));
    let tx = radcare::events::EventBus::new(8);
    let writer = rt.spawn(node.clone().run_writer(tx.subscribe("garden")));
    pg.stop();
    let ip: IpAddr = "10.9.8.9".parse().unwrap();
    rt.block_on(async {
        tx.publish(Event::GardenEntered(GardenEntered {
            garden_id: 0x77,
            subscriber: 0,
            user: "dave".into(),
            calling_station_id: None,
            client: "bras-1".into(),
            nas_addr: "127.0.0.1".parse().unwrap(),
            nas_identifier: None,
            nas_port_id: None,
            cause: "arrears".into(),
            reason: "欠费停机".into(),
            method: AuthMethod::Pap,
        }));
        tx.publish(Event::GardenAccounting(GardenAccountingEvent {
            garden_id: 0x77,
            status: Some(1),
            user: "dave".into(),
            framed_ip: Some("10.9.8.9".parse().unwrap()),
            acct_session_id: Some("pg-2".into()),
            nas_addr: "127.0.0.1".parse().unwrap(),
        }));
        let at = Instant::now();
        while node.by_ip(ip).await.is_none() {
            assert!(
                at.elapsed() < Duration::from_secs(1),
                "memory waited for the store"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let at = Instant::now();
        assert!(node.by_ip("10.9.8.99".parse().unwrap()).await.is_none());
        assert!(
            at.elapsed() < Duration::from_secs(1),
            "lookup took {:?}",
            at.elapsed()
        );
        // Long enough for writes to have failed and been retried.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    });
    pg.start_again();
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(e)) = store.garden_by_id(0x77).await
                && e.framed_ip == Some("10.9.8.9".parse().unwrap())
            {
                assert_eq!(e.reason, "欠费停机");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the row never reached PostgreSQL"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(tx);
        writer.await.unwrap();
    });
}

/// Node A let the subscriber in; node B sees only the accounting (the NAS sends it to
/// another node): the shared row keeps why and through which client, and node B's
/// portal knows the subscriber too.
#[test]
fn accounting_on_another_node_keeps_the_cause() {
    let Some((pg, rt)) = postgres() else {
        return;
    };
    rt.block_on(async {
        let store = Store::open(&pg.url).await.expect("connect, migrate");
        let node_a = Garden::new(Some(store.clone()));
        let node_b = Garden::new(Some(Store::open(&pg.url).await.unwrap()));
        let (tx_a, tx_b) = (
            radcare::events::EventBus::new(8),
            radcare::events::EventBus::new(8),
        );
        let writer_a = tokio::spawn(node_a.clone().run_writer(tx_a.subscribe("garden")));
        let writer_b = tokio::spawn(node_b.clone().run_writer(tx_b.subscribe("garden")));
        tx_a.publish(Event::GardenEntered(GardenEntered {
            garden_id: 0x99,
            subscriber: 0,
            user: "erin".into(),
            calling_station_id: Some("02-00-00-00-00-09".into()),
            client: "bras-1".into(),
            nas_addr: "127.0.0.1".parse().unwrap(),
            nas_identifier: None,
            nas_port_id: None,
            cause: "arrears".into(),
            reason: "欠费停机".into(),
            method: AuthMethod::Pap,
        }));
        drop(tx_a);
        writer_a.await.unwrap();
        tx_b.publish(Event::GardenAccounting(GardenAccountingEvent {
            garden_id: 0x99,
            status: Some(1),
            user: "erin".into(),
            framed_ip: Some("10.9.8.10".parse().unwrap()),
            acct_session_id: Some("pg-3".into()),
            nas_addr: "127.0.0.1".parse().unwrap(),
        }));
        drop(tx_b);
        writer_b.await.unwrap();
        let row = store.garden_by_id(0x99).await.unwrap().expect("the row");
        assert_eq!(row.framed_ip, Some("10.9.8.10".parse().unwrap()));
        assert_eq!(row.acct_session_id.as_deref(), Some("pg-3"));
        assert_eq!(
            (row.cause.as_str(), row.reason.as_str(), row.client.as_str()),
            ("arrears", "欠费停机", "bras-1")
        );
        let seen_by_b = node_b.by_id(0x99).expect("in node B's memory");
        assert_eq!(seen_by_b.cause, "arrears");
    });
}

/// Fault reports on PostgreSQL: filing (once), the queue, resolving, delivering by HTTP
/// and by SMS, the success rate.
#[test]
fn fault_reports_on_postgres() {
    use radcare::store::faults::{Judge, NewEntry, NewFault, NewReport};
    let Some((pg, rt)) = postgres() else {
        return;
    };
    rt.block_on(async {
        let store = Store::open(&pg.url).await.unwrap();
        let judge = Judge {
            threshold: 0.6,
            min_given: 1,
        };
        let report = |id: &str, channel: &'static str, code: &str| NewReport {
            report_id: id.into(),
            channel,
            identity: ("phone", "+4915".into()),
            reply_to: (channel == "sms").then(|| "+4915".into()),
            imsi: Some("262011".into()),
            imei: None,
            model: None,
            version: None,
            received_at_ms: 10,
            faults: vec![NewFault {
                code: code.into(),
                item: None,
                source: Some("http://cdn1:80/x".into()),
                at_ms: None,
                detail: None,
                skipped: None,
            }],
        };
        let a = store
            .faults_file(&report("r1", "http", "7001"), judge, 7)
            .await
            .unwrap();
        assert_eq!((a.account, a.faults[0].state.as_str()), (7, "queued"));
        let again = store
            .faults_file(&report("r1", "http", "7001"), judge, 8)
            .await
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(store.faults_queue().await.unwrap().len(), 1);
        let entry = NewEntry {
            id: 99,
            code: "7001",
            model: None,
            version: None,
            node: Some("cdn1"),
            fix: r#"{"kind":"retry","url":null}"#,
        };
        assert_eq!(store.faults_resolve(&entry, 11).await.unwrap().len(), 1);
        assert_eq!(
            store
                .faults_take_fixes("imsi", "262011", 12)
                .await
                .unwrap()
                .len(),
            1
        );
        let s = store
            .faults_file(&report("s1", "sms", "9018"), judge, 9)
            .await
            .unwrap();
        assert_eq!(s.faults[0].delivered_at_ms, None);
        let due = store.faults_sms_due(20, 3, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        store
            .faults_fix_sent(&due[0].0, 21, Some(50))
            .await
            .unwrap();
        assert!(store.faults_sms_due(30, 3, 10).await.unwrap().is_empty());
        store.faults_fix_sent(&due[0].0, 51, None).await.unwrap();
        assert!(store.faults_sms_due(100, 3, 10).await.unwrap().is_empty());
        // Back after its fix: 0 of 1 worked, suspended.
        let back = store
            .faults_file(&report("r2", "http", "7001"), judge, 10)
            .await
            .unwrap();
        assert_eq!(back.suspended, vec![99]);
        let kb = store.faults_kb().await.unwrap();
        let e = kb.iter().find(|e| e.id == 99).unwrap();
        assert_eq!((e.given, e.failed, e.state.as_str()), (1, 1, "suspended"));
        let acct = store.faults_account(7).await.unwrap().unwrap();
        assert_eq!(acct.reports.len(), 3);
        assert_eq!(store.faults_account_device(7).await.unwrap(), None);
    });
}

#[test]
fn console_operators_sessions_audit_and_overviews_on_postgres() {
    use radcare::store::console::{AuditRecord, Operator, Session};
    let Some((pg, rt)) = postgres() else {
        return;
    };
    rt.block_on(async {
        let store = Store::open(&pg.url).await.unwrap();
        let op = Operator {
            name: "ann".into(),
            password_hash: "$argon2id$v=19$x".into(),
            role: "admin".into(),
            created_at_ms: 1,
        };
        assert!(store.console_add_operator(&op).await.unwrap());
        assert!(!store.console_add_operator(&op).await.unwrap(), "taken");
        assert_eq!(store.console_operators().await.unwrap(), vec![op]);
        let s = Session {
            operator: "ann".into(),
            role: "admin".into(),
            csrf: "t".into(),
            expires_at_ms: 100,
        };
        store.console_session_open("k", &s, 10).await.unwrap();
        assert_eq!(store.console_session("k", 99).await.unwrap(), Some(s));
        assert_eq!(store.console_session("k", 100).await.unwrap(), None);
        store
            .console_audit(&AuditRecord {
                at_ms: 5,
                operator: "ann".into(),
                action: "login".into(),
                target: "console".into(),
                outcome: "ok".into(),
            })
            .await
            .unwrap();
        assert_eq!(store.console_audit_list(10).await.unwrap().len(), 1);
        // The overviews' counting subqueries, on PostgreSQL's BIGINT counts.
        assert!(store.console_releases().await.unwrap().is_empty());
        use radcare::store::faults::{Judge, NewFault, NewReport};
        let judge = Judge {
            threshold: 0.6,
            min_given: 1,
        };
        let report = NewReport {
            report_id: "r1".into(),
            channel: "http",
            identity: ("phone", "+4915".into()),
            reply_to: None,
            imsi: Some("262011".into()),
            imei: None,
            model: None,
            version: None,
            received_at_ms: 10,
            faults: vec![NewFault {
                code: "7001".into(),
                item: None,
                source: None,
                at_ms: None,
                detail: None,
                skipped: None,
            }],
        };
        store.faults_file(&report, judge, 7).await.unwrap();
        let accounts = store.console_fault_accounts(10).await.unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!((accounts[0].reports, accounts[0].queued), (1, 1));
        assert!(
            accounts[0].identities.contains("imsi=262011"),
            "{accounts:?}"
        );
        assert!(store.console_remove_operator("ann").await.unwrap());
        assert_eq!(store.console_session("k", 50).await.unwrap(), None);
    });
}

/// Group commit on PostgreSQL: one transaction, each report in its savepoint (a
/// duplicate changes nothing, a failing one leaves the others filed).
#[test]
fn fault_reports_group_commit_on_postgres() {
    use radcare::store::faults::{Judge, NewFault, NewReport};
    let Some((pg, rt)) = postgres() else {
        return;
    };
    rt.block_on(async {
        let store = Store::open(&pg.url).await.unwrap();
        let judge = Judge {
            threshold: 0.5,
            min_given: 5,
        };
        let report = |id: &str, imsi: &str, code: &str| NewReport {
            report_id: id.into(),
            channel: "http",
            identity: ("imsi", imsi.into()),
            reply_to: None,
            imsi: Some(imsi.into()),
            imei: None,
            model: None,
            version: None,
            received_at_ms: 10,
            faults: vec![NewFault {
                code: code.into(),
                item: Some("f.bin".into()),
                source: Some("http://cdn1:80/f.bin".into()),
                at_ms: None,
                detail: None,
                skipped: None,
            }],
        };
        let first = report("g0", "262031", "9018");
        store.faults_file(&first, judge, 1).await.unwrap();
        let (a, b) = (
            report("g1", "262032", "9018"),
            report("g2", "262032", "7001"),
        );
        let clash = report("g3", "262033", "9016");
        let group = [(&first, 2), (&a, 3), (&clash, 1), (&b, 4)];
        let out = store.faults_file_group(&group, judge).await.unwrap();
        assert!(out[0].as_ref().unwrap().duplicate);
        assert!(out[2].is_err(), "account 1 exists");
        let (fa, fb) = (out[1].as_ref().unwrap(), out[3].as_ref().unwrap());
        assert_eq!((fa.account, fb.account), (3, 3));
        assert_eq!(
            store
                .faults_account(3)
                .await
                .unwrap()
                .unwrap()
                .reports
                .len(),
            2
        );
        assert!(store.faults_account(2).await.unwrap().is_none());
        assert_eq!(store.faults_queue().await.unwrap().len(), 1);
    });
}
