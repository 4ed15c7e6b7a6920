//! An existing hawkBit client, the `hawkbit` crate's DDI client (as field devices use
//! it), against a real `radcare serve`: it polls, uploads its attributes, fetches the
//! deployment, downloads and checks the artifact, installs it (into files in a
//! temporary directory) and reports success; radcare shows it.

mod support;

use hawkbit::ddi::{Client, ClientAuthorization, Execution, Finished, Mode};
use support::radcare::Radcare;

#[test]
fn the_hawkbit_crate_client_updates_through_radcare() {
    let rc = Radcare::start("127.0.0.0/8", &[], "");
    let out = rc.cli(&["device", "add", "rpi-7", "--model", "rpi4"]);
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("token="))
        .unwrap()
        .to_string();
    let image: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    let file = rc.dir.path().join("rootfs.img");
    std::fs::write(&file, &image).unwrap();
    rc.cli(&[
        "release",
        "publish",
        "--name",
        "rootfs",
        "--version",
        "3.0.0",
        "--model",
        "rpi4",
        file.to_str().unwrap(),
    ]);
    let out = rc.cli(&["deploy", "rootfs", "3.0.0", "--device", "rpi-7"]);
    let deployment = out
        .lines()
        .find_map(|l| l.strip_prefix("deployment="))
        .unwrap()
        .to_string();

    let install = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("http://{}", rc.terminal);
        let ddi = Client::new(
            &url,
            "DEFAULT",
            "rpi-7",
            ClientAuthorization::TargetToken(token.clone()),
            None,
            None,
            None,
        )
        .unwrap();
        let reply = ddi.poll().await.expect("poll");
        assert_eq!(
            reply.polling_sleep().unwrap(),
            std::time::Duration::from_secs(300)
        );
        let config = reply.config_data_request().expect("radcare asks who it is");
        config
            .upload(
                Execution::Closed,
                Finished::Success,
                Some(Mode::Merge),
                std::collections::HashMap::from([("hw", "rpi4"), ("rootfs", "2.9.0")]),
                vec![],
            )
            .await
            .expect("configData accepted");
        let update = reply.update().expect("a deployment is offered");
        let update = update.fetch().await.expect("deploymentBase");
        let chunks: Vec<_> = update.chunks().collect();
        assert_eq!((chunks[0].name(), chunks[0].version()), ("rootfs", "3.0.0"));
        update
            .send_feedback(Execution::Proceeding, Finished::None, vec!["downloading"])
            .await
            .expect("progress accepted");
        let files = update.download(install.path()).await.expect("download");
        assert_eq!(files.len(), 1);
        files[0].check_sha256().await.expect("sha256 as announced");
        assert_eq!(std::fs::read(files[0].file()).unwrap(), image);
        update
            .send_feedback(Execution::Closed, Finished::Success, vec!["installed"])
            .await
            .expect("success accepted");
        // The action is closed: nothing more is offered.
        let again = ddi.poll().await.unwrap();
        assert!(again.update().is_none());

        // A wrong token is refused.
        let intruder = Client::new(
            &url,
            "DEFAULT",
            "rpi-7",
            ClientAuthorization::TargetToken("0".repeat(48)),
            None,
            None,
            None,
        )
        .unwrap();
        assert!(intruder.poll().await.is_err());
    });
    let shown = rc.cli(&["deployment", "show", &deployment]);
    assert!(shown.contains("counts success=1"), "{shown}");
    assert!(shown.contains("device=rpi-7\tstate=success"), "{shown}");
}
